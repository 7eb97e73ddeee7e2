"""A test kit for roost apps: a real server in-process, clients without ports, trio's clock.

::

    async def test_chat(autojump_clock):
        async with TestServer(app) as t, t.connect("/chat/lobby?user=ann") as ann:
            assert await ann.receive_json() == {"type": "history", "messages": []}

:class:`TestServer` runs a real :class:`~roost.Server` inside the current trio run. Each
client talks to it over one end of a ``socket.socketpair()`` whose other end the server
serves as if it had accepted it, so no port is used and every byte goes through the real
HTTP, WebSocket and actor code. The clients speak WebSocket with :mod:`roost.protocol`'s codec
in client mode and HTTP with h11. Nothing here sleeps: time is trio's, so the server's alarms,
keep-alives and idle timeouts run on pytest-trio's ``autojump_clock``.

This module is longer than most because a test kit is one piece: the server wrapper, its
WebSocket and HTTP clients and the storage view share their plumbing.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import types
from collections.abc import AsyncIterator, Generator, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlencode

import attrs
import h11
import trio
from sqlite_utils import Database

from roost._errors import ConfigError, ConnectionClosed, HandshakeError, ProtocolError, RoostError
from roost.actors import Alarm, Alarms
from roost.actors._alarms import AlarmChanges
from roost.protocol import (
    BinaryMessage,
    CloseReceived,
    FrameDecoder,
    Ping,
    Pong,
    TextMessage,
    check_accept,
    client_request_headers,
    close_for_error,
    encode_binary,
    encode_close,
    encode_ping,
    encode_pong,
    encode_text,
)
from roost.runtime import ActorState, App, Server, ServerConfig, ServerStatistics
from roost.storage import KV, ActorStorage

__all__ = [
    "StorageView",
    "TestClient",
    "TestClientRefused",
    "TestResponse",
    "TestServer",
]

#: The Host header the kit's clients send; nothing resolves it, nothing needs to.
HOST = "roost.test"
#: Close codes that end ``async for message in client`` quietly instead of raising.
_NORMAL_CLOSE = frozenset({1000, 1001, 1005})
# Printable ASCII except space goes into a request target as it is; the rest is percent-encoded.
_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
_RECEIVE_SIZE = 65536
#: Headers a test client's handshake sets itself; ``connect(headers=...)`` may not.
_HANDSHAKE_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
    }
)


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


@attrs.frozen
class TestResponse:
    """The answer to :meth:`TestServer.request`.

    Attributes:
        status: the HTTP status code.
        headers: header names lowercased; repeated headers joined with ", ".
        body: the whole body.
    """

    __test__ = False

    status: int
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class StorageView:
    """Read-only access to one actor's SQLite file, shaped like ``self.storage`` of the actor.

    It has a connection of its own, opened read-only: it sees what committed turns wrote (not
    a turn in progress), whether the actor is active, hibernated or stopped, and cannot write
    or hold a lock that would disturb the actor. Writes raise ``attempt to write a readonly
    database``. :class:`TestServer` closes it on exit.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        uri = f"{path.resolve().as_uri()}?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        self.db = Database(self._conn)
        self.kv = KV(self._conn)

    def alarm(self, name: str) -> Alarm | None:
        """The actor's alarm ``name`` (a quarantined one too), or None."""
        return self._alarms().get(name)

    def alarms(self) -> list[Alarm]:
        """Every alarm of the actor, soonest first, quarantined ones included."""
        return self._alarms().list()

    def _alarms(self) -> Alarms:
        # Alarms only reads ``storage.db.conn``, which this view provides.
        return Alarms(cast(ActorStorage, self), lambda: 0.0, AlarmChanges())

    def close(self) -> None:
        self._conn.close()


