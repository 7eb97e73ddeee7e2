"""The Python client of roost (trio): rpc calls and events of one actor, or raw messages.

::

    url = roost.client.actor_url("ws://127.0.0.1:8787", "chat", "lobby", params={"user": "ann"})
    async with roost.client.connect(url, headers={"Authorization": "Bearer ..."}) as actor:
        message_id = await actor.call("say", text="hi")
        async for event in actor.events():
            print(event.name, event.data)

One :class:`ActorClient` holds one WebSocket to one actor over a trio stream (HTTP handshake
by h11), spoken through :class:`roost.protocol.WebSocketConnection` and
:class:`roost.protocol.CallEncoder`, the sans-I/O core the test kit shares (masking, pongs,
the close handshake, close codes, call ids, error replies): no thread, no task per call, one
task per client that reads frames and reconnects. When the connection drops for a reason
worth retrying, the client reconnects with jittered exponential backoff, rotating through the
URLs it was given (several nodes of one cluster serve the same actor), at once after a
service restart (1012) or a server going away (1001); calls in flight fail with
:class:`Disconnected` (retryable) and calls made meanwhile wait for the new connection, both
within ``call_timeout``. docs/client.md explains the choices.

Errors, added under :class:`~roost.RpcError` of roost's one exception tree::

    RpcError
    └── Unavailable      code "unavailable", retryable: the server's own unavailable reply
        ├── Disconnected no connection: lost with the call in flight, not back in time,
        │                or the first connection failed
        └── CallTimeout  no reply within call_timeout on an open connection

A client that is over (closed by :meth:`ActorClient.aclose`, or ended by the server with a
close code that is not retried) raises :class:`~roost.ConnectionClosed`.

Long because the client is one object with one job, a connection that outlives its
sockets: connecting (TLS, the handshake, credentials), reading, calls with their ids and
timeouts, events, raw messages and reconnection with backoff all share its state, and the
wire itself is already in the sans-I/O core; split further, each piece would reach into the
others' state.

This module is longer than most because a reconnecting client is one state machine: the
WebSocket plumbing, the call table and the event buffer all follow its transitions.
"""

from __future__ import annotations

import base64
import enum
import os
import random
import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs
import h11
import trio

from roost._errors import (
    CallTimeout,
    ConnectionClosed,
    Disconnected,
    HandshakeError,
    RoostError,
    Unavailable,
)
from roost.protocol import (
    RESYNC,
    BinaryMessage,
    CallEncoder,
    CloseCode,
    CloseReceived,
    ConnectionFailed,
    ConnectionState,
    EnvelopeCodec,
    EnvelopeError,
    ErrorReply,
    Result,
    ServerEvent,
    TextMessage,
    WebSocketConnection,
    check_accept,
    client_request_headers,
    close_code_for,
    error_for_reply,
)

from ._urls import actor_url, check_headers, redact_url

__all__ = [
    "RETRIED_CLOSE_CODES",
    "ActorClient",
    "CallTimeout",
    "ClientState",
    "ClientStatistics",
    "Disconnected",
    "Event",
    "Unavailable",
    "actor_url",
    "connect",
]

#: Close codes after which the client reconnects: going away, abnormal closure (no close
#: frame: network failure, keep-alive timeout, killed server), internal error, service
#: restart, try again later, bad gateway. 1000 and 1005 end the client quietly; any other
#: code (1002, 1003, 1007, 1008, 1009, 1010, 3000-4999) ends it with ConnectionClosed.
RETRIED_CLOSE_CODES = frozenset(  # plain ints: a user may send one in an envelope
    int(code)
    for code in (
        CloseCode.GOING_AWAY,
        CloseCode.ABNORMAL,
        CloseCode.INTERNAL_ERROR,
        CloseCode.SERVICE_RESTART,
        CloseCode.TRY_AGAIN_LATER,
        CloseCode.BAD_GATEWAY,
    )
)
#: Close codes after which the client reconnects at once, without the backoff delay, to
#: the next URL: a node restarting or handing its actors over (1012), or going away (1001).
#: Another node (or the same one, back) can take the client now, and a client's disruption
#: then stays a round trip long.
_IMMEDIATE_CLOSE_CODES = frozenset({CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART})
_QUIET_CLOSE_CODES = frozenset({CloseCode.NORMAL, CloseCode.NO_STATUS})
#: HTTP statuses of a refused reconnection that are worth retrying; others end the client.
_RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_RECEIVE_SIZE = 65536
_MAX_RESPONSE_BODY = 4096


