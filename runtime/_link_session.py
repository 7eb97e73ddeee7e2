"""One established node link: its streams, calls, flow control and keep-alive.

A :class:`Link` runs three tasks on one transport (a TCP or TLS stream whose handshake is
done, see runtime/_links.py): a reader that never blocks on anyone (frames go into bounded
per-stream buffers), a writer that sends what the others queue, and a pinger. Stream data
flows under per-stream credit (the receiver's window), so a stream nobody reads stops its
sender only, never the link; control frames (credit, pongs, resets) are queued without
waiting. When anything fails, :meth:`Link.lose` fails every stream and call in flight with
:class:`StreamBroken` / :class:`~roost._errors.LinkUnavailable` and the link ends.

Long because: streams, calls and the link share one state (the queue to write, the maps of
streams and calls, the loss); split, each half would reach into the other's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from roost._errors import (
    ErrorCode,
    LinkError,
    LinkUnavailable,
    RpcError,
    Unavailable,
    UnencodableValue,
)
from roost.protocol._link import (
    MAX_PAYLOAD,
    Frame,
    FrameDecoder,
    FrameType,
    decode_goaway,
    decode_value,
    decode_window,
    encode_data,
    encode_frame,
    encode_goaway,
    encode_message,
    encode_open,
    encode_window,
)

log = logging.getLogger("roost.links")

#: Queued output above which stream writers wait for the writer task.
_HIGH_WATER = 256 * 1024
#: Queued output that means the peer stopped reading the link: it is lost.
_MAX_QUEUED = 8 << 20


class StreamBroken(LinkUnavailable, trio.BrokenResourceError):
    """A link stream is gone: the peer reset it, or its link was lost. Both a
    :class:`~roost._errors.LinkUnavailable` and a ``trio.BrokenResourceError``, so code
    that pumps bytes between streams (runtime/_handoff.splice) stops on it as on any
    broken stream."""


@attrs.define
class Counters:
    """What every link of a node adds to (read by ``NodeLinks.statistics``)."""

    streams: int = 0
    calls_total: int = 0
    bytes_in: int = 0
    bytes_out: int = 0


StreamHandler = Callable[[str, dict[str, Any], "LinkStream"], Awaitable[None]]
CallHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]


@attrs.define(eq=False)
class _PendingCall:
    done: trio.Event = attrs.field(factory=trio.Event)
    value: Any = None
    error: Exception | None = None


class Link:
    """Streams and calls over one authenticated transport.

    Args:
        transport: the stream after the handshake; ``leftover`` frames were read with it.
        dialer: whether this side dialed (it opens odd stream ids, the other side even ones).
        peer_node: the peer's node id, from its HELLO.
        send_window: the peer's receive window per stream (our initial credit).
        recv_window: ours: at most this many bytes are buffered per stream.
    """

    def __init__(
        self,
        *,
        transport: trio.abc.Stream,
        decoder: FrameDecoder,
        leftover: list[Frame],
        dialer: bool,
        peer_node: str,
        send_window: int,
        recv_window: int,
        max_streams: int,
        ping_interval: float,
        ping_timeout: float,
        on_stream: StreamHandler,
        on_call: CallHandler,
        counters: Counters,
    ) -> None:
        self.peer_node = peer_node
        self.dialer = dialer
        self.error: LinkUnavailable | None = None
        self.cancel_scope = trio.CancelScope()
        self._transport = transport
        self._decoder = decoder
        self._leftover = leftover
        self._send_window = send_window
        self.recv_window = recv_window
        self._max_streams = max_streams
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._on_stream = on_stream
        self._on_call = on_call
        self.counters = counters
        self.streams: dict[int, LinkStream] = {}
        self._calls: dict[int, _PendingCall] = {}
        self._serving_calls = 0
        self._next_stream = 1 if dialer else 2
        self._next_call = 1
        self._out = bytearray()
        self._has_output = trio.Event()
        self._room = trio.Event()
        self._last_rx = trio.current_time()
        self._rx: trio.Event | None = None
        self._nursery: trio.Nursery | None = None

    @property
    def alive(self) -> bool:
        return self.error is None

    async def serve(self) -> None:
        """Run the link until it is lost or cancelled; then fail what is in flight."""
        try:
            with self.cancel_scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(self._guard, self._writer)
                    nursery.start_soon(self._guard, self._reader)
                    nursery.start_soon(self._guard, self._pinger)
        finally:
            self.lose(LinkUnavailable(f"the link to node {self.peer_node} was closed"), quiet=True)
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await self._transport.aclose()

    async def _guard(self, task: Callable[[], Awaitable[None]]) -> None:
        try:
            await task()
        except LinkError as exc:
            self.lose(LinkUnavailable(f"the link to node {self.peer_node} was lost: {exc}"))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            reason = f"{exc}" or type(exc).__name__
            self.lose(LinkUnavailable(f"the link to node {self.peer_node} was lost: {reason}"))

    def lose(self, error: LinkUnavailable, *, quiet: bool = False) -> None:
        """Fail every stream and call in flight with ``error``; end the link (idempotent).
        Logged as one line, a warning unless ``quiet`` (the link was closed on purpose)."""
        if self.error is not None:
            return
        self.error = error
        log.log(logging.INFO if quiet else logging.WARNING, "%s", error)
        for stream in self.streams.values():
            stream.fail(StreamBroken(str(error)))
        self.counters.streams -= len(self.streams)
        self.streams.clear()
        for call in self._calls.values():
            call.error = error
            call.done.set()
        self._calls.clear()
        self._room.set()
        self.cancel_scope.cancel()

    def check(self) -> None:
        """Raise a fresh LinkUnavailable if the link is lost."""
        if self.error is not None:
            raise LinkUnavailable(str(self.error))

    # Output -------------------------------------------------------------------------------

    def queue(self, data: bytes) -> None:
        """Queue frames without waiting (control frames and the first part of writes)."""
        self.check()
        self._out += data
        self._has_output.set()
        if len(self._out) > _MAX_QUEUED:
            self.lose(LinkUnavailable(f"node {self.peer_node} stopped reading the link"))
            self.check()

    async def write(self, data: bytes) -> None:
        """Queue frames once the queue is below its high-water mark."""
        while len(self._out) >= _HIGH_WATER:
            self.check()
            if self._room.is_set():
                self._room = trio.Event()
            await self._room.wait()
        self.queue(data)

    async def _writer(self) -> None:
        while True:
            await self._has_output.wait()
            self._has_output = trio.Event()
            while self._out:
                chunk = bytes(self._out)
                self._out.clear()
                self._room.set()
                await self._transport.send_all(chunk)
                self.counters.bytes_out += len(chunk)

    def goaway(self, code: str, message: str) -> None:
        """Tell the peer the link is closing (best effort: it is queued, then the link ends)."""
        if self.error is None:
            self._out += encode_goaway(code, message)
            self._has_output.set()

    # Input --------------------------------------------------------------------------------

    async def _reader(self) -> None:
        frames, self._leftover = self._leftover, []
        for frame in frames:
            self._dispatch(frame)
        while True:
            data = await self._transport.receive_some(MAX_PAYLOAD + 64)
            if not data:
                raise LinkError("the peer closed the connection")
            self.counters.bytes_in += len(data)
            self._last_rx = trio.current_time()
            if self._rx is not None:
                self._rx.set()
            for frame in self._decoder.receive_data(data):
                self._dispatch(frame)

    def _dispatch(self, frame: Frame) -> None:
        kind = frame.type
        if kind is FrameType.DATA:
            stream = self.streams.get(frame.id)
            if stream is not None:
                stream.receive(frame.payload)
        elif kind is FrameType.WINDOW:
            stream = self.streams.get(frame.id)
            credit = decode_window(frame.payload)
            if stream is not None:
                stream.grant(credit)
        elif kind is FrameType.OPEN:
            self._opened(frame)
        elif kind is FrameType.EOF:
            if (stream := self.streams.get(frame.id)) is not None:
                stream.receive_eof()
        elif kind is FrameType.RESET:
            if (stream := self.streams.pop(frame.id, None)) is not None:
                self.counters.streams -= 1
                reason = frame.payload.decode("utf-8", "replace")
                stream.fail(StreamBroken(f"stream reset by node {self.peer_node}: {reason}"))
        elif kind is FrameType.CALL:
            self._called(frame)
        elif kind is FrameType.RESULT or kind is FrameType.ERROR:
            self._answered(frame)
        elif kind is FrameType.PING:
            self.queue(encode_frame(FrameType.PONG, 0, frame.payload[:8]))
        elif kind is FrameType.GOAWAY:
            _, message = decode_goaway(frame.payload)
            raise LinkError(f"node {self.peer_node} closed it: {message}")
        elif kind is not FrameType.PONG:
            raise LinkError(f"unexpected {kind.name} frame")

    async def _pinger(self) -> None:
        while True:
            await trio.sleep_until(self._last_rx + self._ping_interval)
            sent = trio.current_time()
            if sent < self._last_rx + self._ping_interval:
                continue
            self.queue(encode_frame(FrameType.PING, 0, b"roost"))
            deadline = sent + self._ping_timeout
            while self._last_rx < sent:
                if trio.current_time() >= deadline:
                    raise LinkError(f"no answer to a ping within {self._ping_timeout} s")
                self._rx = trio.Event()
                with trio.move_on_at(deadline):
                    await self._rx.wait()
                self._rx = None

    # Streams ------------------------------------------------------------------------------

    def open_stream(self, header: dict[str, Any]) -> LinkStream:
        """Open a stream to the peer (no round trip: a refusal comes as a reset)."""
        self.check()
        if len(self.streams) >= self._max_streams:
            raise LinkUnavailable(f"{self._max_streams} streams are open to node {self.peer_node}")
        stream_id = self._next_stream
        if stream_id > 0xFFFF_FFFF:
            raise LinkUnavailable("stream ids of this link are exhausted")
        try:
            frame = encode_open(stream_id, header)
        except ValueError as exc:
            raise UnencodableValue(f"stream header: {exc}") from None
        self._next_stream += 2
        self.queue(frame)
        return self._add_stream(stream_id)

    def _add_stream(self, stream_id: int) -> LinkStream:
        stream = LinkStream(self, stream_id, self._send_window)
        self.streams[stream_id] = stream
        self.counters.streams += 1
        return stream

    def forget(self, stream_id: int) -> None:
        if self.streams.pop(stream_id, None) is not None:
            self.counters.streams -= 1

    def _opened(self, frame: Frame) -> None:
        stream_id = frame.id
        if stream_id % 2 != (0 if self.dialer else 1) or stream_id in self.streams:
            raise LinkError(f"bad stream id {stream_id} in OPEN")
        header = decode_value(frame.payload)
        if not isinstance(header, dict):
            raise LinkError("a stream header must be a map")
        if len(self.streams) >= self._max_streams:
            self.queue(encode_frame(FrameType.RESET, stream_id, b"too many streams"))
            return
        stream = self._add_stream(stream_id)
        assert self._nursery is not None
        self._nursery.start_soon(self._serve_stream, header, stream)

    async def _serve_stream(self, header: dict[str, Any], stream: LinkStream) -> None:
        try:
            await self._on_stream(self.peer_node, header, stream)
        except (LinkUnavailable, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the stream or its link went away under the handler: nothing to report
        except Exception:
            log.exception("link stream handler failed (node %s, header %r)", self.peer_node, header)
        finally:
            await stream.aclose()

    # Calls --------------------------------------------------------------------------------

    async def call(self, request: dict[str, Any]) -> Any:
        """Send ``request``; its result, or RpcError as the peer's handler raised it (the
        caller bounds the wait)."""
        self.check()
        call_id = self._next_call
        self._next_call = self._next_call % 0xFFFF_FFFF + 1
        try:
            message = encode_message(FrameType.CALL, call_id, request)
        except ValueError as exc:
            raise UnencodableValue(f"call request: {exc}") from None
        pending = self._calls[call_id] = _PendingCall()
        self.counters.calls_total += 1
        try:
            await self.write(message)
            await pending.done.wait()
        finally:
            self._calls.pop(call_id, None)
        if pending.error is not None:
            raise pending.error
        return pending.value

    def _answered(self, frame: Frame) -> None:
        pending = self._calls.pop(frame.id, None)
        value = decode_value(frame.payload)
        if pending is None:
            return  # timed out meanwhile
        if frame.type is FrameType.RESULT:
            pending.value = value
        elif (
            isinstance(value, dict)
            and isinstance(code := value.get("code"), str)
            and isinstance(message := value.get("message"), str)
        ):
            pending.error = (
                Unavailable(message) if code == "unavailable" else RpcError(code, message)
            )
        else:
            raise LinkError("malformed ERROR frame")
        pending.done.set()

    def _called(self, frame: Frame) -> None:
        if self._serving_calls >= self._max_streams:
            self._reply_error(frame.id, ErrorCode.UNAVAILABLE, "too many calls in progress")
            return
        request = decode_value(frame.payload)
        if not isinstance(request, dict):
            self._reply_error(frame.id, ErrorCode.BAD_REQUEST, "a call request must be a map")
            return
        self._serving_calls += 1
        assert self._nursery is not None
        self._nursery.start_soon(self._serve_call, frame.id, request)

    def _reply_error(self, call_id: int, code: ErrorCode, message: str) -> None:
        reply = {"code": code.value, "message": message}
        self.queue(encode_message(FrameType.ERROR, call_id, reply))

    async def _serve_call(self, call_id: int, request: dict[str, Any]) -> None:
        try:
            await self._answer_call(call_id, request)
        except LinkUnavailable:
            pass  # the link was lost: the caller fails with LinkUnavailable

    async def _answer_call(self, call_id: int, request: dict[str, Any]) -> None:
        try:
            result = await self._on_call(self.peer_node, request)
        except RpcError as exc:
            reply = {"code": str(exc.code), "message": str(exc.message)}
            await self.write(encode_message(FrameType.ERROR, call_id, reply))
            return
        except Exception:
            log.exception("link call handler failed (node %s)", self.peer_node)
            self._reply_error(call_id, ErrorCode.INTERNAL, "internal error")
            return
        finally:
            self._serving_calls -= 1
        try:
            message = encode_message(FrameType.RESULT, call_id, result)
        except ValueError as exc:
            log.error("link call result cannot be sent to node %s: %s", self.peer_node, exc)
            self._reply_error(call_id, ErrorCode.INTERNAL, "the result cannot be sent")
            return
        await self.write(message)


class LinkStream(trio.abc.HalfCloseableStream):
    """A byte stream inside a link; its receive buffer holds at most the link's window."""

    def __init__(self, link: Link, stream_id: int, credit: int) -> None:
        self.id = stream_id
        self._link = link
        self._buffer = bytearray()
        self._readable = trio.Event()
        self._credit = credit
        self._credited = trio.Event()
        self._unacked = 0
        self._eof_received = False
        self._eof_sent = False
        self._closed = False
        self._error: StreamBroken | None = None
        self._sending = False
        self._receiving = False

    # Called by the link's reader (never blocks).
    def receive(self, data: bytes) -> None:
        if self._eof_received:
            raise LinkError(f"DATA after EOF on stream {self.id}")
        if len(self._buffer) + self._unacked + len(data) > self._link.recv_window:
            raise LinkError(f"stream {self.id} overran its window")
        self._buffer += data
        self._readable.set()

    def receive_eof(self) -> None:
        self._eof_received = True
        self._readable.set()

    def grant(self, credit: int) -> None:
        self._credit += credit
        self._credited.set()

    def fail(self, error: StreamBroken) -> None:
        if self._error is None:
            self._error = error
        self._readable.set()
        self._credited.set()

    def _check(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the stream was closed")
        if self._error is not None:
            raise StreamBroken(str(self._error))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this stream")
        self._sending = True
        try:
            await trio.lowlevel.checkpoint()
            if self._eof_sent:
                raise trio.ClosedResourceError("send_eof() was called on this stream")
            self._check()
            view = memoryview(data).cast("B")
            while view:
                while self._credit <= 0:
                    await self._wait_credit()
                    self._check()
                count = min(len(view), self._credit)
                self._credit -= count
                try:
                    await self._link.write(encode_data(self.id, bytes(view[:count])))
                except LinkUnavailable as exc:
                    raise StreamBroken(str(exc)) from None
                view = view[count:]
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        while self._credit <= 0 and not self._closed and self._error is None:
            await self._wait_credit()
        await trio.lowlevel.checkpoint()

    async def _wait_credit(self) -> None:
        if self._credited.is_set():
            self._credited = trio.Event()
        await self._credited.wait()

    async def send_eof(self) -> None:
        await trio.lowlevel.checkpoint()
        if self._eof_sent:
            return
        self._check()
        self._eof_sent = True
        try:
            self._link.queue(encode_frame(FrameType.EOF, self.id))
        except LinkUnavailable as exc:
            raise StreamBroken(str(exc)) from None

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._receiving:
            raise trio.BusyResourceError("another task is receiving on this stream")
        self._receiving = True
        try:
            await trio.lowlevel.checkpoint()
            while not self._buffer and not self._eof_received:
                self._check()
                self._readable = trio.Event()
                await self._readable.wait()
            if self._closed:
                raise trio.ClosedResourceError("the stream was closed")
            if not self._buffer:
                return b""  # EOF: the peer half-closed
            count = len(self._buffer) if max_bytes is None else min(max_bytes, len(self._buffer))
            data = bytes(self._buffer[:count])
            del self._buffer[:count]
            self._unacked += count
            if self._unacked * 2 >= self._link.recv_window and self._error is None:
                self._link.queue(encode_window(self.id, self._unacked))
                self._unacked = 0
            return data
        finally:
            self._receiving = False

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            link = self._link
            if self.id in link.streams:
                link.forget(self.id)
                if link.alive and not (self._eof_sent and self._eof_received):
                    link.queue(encode_frame(FrameType.RESET, self.id, b"closed"))
            self._readable.set()
            self._credited.set()
        await trio.lowlevel.checkpoint()