class TestClient:
    """A WebSocket client of a :class:`TestServer`, over a socket pair.

    Get one with ``client = await t.connect(path)`` or ``async with t.connect(path) as
    client:`` (which closes it with 1000 on exit). A task in the test server's nursery reads
    the socket: it answers the server's pings and queues messages for :meth:`receive`, at
    most ``max_buffered`` of them; past that it stops reading, so the server sees a client
    that does not keep up, just as with a real one.

    Attributes:
        subprotocol: the subprotocol the server chose, or None.
        closed_code: None while open; then the code of the server's close frame (the echo of
            ours when we closed first), or 1006 when the connection ended without one.
        closed_reason: the reason that came with ``closed_code``.
    """

    __test__ = False

    def __init__(
        self,
        test_server: TestServer,
        path: str,
        *,
        subprotocols: Iterable[str],
        max_message_size: int,
        max_buffered: int,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self._test_server = test_server
        self._path = path
        self._subprotocols = tuple(subprotocols)
        self._headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
        self._max_message_size = max_message_size
        self._send_messages, self._messages = trio.open_memory_channel[str | bytes](max_buffered)
        self._stream: trio.SocketStream | None = None
        self._write_lock = trio.Lock()
        self._close_sent = False
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
        key = _nonce()
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(
            method="GET",
            target=_target(self._path),
            headers=client_request_headers(HOST, self._path, key, self._subprotocols)
            + self._headers,
        )
        stream = self._test_server._socket_stream()
        try:
            await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
            response, body = await _read_response(stream, conn)
            if response.status_code != 101:
                raise TestClientRefused(response.status_code, body)
            self.subprotocol = check_accept(key, response.headers, subprotocols=self._subprotocols)
        except BaseException:
            await stream.aclose()
            self._send_messages.close()
            self._done.set()
            raise
        self._stream = stream
        self._test_server._nursery().start_soon(self._read, bytes(conn.trailing_data[0]))
        return self

    # -- sending -----------------------------------------------------------------------------

    async def send(self, message: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message.

        Raises:
            ConnectionClosed: the connection is closing or closed.
        """
        if self._close_sent or self.closed_code is not None:
            raise self._closed_error()
        if isinstance(message, str):
            frame = encode_text(message, mask=os.urandom(4))
        else:
            frame = encode_binary(message, mask=os.urandom(4))
        await self._write(frame)

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
        if payload is None:
            self._ping_count += 1
            payload = f"roost-test-{self._ping_count}".encode()
        pong = self._pings.setdefault(payload, trio.Event())
        try:
            await self._write(encode_ping(payload, mask=os.urandom(4)))
        except ConnectionClosed:
            self._pings.pop(payload, None)
            raise
        await pong.wait()
        if self._pings.pop(payload, None) is not None:  # woken by the end, not by a pong
            raise self._closed_error()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake (if nobody did yet) and wait until the socket is closed.

        Messages not received yet are dropped. Waits at most the server's ``close_timeout``
        for its answer, then cuts the socket.
        """
        if self._stream is None:
            return
        self._messages.close()  # the reader drops messages from now on and never blocks
        if not self._close_sent and self.closed_code is None:
            self._close_sent = True
            with suppress(ConnectionClosed):
                await self._write(encode_close(code, reason, mask=os.urandom(4)))
        with trio.move_on_after(self._test_server.server.config.close_timeout):
            await self._done.wait()
        await self._stream.aclose()  # ends the reader if the server did not answer
        await self._done.wait()

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
        try:
            return await self.receive()
        except ConnectionClosed as exc:
            if exc.code in _NORMAL_CLOSE:
                raise StopAsyncIteration from None
            raise

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
            return ConnectionClosed(1006, "closing")
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
        """The reader task: frames in, pongs and close echoes out, messages queued."""
        assert self._stream is not None
        decoder = FrameDecoder(max_message_size=self._max_message_size, client=True)
        try:
            while True:
                for event in decoder.receive_data(data) if data else ():
                    await self._handle(event)
                try:
                    data = await self._stream.receive_some(_RECEIVE_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                if not data:
                    break
        except ProtocolError as exc:  # the server broke the protocol: a bug worth a loud code
            code, reason = close_for_error(exc)
            if self.closed_code is None:
                self.closed_code, self.closed_reason = code, f"server broke the protocol: {reason}"
            if not self._close_sent:
                self._close_sent = True
                with suppress(ConnectionClosed):
                    await self._write(encode_close(code, reason, mask=os.urandom(4)))
        finally:
            if self.closed_code is None:
                self.closed_code = 1006
            self._send_messages.close()
            for pong in self._pings.values():
                pong.set()
            with trio.CancelScope(shield=True):
                await self._stream.aclose()
            self._done.set()

    async def _handle(self, event: object) -> None:
        if isinstance(event, TextMessage | BinaryMessage):
            with suppress(trio.BrokenResourceError):  # close() dropped the queue
                await self._send_messages.send(event.data)
        elif isinstance(event, Ping):
            if not self._close_sent:
                with suppress(ConnectionClosed):
                    await self._write(encode_pong(event.payload, mask=os.urandom(4)))
        elif isinstance(event, Pong):
            pong = self._pings.pop(event.payload, None)
            if pong is not None:
                pong.set()
        elif isinstance(event, CloseReceived):
            self.closed_code, self.closed_reason = event.code, event.reason
            if not self._close_sent:  # the server started it: echo its code
                self._close_sent = True
                with suppress(ConnectionClosed):
                    await self._write(encode_close(event.code, mask=os.urandom(4)))


class TestServer:
    """Run ``app`` on a real :class:`~roost.Server` inside the current trio run.

    ``async with TestServer(app) as t:`` starts the server in a nursery of its own and, on
    exit, shuts it down gracefully (open clients see 1001), then removes the data directory
    if it made one. The server keeps its listener on 127.0.0.1 (an ephemeral port), but the
    kit's clients never use it: they are served over socket pairs.

    Args:
        app: the App under test.
        data_dir: where actor files go; by default a fresh temporary directory, removed on
            exit. Give one to keep data across two test servers (a restart).
        **config_overrides: other :class:`~roost.ServerConfig` fields, for example
            ``idle_timeout=5`` or ``max_message_size=1024``.

    Raises:
        ConfigError: ``host`` or ``port`` was given, or another setting is invalid.
    """

    __test__ = False

    def __init__(
        self, app: App, *, data_dir: Path | str | None = None, **config_overrides: Any
    ) -> None:
        if {"host", "port"} & config_overrides.keys():
            raise ConfigError("TestServer takes no host or port: its clients use no listener")
        config = ServerConfig(
            host="127.0.0.1", port=0, data_dir=data_dir or ".", **config_overrides
        )
        self._own_dir = data_dir is None
        if data_dir is None:  # only now that the settings are known to be valid
            config = attrs.evolve(config, data_dir=tempfile.mkdtemp(prefix="roost-test-"))
        #: The server under test, for everything the kit does not wrap.
        self.server = Server(app, config)
        self._views: dict[tuple[str, str], StorageView] = {}
        self._stack = AsyncExitStack()
        self._clients: trio.Nursery | None = None

    async def __aenter__(self) -> TestServer:
        try:
            self._clients = await self._stack.enter_async_context(self._run())
        except BaseException:
            self._remove_dir()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> bool:
        try:
            return bool(await self._stack.__aexit__(exc_type, exc, tb))
        finally:
            self._clients = None
            self._remove_dir()

    @asynccontextmanager
    async def _run(self) -> AsyncIterator[trio.Nursery]:
        try:
            async with self._serve() as clients:
                yield clients
        except BaseExceptionGroup as group:
            # The test's own error (an assert, pytest.raises' target) comes out as itself,
            # not wrapped twice by the kit's nurseries; real groups stay groups.
            leaf = _single(group)
            if leaf is None:
                raise
            context, suppressed = leaf.__context__, leaf.__suppress_context__
            try:
                raise leaf  # the group was only our wrapping
            finally:
                leaf.__context__, leaf.__suppress_context__ = context, suppressed

    @asynccontextmanager
    async def _serve(self) -> AsyncIterator[trio.Nursery]:
        server = self.server
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve)
            async with trio.open_nursery() as clients:
                try:
                    yield clients
                finally:
                    for view in self._views.values():
                        view.close()  # first, so the actors' last close checkpoints
                    self._views.clear()
                    with trio.CancelScope(shield=True):
                        await server.shutdown()  # open clients see 1001
                    clients.cancel_scope.cancel()  # readers stuck on a full queue

    def _remove_dir(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.server.config.data_dir, ignore_errors=True)

    def _nursery(self) -> trio.Nursery:
        if self._clients is None:
            raise RuntimeError("the TestServer is not running: use `async with TestServer(app)`")
        return self._clients

    def _socket_stream(self) -> trio.SocketStream:
        """A socket pair: one end served by the server, the other returned as a stream."""
        self._nursery()
        ours, theirs = socket.socketpair()
        try:
            self.server.serve_socket(theirs)
        except BaseException:
            ours.close()
            theirs.close()
            raise
        return trio.SocketStream(trio.socket.from_stdlib_socket(ours))

    # -- clients -----------------------------------------------------------------------------

    def connect(
        self,
        path: str,
        *,
        subprotocols: Iterable[str] = (),
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        query: Mapping[str, str] | None = None,
        max_message_size: int | None = None,
        max_buffered: int = 256,
    ) -> TestClient:
        """A WebSocket client for ``path`` (``/<type>/<key>?query``): await it or ``async with``.

        Non-ASCII characters in ``path`` are percent-encoded; anything else is sent as given.
        The app's ``authenticate`` hook sees ``headers`` and ``query`` as from any client, so
        ``t.connect("/chat/a", headers={"authorization": "Bearer T"})`` tests an
        authenticated actor (a refusal raises :class:`TestClientRefused` with its status).

        Args:
            path: the request target.
            subprotocols: subprotocols to offer.
            headers: extra request headers (``Authorization``, ``Cookie``, ``Origin``, ...);
                the handshake's own (``Host``, ``Upgrade``, ``Sec-WebSocket-*``) are refused.
            query: parameters appended to ``path``'s query, percent-encoded.
            max_message_size: largest message accepted from the server (default: the server's
                ``max_outbound_bytes``, which no frame it sends can exceed).
            max_buffered: messages queued for :meth:`TestClient.receive` before the client
                stops reading; the client holds at most ``max_buffered * max_message_size``.
        """
        if max_message_size is None:
            max_message_size = self.server.config.max_outbound_bytes
        extra = list(headers.items() if isinstance(headers, Mapping) else headers)
        owned = {name.lower() for name, _ in extra} & _HANDSHAKE_HEADERS
        if owned:
            raise ValueError(f"the handshake sets these headers itself: {', '.join(sorted(owned))}")
        return TestClient(
            self,
            _with_query(path, query),
            subprotocols=subprotocols,
            max_message_size=max_message_size,
            max_buffered=max_buffered,
            headers=extra,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        query: Mapping[str, str] | None = None,
    ) -> TestResponse:
        """One HTTP/1.1 request (an actor's ``on_request``, ``/_roost/health``, ...).

        ``Host`` and ``Content-Length`` are added unless given; ``query`` is appended to
        ``path``'s query. The app's ``authenticate`` hook runs as for any client.
        """
        path = _with_query(path, query)
        items = list(headers.items() if isinstance(headers, Mapping) else headers)
        names = {name.lower() for name, _ in items}
        if "host" not in names:
            items.insert(0, ("host", HOST))
        if "content-length" not in names:
            items.append(("content-length", str(len(body))))
        stream = self._socket_stream()
        async with stream:
            conn = h11.Connection(h11.CLIENT)
            data = conn.send(h11.Request(method=method, target=_target(path), headers=items))
            if body:
                data += conn.send(h11.Data(data=body))
            await stream.send_all(data + conn.send(h11.EndOfMessage()))
            response, response_body = await _read_response(stream, conn)
        joined: dict[str, str] = {}
        for raw_name, raw_value in response.headers:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            joined[name] = f"{joined[name]}, {value}" if name in joined else value
        return TestResponse(status=response.status_code, headers=joined, body=response_body)

    # -- actors ------------------------------------------------------------------------------

    async def fire_alarm(self, actor_type: str, key: str, name: str) -> None:
        """Fire the actor's alarm ``name`` now, before its due time, waking the actor if needed.

        It runs as in production: an ``on_alarm`` that raises is logged and retried later.

        Raises:
            LookupError: the actor has no such alarm (or it is quarantined).
        """
        alarm = None
        with suppress(LookupError):
            alarm = self.storage(actor_type, key).alarm(name)
        if alarm is None or alarm.quarantined:
            state = "quarantined" if alarm else "no"
            raise LookupError(f"actor {actor_type}/{key!r} has {state} alarm {name!r}")
        await self.server.fire_alarm(actor_type, key, name)

    async def evict(self, actor_type: str, key: str) -> None:
        """Evict the actor now, as the idle timeout would: ``on_stop`` runs, its SQLite
        closes; it hibernates if it has connections, otherwise it stops."""
        await self.server.evict(actor_type, key)

    async def hibernate(self, actor_type: str, key: str) -> None:
        """Evict the actor and check that it hibernated (its connections stay open).

        Raises:
            AssertionError: it did not hibernate (it has no open connection).
        """
        await self.evict(actor_type, key)
        state = self.actor_state(actor_type, key)
        if state is not ActorState.HIBERNATED:
            shown = state.value if state else "unknown to the server"
            raise AssertionError(
                f"{actor_type}/{key!r} did not hibernate: it is {shown} (no open connection?)"
            )

    def actor_state(self, actor_type: str, key: str) -> ActorState | None:
        """Where the actor is in its lifecycle, or None if the server holds nothing for it."""
        slot = self.server.registry.slots.get((actor_type, key))
        return None if slot is None else slot.state

    def storage(self, actor_type: str, key: str) -> StorageView:
        """A read-only view of the actor's SQLite (``.db``, ``.kv``, ``.alarms()``).

        Works whether the actor is active, hibernated or stopped; see :class:`StorageView`.

        Raises:
            LookupError: the actor has no file yet (it never stored anything).
        """
        ident = (actor_type, key)
        view = self._views.get(ident)
        if view is None:
            path = self.server.registry.db_path(actor_type, key)
            if not path.exists():
                raise LookupError(f"actor {actor_type}/{key!r} has no storage file yet")
            view = self._views[ident] = StorageView(path)
        return view

    def statistics(self) -> ServerStatistics:
        """The server's counts right now (connections, websockets, actors, ...)."""
        return self.server.statistics()


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside nested single-member groups, or None if there are more."""
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        if len(exc.exceptions) != 1:
            return None
        exc = exc.exceptions[0]
    return exc


def _with_query(path: str, query: Mapping[str, str] | None) -> str:
    """``path`` with ``query`` appended to its query string, percent-encoded."""
    if not query:
        return path
    return path + ("&" if "?" in path else "?") + urlencode(query)


def _nonce() -> str:
    """A fresh Sec-WebSocket-Key: base64 of 16 random bytes."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def _target(path: str) -> bytes:
    """The request target for ``path``, with non-ASCII characters percent-encoded."""
    return quote(path, safe=_TARGET_SAFE).encode("ascii")


async def _read_response(
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