@attrs.frozen
class Event:
    """An event the actor emitted (``self.emit(name, data)``), or the server's ``resync``
    (the events missed while reconnecting are gone: fetch the state again).

    ``seq`` is its place in the actor's stream (None from a server that sends none); it
    does not take part in comparisons.
    """

    name: str
    data: Any
    seq: int | None = attrs.field(default=None, eq=False, kw_only=True)


class ClientState(enum.Enum):
    """The client's lifecycle; :data:`_TRANSITIONS` lists the legal moves."""

    CONNECTING = "connecting"  # the first connection is being opened
    OPEN = "open"
    RECONNECTING = "reconnecting"  # waiting out a backoff delay, or opening a new connection
    CLOSING = "closing"  # aclose() started the close handshake
    CLOSED = "closed"


_TRANSITIONS = {
    ClientState.CONNECTING: {ClientState.OPEN, ClientState.CLOSED},
    ClientState.OPEN: {ClientState.RECONNECTING, ClientState.CLOSING, ClientState.CLOSED},
    ClientState.RECONNECTING: {ClientState.OPEN, ClientState.CLOSING, ClientState.CLOSED},
    ClientState.CLOSING: {ClientState.CLOSED},
    ClientState.CLOSED: set(),
}


@attrs.frozen
class ClientStatistics:
    """A snapshot of :meth:`ActorClient.statistics`."""

    state: ClientState
    connects: int  # connections opened, the first one included
    calls_in_flight: int
    events_buffered: int
    events_dropped: int  # events discarded because max_pending_events were waiting
    messages_buffered: int  # raw mode


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive, not {value!r}")


@attrs.frozen(kw_only=True)
class _Settings:
    """What :func:`connect` was given, validated once."""

    encoding: Literal["cbor", "json", "raw"] = attrs.field(
        validator=attrs.validators.in_(("cbor", "json", "raw"))
    )
    reconnect: bool
    backoff_initial: float = attrs.field(validator=_positive)
    backoff_max: float = attrs.field(validator=_positive)
    call_timeout: float = attrs.field(validator=_positive)
    connect_timeout: float = attrs.field(validator=_positive)
    close_timeout: float = attrs.field(validator=_positive)
    ping_interval: float | None = attrs.field(validator=attrs.validators.optional(_positive))
    ping_timeout: float = attrs.field(validator=_positive)
    max_pending_events: int = attrs.field(validator=_positive)
    max_pending_messages: int = attrs.field(validator=_positive)
    max_message_size: int = attrs.field(validator=_positive)
    headers: tuple[tuple[bytes, bytes], ...] = ()  # sent with every (re)connection


@attrs.frozen
class _Target:
    """Where a ``ws://`` or ``wss://`` URL points."""

    secure: bool
    host: str
    port: int
    netloc: str
    path: str  # with the query

    @classmethod
    def parse(cls, url: str) -> _Target:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"not a ws:// or wss:// URL: {redact_url(url)!r}")
        secure = parts.scheme == "wss"
        port = parts.port or (443 if secure else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(secure, parts.hostname, port, parts.netloc, path)


class _Pending:
    """A call waiting for its reply."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.value: Any = None
        self.error: RoostError | None = None


class _Connection:
    """One open WebSocket: frames out under a lock (from any task), frames in by the reader.

    ``ws`` is the sans-I/O core shared with the test kit: it masks, answers pings and keeps
    the close handshake; this class only writes what it returns.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        ws: WebSocketConnection,
        subprotocol: str | None,
        leftover: bytes,
    ) -> None:
        self.stream = stream
        self.ws = ws
        self.subprotocol = subprotocol
        self.leftover = leftover  # bytes read with the handshake response
        self._lock = trio.StrictFIFOLock()
        self._due: bytes | None = None  # a pong for whoever holds the lock to send

    async def send(self, frame: bytes) -> None:
        """Write one frame.

        A write cancelled half-way would leave a partial frame behind, so the connection is
        then cut (and the client reconnects).

        Raises:
            Disconnected: the connection is broken or closed.
        """
        async with self._lock:
            await trio.lowlevel.checkpoint_if_cancelled()  # nothing written yet
            try:
                await self.stream.send_all(frame)
                if self._due is not None:
                    due, self._due = self._due, None
                    await self.stream.send_all(due)
            except trio.Cancelled:
                await trio.aclose_forcefully(self.stream)
                raise
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                await trio.aclose_forcefully(self.stream)
                raise Disconnected("the connection was lost while sending") from exc

    async def send_message(self, message: str | bytes) -> None:
        """Write one text (str) or binary (bytes) message.

        Raises:
            Disconnected: the connection is closing (the reader is about to see how it ended),
                broken or closed.
        """
        try:
            frame = self.ws.send_message(message)
        except ConnectionClosed as exc:
            raise Disconnected("the connection is closing") from exc
        await self.send(frame)

    async def send_control(self, frame: bytes, *, pong: bool) -> bool:
        """Send a control frame without waiting behind a blocked writer.

        When another task holds the lock, a pong is left for it to send after its frame and
        a ping is skipped. Returns whether the frame was sent (or left to be sent).
        """
        if self._lock.locked():
            if pong:
                self._due = frame
            return pong
        try:
            await self.send(frame)
        except Disconnected:
            return False
        return True


