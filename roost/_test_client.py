"""The test kit's WebSocket client: :class:`TestClient`, re-exported by :mod:`roost.testing`.

It speaks over :class:`~roost.protocol.WebSocketConnection`, the same sans-I/O core as
:mod:`roost.client`, so masking, pongs, the close handshake and the close codes of a broken
server are the real client's; on an envelope subprotocol its :meth:`TestClient.call` numbers
calls and maps error replies with the same :class:`~roost.protocol.CallEncoder`. What the kit
adds is test-shaped: one bounded queue of raw messages, no reconnection, no timeouts of its
own (put tests under ``trio.fail_after``).

Long because :class:`TestClient` mirrors the real client's surface (raw messages, calls,
events, presence helpers, the handshake over a socket pair with the credentials a test
gives) for the tests users write, and each method is short; the wire is in the shared core.
"""

from __future__ import annotations

import base64
import json
import os
import types
from collections.abc import AsyncIterator, Callable, Generator, Iterable
from contextlib import suppress
from typing import Any, Literal
from urllib.parse import quote

import h11
import trio

from roost._errors import ConnectionClosed, EnvelopeError, HandshakeError, RoostError

from .client import Event
from .protocol import (
    SUBPROTOCOLS,
    BinaryMessage,
    CallEncoder,
    CloseCode,
    CloseReceived,
    ConnectionFailed,
    ConnectionState,
    EnvelopeCodec,
    ErrorReply,
    Pong,
    Result,
    ServerEvent,
    TextMessage,
    WebSocketConnection,
    check_accept,
    client_request_headers,
    outcome,
)

#: The Host header the kit's clients send; nothing resolves it, nothing needs to.
HOST = "roost.test"
#: Close codes that end ``async for message in client`` quietly instead of raising.
_NORMAL_CLOSE = frozenset({CloseCode.NORMAL, CloseCode.GOING_AWAY, CloseCode.NO_STATUS})
# Printable ASCII except space goes into a request target as it is; the rest is percent-encoded.
_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
_RECEIVE_SIZE = 65536
_PRESENCE = ("presence_state", "presence_diff")


class TestClientRefused(RoostError):
    """The server answered a test client's WebSocket handshake with ``status`` instead of 101.

    Attributes:
        status: the HTTP status (403 for a plain ``ConnectionRefused``, 404 unknown type, ...).
        body: the response body; for a refusal, the reason given to ``ConnectionRefused``.
    """

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        super().__init__(f"WebSocket refused with HTTP {status}: {self.text.strip()!r}")

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")


class _Reply:
    """A call of :meth:`TestClient.call` waiting for its reply (None: the connection ended)."""

    __slots__ = ("done", "reply")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.reply: Result | ErrorReply | None = None