async def _open_websocket(
    target: _Target,
    subprotocols: tuple[str, ...],
    ssl_context: ssl.SSLContext | None,
    extra_headers: tuple[tuple[bytes, bytes], ...] = (),
    *,
    max_message_size: int,
) -> _Connection:
    """Open a TCP (or TLS) stream and perform the opening handshake.

    Raises:
        OSError, trio.BrokenResourceError: the network failed.
        HandshakeError: the server refused (``status`` is its HTTP status), or its 101
            response is invalid, or it chose no envelope subprotocol that was asked for.
    """
    if target.secure:
        context = ssl_context or ssl.create_default_context()
        stream: trio.abc.Stream = await trio.open_ssl_over_tcp_stream(
            target.host, target.port, ssl_context=context, https_compatible=True
        )
    else:
        stream = await trio.open_tcp_stream(target.host, target.port)
    try:
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        http = h11.Connection(h11.CLIENT)
        headers = client_request_headers(target.netloc, target.path, key, subprotocols)
        headers.extend(extra_headers)
        request = h11.Request(method="GET", target=target.path.encode(), headers=headers)
        await stream.send_all(http.send(request) + (http.send(h11.EndOfMessage()) or b""))
        response = await _read_response(stream, http)
        subprotocol = check_accept(key, response.headers, subprotocols=subprotocols)
        if subprotocols and subprotocol is None:
            raise HandshakeError(f"the server speaks none of {', '.join(subprotocols)}", status=101)
        ws = WebSocketConnection(client=True, max_message_size=max_message_size)
        return _Connection(stream, ws, subprotocol, bytes(http.trailing_data[0]))
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise


async def _read_response(
    stream: trio.abc.Stream, http: h11.Connection
) -> h11.InformationalResponse:
    """The 101 response; any other answer raises HandshakeError with its status and body."""
    status, body = 0, bytearray()
    while True:
        try:
            event = http.next_event()
        except h11.RemoteProtocolError as exc:
            raise HandshakeError(f"invalid HTTP response: {exc}", status=502) from None
        if event is h11.NEED_DATA:
            http.receive_data(bytes(await stream.receive_some(_RECEIVE_SIZE)))
        elif isinstance(event, h11.InformationalResponse) and event.status_code == 101:
            return event
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data[: _MAX_RESPONSE_BODY - len(body)]
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            if not status:
                raise trio.BrokenResourceError("the server closed without answering")
            text = bytes(body).decode(errors="replace").strip()
            raise HandshakeError(f"HTTP {status}: {text}".rstrip(": "), status=status)


class ActorClient:
    """A connection to one actor that survives reconnections; made by :func:`connect`.

    Envelope mode (``encoding`` ``"cbor"`` or ``"json"``): :meth:`call`, :meth:`events`.
    Raw mode (``"raw"``): :meth:`send`, :meth:`receive`, :meth:`messages`. Every method may
    be used from several tasks at once.

    ``urls`` are the URLs it was given, in order; ``url`` the one it is connected (or was
    last connected) to.
    """

    def __init__(
        self, urls: tuple[str, ...], settings: _Settings, ssl_context: ssl.SSLContext | None
    ) -> None:
        self.urls = urls
        self._targets = tuple(_Target.parse(url) for url in urls)
        self._index = 0  # of the URL connected to, or last connected to
        self._last_immediate: float | None = None  # when a reconnection last skipped the backoff
        self._settings = settings
        self._ssl_context = ssl_context
        kind = settings.encoding
        self._codec = (
            None
            if kind == "raw"
            else EnvelopeCodec(kind, client=True, max_size=settings.max_message_size)
        )
        self._subprotocols = (self._codec.subprotocol,) if self._codec else ()
        self._calls = CallEncoder(self._codec) if self._codec else None
        self._state = ClientState.CONNECTING
        self._state_changed = trio.lowlevel.ParkingLot()
        self._conn: _Connection | None = None
        self._scope = trio.CancelScope()
        self._finished = trio.Event()
        self._end: tuple[int, str] | None = None  # the close code and reason that ended us
        self._end_cause: BaseException | None = None
        self._random = random.Random()
        self._attempt = 0  # consecutive reconnection attempts, for the backoff
        self._connected_at = 0.0
        self._connects = 0
        self._pending: dict[int, _Pending] = {}
        self._events: deque[Event] = deque(maxlen=settings.max_pending_events)
        self._events_waiting = trio.lowlevel.ParkingLot()
        self._events_dropped = 0
        # The seq of the last event received, sent back as ?resume= when reconnecting.
        self._last_seq: int | None = None
        self._raw_in, self._raw_out = trio.open_memory_channel[str | bytes](
            settings.max_pending_messages
        )

    def __repr__(self) -> str:
        # The query and user info may hold credentials: never shown (docs/client.md).
        return f"<ActorClient {redact_url(self.url)} {self._state.value}>"

    # -- state -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL of the current connection (the last one while reconnecting)."""
        return self.urls[self._index]

    @property
    def state(self) -> ClientState:
        """Where the client is in its lifecycle."""
        return self._state

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol of the connection: ``roost.v1.cbor``, ``roost.v1.json`` or None."""
        return self._codec.subprotocol if self._codec else None

    @property
    def last_seq(self) -> int | None:
        """The seq of the last event received (None: none yet); a reconnection resumes after
        it (docs/client.md, "Resuming events")."""
        return self._last_seq

    def statistics(self) -> ClientStatistics:
        """Counters of this client, as an immutable record."""
        return ClientStatistics(
            state=self._state,
            connects=self._connects,
            calls_in_flight=len(self._pending),
            events_buffered=len(self._events),
            events_dropped=self._events_dropped,
            messages_buffered=self._raw_out.statistics().current_buffer_used,
        )

    def _set_state(self, state: ClientState) -> None:
        if state not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"illegal client transition {self._state.name} -> {state.name}")
        self._state = state
        self._state_changed.unpark_all()

    def _closed_error(self) -> ConnectionClosed:
        code, reason = self._end if self._end is not None else (CloseCode.NORMAL, "client closing")
        error = ConnectionClosed(code, reason)
        error.__cause__ = self._end_cause
        return error

    @property
    def _ended_quietly(self) -> bool:
        """Closed by us (no ``_end`` yet while closing), or by the server with 1000 or 1005."""
        return self._end is None or self._end[0] in _QUIET_CLOSE_CODES

    async def _wait_open(self, deadline: float) -> _Connection:
        """The open connection, waiting for a reconnection until ``deadline``.

        A connection whose end the reader has seen but not yet acted on (it is still writing
        the close echo or closing the socket) counts as gone: a call made then waits for the
        next connection instead of failing without having been sent.

        Raises:
            Disconnected: not connected by ``deadline``.
            ConnectionClosed: the client is closing or closed.
        """
        while self._state is not ClientState.OPEN or (
            self._conn is not None and self._conn.ws.state is not ConnectionState.OPEN
        ):
            if self._state in (ClientState.CLOSING, ClientState.CLOSED):
                raise self._closed_error()
            with trio.move_on_at(deadline) as waiting:
                await self._state_changed.park()
            if waiting.cancelled_caught:
                raise Disconnected(
                    f"not connected within call_timeout ({self._settings.call_timeout} s)"
                )
        assert self._conn is not None
        return self._conn

    # -- envelope mode -----------------------------------------------------------------------

    async def call(self, method: str, /, **args: Any) -> Any:
        """Call the actor's rpc ``method`` with keyword ``args`` and return its value.

        Waits at most ``call_timeout`` in all, for a connection and for the reply.

        Raises:
            RpcError: the method failed: code ``not_found``, ``bad_request``, ``internal``,
                ``too_large``, or another the server sent.
            Unavailable: retryable; :class:`Disconnected` and :class:`CallTimeout` are its
                kinds raised by the client itself.
            ConnectionClosed: the client is closed.
            UnencodableValue: an argument is outside the data model (also a ValueError).
        """
        calls = self._calls
        if calls is None:
            raise RuntimeError("call() needs encoding='cbor' or 'json'; this client is raw")
        deadline = trio.current_time() + self._settings.call_timeout
        call_id, payload = calls.call(method, args)
        conn = await self._wait_open(deadline)
        pending = self._pending[call_id] = _Pending()
        try:
            with trio.move_on_at(deadline):
                await conn.send_message(payload)
                await pending.done.wait()
        finally:
            del self._pending[call_id]
        if pending.error is not None:
            raise pending.error
        if not pending.done.is_set():
            raise CallTimeout(f"no reply within call_timeout ({self._settings.call_timeout} s)")
        return pending.value

    async def receive_event(self) -> Event:
        """The next event, oldest first, waiting for one.

        Raises:
            ConnectionClosed: the client is over and every buffered event was received.
        """
        if self._codec is None:
            raise RuntimeError("events need encoding='cbor' or 'json'; this client is raw")
        if self._events:  # trio's grammar: a checkpoint either way
            await trio.lowlevel.checkpoint_if_cancelled()
            event = self._events.popleft()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return event
        while not self._events:
            if self._state is ClientState.CLOSED:
                raise self._closed_error()
            await self._events_waiting.park()
        return self._events.popleft()

    def events(self) -> AsyncIterator[Event]:
        """Iterate over events as they come, across reconnections.

        The iteration ends when the client is closed by :meth:`aclose` or by the server with
        code 1000; it raises :class:`~roost.ConnectionClosed` when the server ends it with
        another code that is not retried. Several tasks may iterate: each event goes to one.
        """
        return _Iterate(self, self.receive_event)

    # -- raw mode ----------------------------------------------------------------------------

    async def send(self, message: str | bytes) -> None:
        """Send one text (str) or binary (bytes) message; raw mode only.

        Waits at most ``call_timeout`` for a connection.

        Raises:
            Disconnected: no connection within ``call_timeout``, or it dropped while sending.
            ConnectionClosed: the client is closed.
        """
        if self._codec is not None:
            raise RuntimeError("send() is for encoding='raw'; use call() with envelopes")
        conn = await self._wait_open(trio.current_time() + self._settings.call_timeout)
        await conn.send_message(message)

    async def receive(self) -> str | bytes:
        """The next message the actor sent (str: text, bytes: binary); raw mode only.

        Raises:
            ConnectionClosed: the client is over and every buffered message was received.
        """
        if self._codec is not None:
            raise RuntimeError("receive() is for encoding='raw'; use events() with envelopes")
        try:
            return await self._raw_out.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise self._closed_error() from None

    def messages(self) -> AsyncIterator[str | bytes]:
        """Iterate over received messages; ends like :meth:`events`."""
        return _Iterate(self, self.receive)

    # -- closing -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close with code 1000 (waiting ``close_timeout`` at most for the server's answer).

        Calls in flight fail with ConnectionClosed; idempotent.
        """
        conn = self._conn
        if self._state is ClientState.CLOSING:  # another task is closing: wait for it
            await self._finished.wait()
            return
        if self._state is ClientState.OPEN and conn is not None:
            self._set_state(ClientState.CLOSING)
            self._raw_out.close()  # a reader blocked on a full buffer must see the close
            with trio.move_on_after(self._settings.close_timeout):
                frame = conn.ws.send_close(CloseCode.NORMAL)
                try:
                    if frame:
                        await conn.send(frame)
                except Disconnected:
                    pass
                await self._finished.wait()
        elif self._state is ClientState.RECONNECTING:
            self._set_state(ClientState.CLOSING)
        self._scope.cancel()
        with trio.CancelScope(shield=True):  # quick: the reader only closes its stream
            await self._finished.wait()

    # -- the reader and reconnecting task ----------------------------------------------------

    async def _open(self, index: int, *, resume: bool = False) -> _Connection:
        """Connect to ``urls[index]``, within ``connect_timeout``; it becomes the client's URL.
        ``resume``: ask for the events missed since the last one received (envelope mode).

        Raises:
            OSError, trio.BrokenResourceError, trio.TooSlowError: the network failed.
            HandshakeError: the server refused.
        """
        settings = self._settings
        target = self._targets[index]
        if resume and self._codec is not None:
            separator = "&" if "?" in target.path else "?"
            path = f"{target.path}{separator}resume={self._last_seq or 0}"
            target = attrs.evolve(target, path=path)
        with trio.fail_after(settings.connect_timeout):
            conn = await _open_websocket(
                target,
                self._subprotocols,
                self._ssl_context,
                settings.headers,
                max_message_size=settings.max_message_size,
            )
        if self._state is ClientState.CLOSING:  # aclose() came while the handshake finished
            await trio.aclose_forcefully(conn.stream)
            raise _Ended
        self._conn = conn
        self._index = index
        self._connects += 1
        self._connected_at = trio.current_time()
        self._set_state(ClientState.OPEN)
        return conn

    async def _run(self, conn: _Connection) -> None:
        """Read until the connection ends; reconnect while worth it; never raises."""
        try:
            with self._scope:
                while True:
                    code, reason = await self._read(conn)
                    if self._state is ClientState.CLOSING:
                        return
                    if code not in RETRIED_CLOSE_CODES:
                        self._end = (code, reason)  # calls in flight get ConnectionClosed
                        return
                    lost = f"connection lost ({code} {reason}".rstrip() + ")"
                    self._fail_pending(lambda: Disconnected(lost))  # noqa: B023 - called now
                    if not self._settings.reconnect:
                        self._end = (code, reason)
                        return
                    self._set_state(ClientState.RECONNECTING)
                    now = trio.current_time()
                    if now - self._connected_at >= self._settings.backoff_max:
                        self._attempt = 0  # it stayed up: not a flapping server
                    conn = await self._reconnect(immediate=self._skips_backoff(code, now))
        except _Ended:
            pass
        finally:
            self._finish()

    def _skips_backoff(self, code: int, now: float) -> bool:
        """Whether the reconnection after ``code`` starts at once: after 1001 or 1012, unless
        the last one that did was less than ``backoff_max`` ago (a server that keeps closing
        with 1012 gets the backoff like any other)."""
        last = self._last_immediate
        if code not in _IMMEDIATE_CLOSE_CODES or (
            last is not None and now - last < self._settings.backoff_max
        ):
            return False
        self._last_immediate = now
        return True

    async def _reconnect(self, *, immediate: bool) -> _Connection:
        """Open a new connection: rounds over every URL, the next one after the URL that was
        lost first and that one last, with a jittered, growing delay before each round (but
        the first one when ``immediate``)."""
        settings = self._settings
        count = len(self._targets)
        while True:
            if not immediate:
                ceiling = min(
                    settings.backoff_max, settings.backoff_initial * 2.0 ** min(self._attempt, 64)
                )
                self._attempt += 1
                await trio.sleep(ceiling * (0.5 + 0.5 * self._random.random()))
            immediate = False
            start = self._index
            for step in range(1, count + 1):
                try:
                    return await self._open((start + step) % count, resume=True)
                except HandshakeError as exc:
                    if exc.status not in _RETRIED_STATUSES:
                        self._end, self._end_cause = (
                            (CloseCode.ABNORMAL, f"reconnection refused: {exc}"),
                            exc,
                        )
                        raise _Ended from None
                except (OSError, trio.BrokenResourceError, trio.TooSlowError):
                    continue

    def _finish(self) -> None:
        """The client is over: fail what waits, wake who waits."""
        if self._end is None:
            self._end = (CloseCode.NORMAL, "client closed")
        self._fail_pending(self._closed_error)
        if self._state is not ClientState.CLOSED:
            self._set_state(ClientState.CLOSED)
        self._raw_in.close()
        self._events_waiting.unpark_all()
        self._finished.set()

    def _fail_pending(self, error: Any) -> None:
        for pending in self._pending.values():
            if not pending.done.is_set():
                pending.error = error()
                pending.done.set()

    async def _read(self, conn: _Connection) -> tuple[int, str]:
        """Read ``conn`` until it ends; return its close code and reason; close its stream."""
        settings = self._settings
        ws = conn.ws
        data: bytes | bytearray = conn.leftover
        awaiting_pong = False
        try:
            while True:
                if data:
                    awaiting_pong = False
                    events = ws.receive_data(data)
                    await self._send_owed(conn)  # pongs first, then a close echo or error close
                    try:
                        for event in events:
                            end = self._handle(event)
                            if isinstance(end, tuple):
                                return end
                            if end is not None:
                                await self._raw_message(end)
                    except EnvelopeError as exc:
                        code, reason = close_code_for(exc)
                        with trio.move_on_after(settings.close_timeout):
                            await conn.send_control(ws.fail(exc), pong=False)
                        return code, reason
                if settings.ping_interval is None:
                    data = await conn.stream.receive_some(_RECEIVE_SIZE)
                else:
                    wait = settings.ping_timeout if awaiting_pong else settings.ping_interval
                    with trio.move_on_after(wait) as idle:
                        data = await conn.stream.receive_some(_RECEIVE_SIZE)
                    if idle.cancelled_caught:
                        if awaiting_pong:
                            return CloseCode.ABNORMAL, "keep-alive ping timeout"
                        sent = ws.state is ConnectionState.OPEN and await conn.send_control(
                            ws.send_ping(b""), pong=False
                        )
                        awaiting_pong, data = sent, b""
                        continue
                if not data:
                    ws.receive_eof()
                    return ws.close_code or CloseCode.ABNORMAL, ws.close_reason
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            return CloseCode.ABNORMAL, "connection lost"
        finally:
            await trio.aclose_forcefully(conn.stream)

    async def _send_owed(self, conn: _Connection) -> None:
        """Write what the core owes the server: pongs (left for a blocked writer), or a close
        echo or error close (skipped behind a blocked writer, within ``close_timeout``)."""
        owed = conn.ws.data_to_send()
        if not owed:
            return
        if conn.ws.state is not ConnectionState.CLOSED:
            await conn.send_control(owed, pong=True)
            return
        with trio.move_on_after(self._settings.close_timeout):
            await conn.send_control(owed, pong=False)

    def _handle(self, event: object) -> tuple[int, str] | str | bytes | None:
        """Act on one event of the core: the close code and reason if it ends the
        connection, a raw message to queue, or None.

        Raises:
            EnvelopeError: an envelope message breaks the protocol (the connection closes).
        """
        if isinstance(event, TextMessage | BinaryMessage):
            if self._calls is None:
                return event.data
            envelope = self._calls.receive(event.data)
            if envelope is not None:  # None: an envelope of a newer protocol, ignored
                self._deliver(envelope)
        elif isinstance(event, CloseReceived | ConnectionFailed):
            return event.code, event.reason
        return None

    async def _raw_message(self, message: str | bytes) -> None:
        try:
            await self._raw_in.send(message)
        except trio.BrokenResourceError:
            pass  # closing: nobody will read it

    def _deliver(self, envelope: Any) -> None:
        if isinstance(envelope, ServerEvent):
            seq = envelope.seq
            if seq is not None:
                last = self._last_seq
                if envelope.name != RESYNC and last is not None and seq <= last:
                    return  # replayed after a reconnection, and received before it
                self._last_seq = seq
            if len(self._events) == self._events.maxlen:
                self._events_dropped += 1  # the deque drops the oldest
            self._events.append(Event(envelope.name, envelope.data, seq=seq))
            self._events_waiting.unpark_all()
            return
        pending = self._pending.get(envelope.id) if envelope.id is not None else None
        if pending is None or pending.done.is_set():
            return  # a reply to a call that gave up (timeout, cancellation)
        if isinstance(envelope, Result):
            pending.value = envelope.value
        elif isinstance(envelope, ErrorReply):
            pending.error = error_for_reply(envelope)
        pending.done.set()