class TestClient:
    """A WebSocket client of a :class:`~roost.testing.TestServer`, over a socket pair.

    Get one with ``client = await t.connect(path)`` or ``async with t.connect(path) as
    client:`` (which closes it with 1000 on exit). A task in the test server's nursery reads
    the socket: it answers the server's pings and queues messages for :meth:`receive`, at
    most ``max_buffered`` of them; past that it stops reading, so the server sees a client
    that does not keep up, just as with a real one. Replies to :meth:`call` go to their call,
    not to the queue.

    Attributes:
        subprotocol: the subprotocol the server chose, or None.
        closed_code: None while open; then the code of the server's close frame (the echo of
            ours when we closed first), or 1006 when the connection ended without one.
        closed_reason: the reason that came with ``closed_code``.
    """

    __test__ = False

    def __init__(
        self,
        path: str,
        *,
        open_stream: Callable[[], trio.SocketStream],
        nursery: Callable[[], trio.Nursery],
        close_timeout: float,
        subprotocols: Iterable[str],
        max_message_size: int,
        max_buffered: int,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self._path = path
        self._open_stream = open_stream
        self._nursery = nursery
        self._close_timeout = close_timeout
        self._subprotocols = tuple(subprotocols)
        self._headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
        self._max_message_size = max_message_size
        self._send_messages, self._messages = trio.open_memory_channel[str | bytes](max_buffered)
        self._stream: trio.SocketStream | None = None
        self._ws = WebSocketConnection(client=True, max_message_size=max_message_size)
        self._calls: CallEncoder | None = None
        self._replies: dict[int, _Reply] = {}
        self._write_lock = trio.Lock()
        self._done = trio.Event()  # the reader finished: the socket is closed
        self._pings: dict[bytes, trio.Event] = {}
        self._ping_count = 0
        self.subprotocol: str | None = None
        self.closed_code: int | None = None
        self.closed_reason = ""

    # -- opening -----------------------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, TestClient]:
        return self._open().__await__()

    async def __aenter__(self) -> TestClient:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        await self.close()

    async def _open(self) -> TestClient:
        """Perform the opening handshake (once).

        Raises:
            TestClientRefused: the server answered with another status than 101.
            HandshakeError: the 101 response is not a valid WebSocket acceptance.
        """
        if self._stream is not None:
            return self
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(
            method="GET",
            target=target(self._path),
            headers=client_request_headers(HOST, self._path, key, self._subprotocols)
            + self._headers,
        )
        stream = self._open_stream()
        try:
            await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
            response, body = await read_response(stream, conn)
            if response.status_code != 101:
                raise TestClientRefused(response.status_code, body)
            self.subprotocol = check_accept(key, response.headers, subprotocols=self._subprotocols)
        except BaseException:
            await stream.aclose()
            self._send_messages.close()
            self._done.set()
            raise
        if self.subprotocol in SUBPROTOCOLS:
            kind: Literal["cbor", "json"] = "cbor" if self.subprotocol.endswith("cbor") else "json"
            size = max(self._max_message_size, 2)
            self._calls = CallEncoder(EnvelopeCodec(kind, client=True, max_size=size))
        self._stream = stream
        self._nursery().start_soon(self._read, bytes(conn.trailing_data[0]))
        return self

    # -- sending -----------------------------------------------------------------------------

    async def send(self, message: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message.

        Raises:
            ConnectionClosed: the connection is closing or closed.
        """
        self._check_open()
        if self._ws.state is not ConnectionState.OPEN:
            raise self._closed_error()
        await self._write(self._ws.send_message(message))

    async def send_json(self, value: Any) -> None:
        """Send ``value`` serialised as JSON in a text message."""
        await self.send(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    async def send_raw(self, data: bytes) -> None:
        """Write ``data`` to the socket as it is: the escape hatch for protocol tests.

        Build frames with :mod:`roost.protocol` (``encode_frame(..., mask=...)``), or break
        them on purpose: an unmasked frame, bad UTF-8, a length over the server's limit.
        """
        await self._write(data)

    async def ping(self, payload: bytes | None = None) -> None:
        """Send a ping and wait for the server's pong (the runtime answers it, never the actor).

        Raises:
            ConnectionClosed: the connection closed before the pong arrived.
        """
        self._check_open()
        if self._ws.state is not ConnectionState.OPEN:
            raise self._closed_error()
        if payload is None:
            self._ping_count += 1
            payload = f"roost-test-{self._ping_count}".encode()
        pong = self._pings.setdefault(payload, trio.Event())
        try:
            await self._write(self._ws.send_ping(payload))
        except ConnectionClosed:
            self._pings.pop(payload, None)
            raise
        await pong.wait()
        if self._pings.pop(payload, None) is not None:  # woken by the end, not by a pong
            raise self._closed_error()

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Start the close handshake (if nobody did yet) and wait until the socket is closed.

        Messages not received yet are dropped. Waits at most the server's ``close_timeout``
        for its answer, then cuts the socket.
        """
        if self._stream is None:
            return
        self._messages.close()  # the reader drops messages from now on and never blocks
        frame = self._ws.send_close(code, reason)
        if frame:
            with suppress(ConnectionClosed):
                await self._write(frame)
        with trio.move_on_after(self._close_timeout):
            await self._done.wait()
        await self._stream.aclose()  # ends the reader if the server did not answer
        await self._done.wait()

    # -- envelope mode -----------------------------------------------------------------------

    async def call(self, method: str, /, **args: Any) -> Any:
        """Call the actor's rpc ``method`` with keyword ``args`` and return its value.

        Needs an envelope subprotocol (``subprotocols=["roost.v1.json"]`` or
        ``["roost.v1.cbor"]``). Error replies raise what :mod:`roost.client` raises. There is
        no timeout and no reconnection: put the test under ``trio.fail_after``.

        Raises:
            RpcError: the method failed (code ``not_found``, ``bad_request``, ...);
                :class:`~roost.Unavailable` for ``unavailable``.
            ConnectionClosed: the connection closed before the reply came.
            UnencodableValue: an argument is outside the data model (also a ValueError).
        """
        calls = self._envelope_mode("call()")
        call_id, message = calls.call(method, args)
        waiting = self._replies[call_id] = _Reply()
        try:
            await self.send(message)
            await waiting.done.wait()
        finally:
            del self._replies[call_id]
        if waiting.reply is None:
            raise self._closed_error()
        return outcome(waiting.reply)

    async def receive_event(self) -> Event:
        """The next event the actor emitted (``self.emit``), as :mod:`roost.client` gives it.

        Other messages before it (replies to calls made with :meth:`send_raw`, envelopes of a
        newer protocol) are skipped, as the real client skips them.

        Raises:
            ConnectionClosed: the connection closed and no message received before is left.
            EnvelopeError: the server sent a message that is no envelope of the subprotocol.
        """
        calls = self._envelope_mode("receive_event()")
        while True:
            envelope = calls.receive(await self.receive())
            if isinstance(envelope, ServerEvent):
                return Event(envelope.name, envelope.data)

    def events(self) -> AsyncIterator[Event]:
        """Iterate over events until the connection closes: quietly on 1000, 1001 or 1005."""
        return _Iterate(self.receive_event)

    async def wait_presence_state(self) -> dict[str, Any]:
        """Skip to the next ``presence_state`` and return its presences
        (``{key: {"metas": [...]}}``): an event in envelope mode, a JSON frame in raw mode.

        Raises:
            ConnectionClosed: the connection closed first.
        """
        data = await self._wait_presence("presence_state")
        return dict(data["presences"])

    async def wait_presence_diff(self) -> dict[str, Any]:
        """Skip to the next ``presence_diff`` and return ``{"joins": ..., "leaves": ...}``.

        Raises:
            ConnectionClosed: the connection closed first.
        """
        data = await self._wait_presence("presence_diff")
        return {"joins": data["joins"], "leaves": data["leaves"]}

    async def _wait_presence(self, name: str) -> dict[str, Any]:
        while True:
            if self._calls is not None:
                event = await self.receive_event()
                if event.name == name:
                    return dict(event.data)
                continue
            message = await self.receive()
            with suppress(ValueError):
                data = json.loads(message)
                if isinstance(data, dict) and data.get("type") == name:
                    return data

    def _envelope_mode(self, what: str) -> CallEncoder:
        self._check_open()
        if self._calls is None:
            raise RuntimeError(
                f"{what} needs an envelope subprotocol: "
                "t.connect(path, subprotocols=['roost.v1.json']) (or roost.v1.cbor)"
            )
        return self._calls

    # -- receiving ---------------------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next message: ``str`` for a text frame, ``bytes`` for a binary one.

        Raises:
            ConnectionClosed: the connection closed (carries ``code`` and ``reason``) and no
                message received before is left.
        """
        self._check_open()
        try:
            return await self._messages.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise self._closed_error() from None

    async def receive_json(self) -> Any:
        """The next message parsed as JSON."""
        return json.loads(await self.receive())

    def __aiter__(self) -> TestClient:
        return self

    async def __anext__(self) -> str | bytes:
        """Messages until the connection closes: quietly on 1000, 1001 or 1005.

        Raises:
            ConnectionClosed: it closed with any other code.
        """
        message: str | bytes = await _Iterate(self.receive).__anext__()
        return message

    @property
    def closed(self) -> bool:
        """True once the connection is over and its socket closed."""
        return self._done.is_set()

    async def wait_closed(self) -> None:
        """Wait until the connection is over (``closed_code`` is set and the socket closed)."""
        self._check_open()
        await self._done.wait()

    # -- plumbing ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._stream is None:
            raise RuntimeError(
                "the client is not connected: use `await t.connect(...)` or "
                "`async with t.connect(...) as client`"
            )

    def _closed_error(self) -> ConnectionClosed:
        if self.closed_code is None:
            return ConnectionClosed(CloseCode.ABNORMAL, "closing")
        return ConnectionClosed(self.closed_code, self.closed_reason)

    async def _write(self, data: bytes) -> None:
        self._check_open()
        assert self._stream is not None
        async with self._write_lock:
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise self._closed_error() from None

    async def _read(self, data: bytes) -> None:
        """The reader task: bytes into the core, what it owes out, messages queued."""
        assert self._stream is not None
        ws = self._ws
        try:
            while True:
                failed = False
                for event in ws.receive_data(data) if data else ():
                    failed = await self._handle(event) or failed
                owed = ws.data_to_send()  # pongs, the close echo, our error close
                if owed:
                    with suppress(ConnectionClosed):
                        await self._write(owed)
                if failed:
                    break
                try:
                    data = await self._stream.receive_some(_RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    ws.receive_eof()
                    break
        finally:
            if self.closed_code is None:
                self.closed_code = int(CloseCode.ABNORMAL)
            self._send_messages.close()
            for pong in self._pings.values():
                pong.set()
            for waiting in self._replies.values():
                waiting.done.set()
            with trio.CancelScope(shield=True):
                await self._stream.aclose()
            self._done.set()

    async def _handle(self, event: object) -> bool:
        """Act on one event of the core; True if the server broke the protocol."""
        if isinstance(event, TextMessage | BinaryMessage):
            if self._is_reply(event.data):
                return False
            with suppress(trio.BrokenResourceError):  # close() dropped the queue
                await self._send_messages.send(event.data)
        elif isinstance(event, Pong):
            pong = self._pings.pop(event.payload, None)
            if pong is not None:
                pong.set()
        elif isinstance(event, CloseReceived):
            self.closed_code, self.closed_reason = event.code, event.reason
        elif isinstance(event, ConnectionFailed):  # a server bug worth a loud code
            if self.closed_code is None:
                self.closed_code = event.code
                self.closed_reason = f"server broke the protocol: {event.reason}"
            return True
        return False

    def _is_reply(self, message: str | bytes) -> bool:
        """Hand a reply to the :meth:`call` waiting for it; True if it was one."""
        if self._calls is None or not self._replies:
            return False
        try:
            envelope = self._calls.receive(message)
        except EnvelopeError:
            return False  # receive() and receive_event() will show it
        if not isinstance(envelope, Result | ErrorReply) or envelope.id is None:
            return False
        waiting = self._replies.get(envelope.id)
        if waiting is None or waiting.done.is_set():
            return False
        waiting.reply = envelope
        waiting.done.set()
        return True


class _Iterate(AsyncIterator[Any]):
    """Iterate over a receive method until the connection closes; quietly if normally."""

    def __init__(self, receive: Callable[[], Any]) -> None:
        self._receive = receive

    async def __anext__(self) -> Any:
        try:
            return await self._receive()
        except ConnectionClosed as exc:
            if exc.code in _NORMAL_CLOSE:
                raise StopAsyncIteration from None
            raise


def target(path: str) -> bytes:
    """The request target for ``path``, with non-ASCII characters percent-encoded."""
    return quote(path, safe=_TARGET_SAFE).encode("ascii")


async def read_response(
    stream: trio.SocketStream, conn: h11.Connection
) -> tuple[h11.Response | h11.InformationalResponse, bytes]:
    """Read a response head and body (none after a 101).

    Raises:
        HandshakeError: the server closed the connection without answering.
    """
    response: h11.Response | h11.InformationalResponse | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(_RECEIVE_SIZE))
        elif isinstance(event, h11.InformationalResponse):
            if event.status_code == 101:
                return event, b""
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            if response is None:
                raise HandshakeError("the server closed the connection without answering")
            return response, bytes(body)