def _url_list(url: str | Sequence[str]) -> tuple[str, ...]:
    """``connect``'s ``url`` as a tuple of URLs (checked by :class:`_Target` after this)."""
    urls = (url,) if isinstance(url, str) else tuple(url)
    if not urls:
        raise ValueError("connect() needs at least one URL")
    if not all(isinstance(each, str) for each in urls):
        raise TypeError("connect() takes a URL or a list of URLs (str)")
    return urls


async def _first_connection(client: ActorClient) -> _Connection:
    """Try each URL once, in order; raise what the last one raised if none connects.

    Raises:
        Disconnected: the network failed on every URL (each one is named, without query).
        HandshakeError: a refusal that is not retried, or the last URL's retried one.
    """
    failures: list[str] = []
    last = len(client.urls) - 1
    for index, url in enumerate(client.urls):
        try:
            return await client._open(index)
        except HandshakeError as exc:
            if exc.status not in _RETRIED_STATUSES or index == last:
                raise
            failures.append(f"{redact_url(url)}: {exc}")
        except (OSError, trio.BrokenResourceError, trio.TooSlowError) as exc:
            failures.append(f"{redact_url(url)}: {exc or type(exc).__name__}")
            if index == last:
                raise Disconnected(f"could not connect to {'; '.join(failures)}") from exc
    raise AssertionError("unreachable: the last URL returns or raises")


class _Ended(Exception):
    """Internal: reconnecting is pointless; the client ends (``_end`` says why)."""


class _Iterate(AsyncIterator[Any]):
    """Iterate over a receive method until the client ends; quietly if it ended quietly."""

    def __init__(self, client: ActorClient, receive: Any) -> None:
        self._client, self._receive = client, receive

    async def __anext__(self) -> Any:
        try:
            return await self._receive()
        except ConnectionClosed:
            if self._client._ended_quietly:
                raise StopAsyncIteration from None
            raise


@asynccontextmanager
async def connect(
    url: str | Sequence[str],
    *,
    encoding: Literal["cbor", "json", "raw"] = "cbor",
    reconnect: bool = True,
    backoff_initial: float = 0.1,
    backoff_max: float = 10.0,
    call_timeout: float = 30.0,
    connect_timeout: float = 10.0,
    close_timeout: float = 5.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float = 20.0,
    max_pending_events: int = 1000,
    max_pending_messages: int = 1000,
    max_message_size: int = 1 << 20,
    ssl_context: ssl.SSLContext | None = None,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
) -> AsyncIterator[ActorClient]:
    """Connect to the actor at ``url`` (``ws://host:port/<type>/<key>?query``).

    Build ``url`` with :func:`actor_url`, which percent-encodes the key (and the query).
    ``url`` may be a list of such URLs, the same actor on several nodes of a cluster: the
    client connects to the first that answers and, when a connection is lost, reconnects to
    the next ones in turn (docs/client.md, "Several servers").

    The first connection tries each URL once, in order: if none connects, this raises. Later
    ones are retried (see :data:`RETRIED_CLOSE_CODES`). Leaving the block closes the client
    with code 1000.

    Args:
        encoding: ``"cbor"`` (subprotocol ``roost.v1.cbor``), ``"json"`` (``roost.v1.json``)
            or ``"raw"`` (no subprotocol: messages pass unchanged).
        reconnect: reconnect after a retryable close; if False, the first drop ends the client.
        backoff_initial: the first reconnection waits 50-100% of this, in seconds.
        backoff_max: each further attempt doubles the delay, up to 50-100% of this. The
            attempts count from zero again once a connection stayed up this long.
        call_timeout: the longest a call (or a raw send) waits, for a connection and a reply.
        connect_timeout: the longest one connection attempt (TCP and handshake) may take.
        close_timeout: how long the close handshake may take before the socket is cut.
        ping_interval: after this long without data from the server, ping it; None: never.
        ping_timeout: no data this long after a ping: the connection is dead (1006).
        max_pending_events: events kept for :meth:`ActorClient.events`; when full, the
            oldest is dropped (counted in ``statistics().events_dropped``). Memory bound:
            this many events of at most ``max_message_size`` each.
        max_pending_messages: raw messages kept for :meth:`ActorClient.receive`; when full,
            the client stops reading (backpressure to the server), nothing is dropped.
        max_message_size: the largest message accepted from the server (frames declaring
            more close the connection with 1009).
        ssl_context: for ``wss://`` URLs; default: the system's trusted certificates.
        headers: extra headers of every upgrade request, for credentials such as
            ``{"Authorization": "Bearer ..."}`` (the app's authenticate hook reads them).
            Error messages and ``repr`` never show them, nor the URL's query.

    Raises:
        Disconnected: the first connection failed (network error, timeout) on every URL.
        HandshakeError: a server refused the first connection with a status that is not
            retried (``status``: its HTTP status; a retried one, such as 503, moves on to the
            next URL and is raised if it was the last), or chose no subprotocol for an
            envelope encoding.
        ValueError: ``url`` is not a ws:// or wss:// URL (or a non-empty list of them), a
            setting is out of range, or a header is malformed or one the handshake sets
            itself (Host, Sec-WebSocket-*).
        TypeError: ``url`` is neither a str nor a list of str.
    """
    settings = _Settings(
        encoding=encoding,
        reconnect=reconnect,
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
        call_timeout=call_timeout,
        connect_timeout=connect_timeout,
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_pending_events=max_pending_events,
        max_pending_messages=max_pending_messages,
        max_message_size=max_message_size,
        headers=check_headers(headers),
    )
    client = ActorClient(_url_list(url), settings, ssl_context)
    try:
        conn = await _first_connection(client)
    except BaseException:
        client._set_state(ClientState.CLOSED)
        raise
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client._run, conn)
            try:
                yield client
            finally:
                try:
                    await client.aclose()
                finally:
                    client._scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) != 1:
            raise
        # The nursery wraps what the block raised: give it back as it was raised.
        inner = group.exceptions[0]
        context = inner.__context__
        try:
            raise inner
        finally:
            inner.__context__ = context
            del inner, group
