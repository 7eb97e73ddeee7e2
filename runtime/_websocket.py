"""One accepted WebSocket: its reader loop, close handshake and keep-alive state.

The wire rules (frames, the pong owed for a ping, the close handshake, protocol errors as
close codes) are protocol's :class:`~roost.protocol.WebSocketConnection`, the core the client
and the test kit use too; this module adds what only a server does: turns, envelope calls,
keep-alive timing, the message rate and the lingering close after a violation.

The reader handles every frame of a ``recv`` in one pass and runs the actor's turn inline,
without handing the message to another task: while a turn runs, this connection is simply not
read, so a fast sender meets TCP back-pressure instead of growing a queue.

Long because: the reader, the close handshake, keep-alive and the envelope call path all
read and move the same per-connection state (``state``, ``can_send``, the close code and
the core), and the reader's loop is the hot path, kept in one function on purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from roost._errors import CommitFailed, EnvelopeError, ErrorCode, RpcError
from roost.actors import Actor, Connection
from roost.actors.hosting import bind_call
from roost.protocol import (
    BinaryMessage,
    Call,
    CloseCode,
    CloseReceived,
    ConnectionFailed,
    ConnectionState,
    Envelope,
    EnvelopeCodec,
    ErrorReply,
    Event,
    Ping,
    Pong,
    TextMessage,
    WebSocketConnection,
    check_close_code,
    encode_binary,
    encode_close,
    encode_text,
    envelope_error_for,
)

from . import _tracing
from ._access_log import SessionStart, session_ended
from ._placement import NotOwner
from ._rate import MessageRate
from ._session_state import SessionState
from ._transport import Detached, Peer

if TYPE_CHECKING:
    from ._slot import ActorSlot

log = logging.getLogger("roost.websocket")

__all__ = [
    "MAX_ERROR_MESSAGE",
    "SessionState",
    "WebSocketSession",
    "check_close_code",
    "clip_message",
    "linger_bytes",
]

#: The longest error message a reply carries: messages may repeat client text (a method
#: name, an argument), which must never make the reply too big to send (issue 12).
MAX_ERROR_MESSAGE = 200


def clip_message(message: str) -> str:
    """``message`` cut to :data:`MAX_ERROR_MESSAGE` characters (an ellipsis marks the cut)."""
    if len(message) <= MAX_ERROR_MESSAGE:
        return message
    return message[: MAX_ERROR_MESSAGE - 1] + "\u2026"


def _on_message(conn: Connection, message: str | bytes) -> Callable[[Actor], Awaitable[None]]:
    """The turn handler of one message: it returns the actor's own ``on_message`` coroutine,
    so a message costs no wrapper coroutine of ours (the receive path, issue 16). Named
    ``on_message``: tracing (runtime/_tracing) names the turn's event after its handler."""

    def on_message(actor: Actor) -> Awaitable[None]:
        return actor.on_message(conn, message)

    return on_message


def linger_bytes(max_message_size: int) -> int:
    """Bytes drained after closing for a violation: a refused message's rest and more."""
    return max(64 << 20, 4 * max_message_size)


class WebSocketSession:
    """The runtime's side of one connection; the actor only sees its :class:`Connection`."""

    __slots__ = (
        "access",
        "bytes_in",
        "can_raw",
        "can_send",
        "close_code",
        "close_deadline",
        "close_reason",
        "close_timeout",
        "codec",
        "conn",
        "in_turn",
        "last_seen",
        "max_message_size",
        "messages_in",
        "peer",
        "ping_sent_at",
        "rate",
        "read_ahead",
        "slot",
        "state",
        "ws",
    )

    def __init__(
        self,
        slot: ActorSlot,
        conn: Connection,
        peer: Peer,
        *,
        max_message_size: int,
        close_timeout: float,
        codec: EnvelopeCodec | None = None,
        max_messages_per_second: float = 0.0,
    ) -> None:
        self.slot = slot
        self.conn = conn
        self.peer = peer
        self.max_message_size = max_message_size
        self.close_timeout = close_timeout
        self.state = SessionState.CONNECTING
        # The wire's state machine; its CLOSED may run ahead of ``state`` while the turns of
        # messages read before a close frame still run.
        self.ws = WebSocketConnection(client=False, max_message_size=max_message_size)
        self.codec = codec  # None: raw mode; else the envelope codec of the subprotocol
        self.can_send = False  # data frames may be written (OPEN, no close frame sent yet)
        self.can_raw = False  # can_send, and in raw mode: what broadcast() checks
        self.close_code: int = CloseCode.ABNORMAL
        self.close_reason = ""
        self.close_deadline = float("inf")
        self.last_seen = trio.current_time()
        self.ping_sent_at: float | None = None
        self.access: SessionStart | None = None  # set at the upgrade when access_log is on
        self.bytes_in = self.messages_in = 0  # for the access log
        # The reader awaits a message's turn; what the peer sent meanwhile and the node read
        # for it (see read_during_turn), in order, for the reader to handle next.
        self.in_turn = False
        self.read_ahead: list[Event | ConnectionFailed] | None = None
        # Inbound messages per second (0: no limit); excess closes with 1008 (see _rate).
        self.rate = (
            MessageRate(max_messages_per_second, self.last_seen)
            if max_messages_per_second > 0
            else None
        )

    def opened(self) -> None:
        """The handshake response was written: frames may flow."""
        self.state = SessionState.OPEN
        self.can_send = True
        self.can_raw = self.codec is None

    def close(self, code: int, reason: str = "") -> None:
        """Start the close handshake (no-op when already closing).

        Raises:
            ValueError: ``code`` may not be sent by an endpoint.
        """
        check_close_code(code)
        if self.state is not SessionState.OPEN:
            return
        self.state = SessionState.CLOSING
        self.can_send = self.can_raw = False
        self.close_code, self.close_reason = code, reason
        self.close_deadline = trio.current_time() + self.close_timeout
        self.peer.write(self._close_frame(code, reason))

    def slow_consumer(self) -> None:
        """The peer fell ``max_outbound_bytes`` behind: close with 1008, cut if it stays mute.

        What is already queued stays queued (a partly written frame cannot be taken back);
        the close frame goes behind it, and ``close_timeout`` later the socket is cut.
        """
        if self.state is SessionState.CLOSED:
            return
        self.slot.registry.stats.slow_consumer_disconnects_total += 1
        self.state = SessionState.CLOSING
        self.can_send = self.can_raw = False
        self.close_code, self.close_reason = CloseCode.POLICY_VIOLATION, "slow consumer"
        self.close_deadline = trio.current_time() + self.close_timeout
        frame = self._close_frame(CloseCode.POLICY_VIOLATION, "slow consumer")
        self.peer.write(frame, force=True)

    def _close_frame(self, code: int, reason: str) -> bytes:
        """Our close frame, or b"" if one went out already.

        The core decodes a whole read at once, so it may hold the peer's close frame (or a
        violation) while the turns of the messages in front of it still run. A close from one
        of those turns supersedes what the core queued (the echo, or the error close): the
        peer gets the actor's code, as it did before the core.
        """
        frame = self.ws.send_close(code, reason)
        if not frame and self.ws.state is ConnectionState.CLOSED:
            self.ws.data_to_send()  # dropped: its pongs and close come after ours
            frame = encode_close(code, reason)
        return frame

    def keepalive(self, now: float, ping_interval: float, ping_timeout: float) -> None:
        """Ping a quiet peer; cut one that did not answer, or did not finish closing, in time."""
        if self.state is SessionState.CLOSING:
            if now >= self.close_deadline:
                self.peer.abort()
        elif self.state is SessionState.OPEN:
            if self.in_turn and not self.read_during_turn(now):
                # It sent more than the node keeps for it: alive, though not heard (its
                # pongs wait behind its messages until the turn is over).
                self.last_seen, self.ping_sent_at = now, None
            if self.ping_sent_at is not None:
                if now - self.ping_sent_at >= ping_timeout:
                    self.close_code, self.close_reason = CloseCode.ABNORMAL, "keepalive timeout"
                    self.peer.abort()
            elif now - self.last_seen >= ping_interval and self.ws.state is ConnectionState.OPEN:
                self.ping_sent_at = now
                self.peer.write(self.ws.send_ping(b"roost"))

    def read_during_turn(self, now: float) -> bool:
        """The reader is inside a message's turn (a call to another actor, a fetch: it may
        last minutes): read what the peer sent meanwhile, so that its pings are answered
        and its pongs count now, and keep every other event, in order, for the reader to
        handle once the turn is over (calls on one connection still run one after another,
        G2). Without it a turn longer than either side's keep-alive cost the connection.

        Bounded: once the events kept hold ``max_message_size`` bytes of messages (one read
        of at most 64 KiB more), nothing more is read until the reader catches up (the
        peer's TCP window fills); then this returns False. A read that holds a close or a
        protocol error answers nothing itself: everything from it waits for the reader, so
        nothing leaves ahead of the turn's output.
        """
        kept = self.read_ahead
        if kept and sum(len(getattr(e, "data", b"")) for e in kept) >= self.max_message_size:
            return False
        data = self.peer.receive_now()
        if not data:  # nothing yet, or the peer's EOF (which the reader reads again)
            return True
        self.last_seen = now
        self.bytes_in += len(data)
        events = self.ws.receive_data(data)
        if not any(e.__class__ is CloseReceived or e.__class__ is ConnectionFailed for e in events):
            for event in events:
                if event.__class__ is Ping:
                    self.peer.write(self.ws.data_to_send())  # the pong the core queued
                elif event.__class__ is Pong:
                    self.ping_sent_at = None
            events = [e for e in events if e.__class__ is not Ping and e.__class__ is not Pong]
        if events:
            if kept is None:
                self.read_ahead = events
            else:
                kept += events
        return True

    async def run(self, data: bytes) -> bool:
        """Read frames until the connection ends, then deliver ``on_close`` exactly once.

        ``data`` holds bytes that arrived right behind the handshake request. Returns True
        when the connection was detached while idle (:meth:`Peer.detach`): it goes on, and
        a new task calls ``run(b"")`` when the socket has bytes or is closed.
        """
        peer, ws, conn = self.peer, self.ws, self.conn
        stats = self.slot.registry.stats
        turn = self.slot.turn
        # Answered by the runtime itself, without a turn: keep-alives never wake an actor.
        auto = self.slot.cls.auto_response
        auto_request, auto_reply = (auto[0], encode_text(auto[1])) if auto else (None, b"")
        rate = self.rate
        failure: ConnectionFailed | None = None
        ended = False  # the peer's close frame or a protocol error was handled
        detached = False
        try:
            while not ended:
                # Every message decoded before a protocol error comes first (issue 12).
                events = ws.receive_data(data) if data else ()
                while events:
                    for event in events:
                        kind = event.__class__
                        if kind is TextMessage or kind is BinaryMessage:
                            if self.state is SessionState.OPEN:
                                stats.messages_received_total += 1
                                self.messages_in += 1
                                message = event.data  # type: ignore[union-attr]
                                if rate is not None and not rate.take(self.last_seen):
                                    self._too_fast()
                                elif self.codec is not None:
                                    self.in_turn = True
                                    await self._call(message)
                                    self.in_turn = False
                                elif message == auto_request:
                                    peer.write(auto_reply)
                                    stats.messages_sent_total += 1
                                else:
                                    # Inline, not a method: one coroutine less per message.
                                    self.in_turn = True
                                    try:
                                        await turn(_on_message(conn, message), may_group=True)
                                    except Exception:
                                        self._handler_failed()
                                    self.in_turn = False
                        elif kind is Ping:
                            # The core queued the pong (not once our close frame is out).
                            peer.write(ws.data_to_send())
                        elif kind is Pong:
                            self.ping_sent_at = None
                        elif kind is CloseReceived:
                            await self._close_received(event)  # type: ignore[arg-type]
                            ended = True
                            break
                        else:
                            failure = event  # type: ignore[assignment]
                            self._fail(failure)  # type: ignore[arg-type]
                            ended = True
                            break
                    if ended:
                        break
                    # What the node read for this connection while a turn ran comes next.
                    events, self.read_ahead = self.read_ahead or (), None
                if ended:
                    break
                try:
                    data = await peer.receive()
                except Detached:
                    detached = True
                    return True  # idle: this task ends, the connection does not
                self.bytes_in += len(data)
                if not data:
                    ws.receive_eof()
                    if self.state is not SessionState.CLOSING:
                        self.close_code, self.close_reason = CloseCode.ABNORMAL, "connection lost"
                    break
                self.last_seen = trio.current_time()
        except trio.ClosedResourceError:
            pass  # cut locally: keep-alive, slow consumer or shutdown set the code
        except Exception as exc:
            # A bug is this connection's failure, not the node's (style 16): 1011, logged once.
            log.exception(
                "WebSocket of %s/%s failed",
                self.slot.actor_type,
                self.slot.key,
                extra={"actor_type": self.slot.actor_type, "key": self.slot.key},
            )
            peer.write(ws.fail(exc))
            failure = ConnectionFailed(CloseCode.INTERNAL_ERROR, "internal error")
            self._fail(failure)
        finally:
            if not detached:
                self.state = SessionState.CLOSED
                self.can_send = self.can_raw = False
                if failure is None:
                    peer.abort()
        if self.access is not None:
            code = int(self.close_code)
            session_ended(
                self.access, self.conn, code, bytes_in=self.bytes_in, messages_in=self.messages_in
            )
        try:
            await self._closed()
        finally:
            if failure is not None:
                await self._linger()
        return False

    def _handler_failed(self) -> None:
        """on_message raised (called from its ``except``): log it with the actor's names."""
        log.exception(
            "on_message failed for %s/%s; the turn was rolled back",
            self.slot.actor_type,
            self.slot.key,
            extra={"actor_type": self.slot.actor_type, "key": self.slot.key},
        )

    def encode(self, envelope: Envelope) -> bytes:
        """An envelope as a ready WebSocket frame (text for JSON, binary for CBOR).

        Raises:
            EnvelopeError: the value cannot be encoded or is over the limits.
        """
        assert self.codec is not None
        data = self.codec.encode(envelope)
        return encode_text(data) if isinstance(data, str) else encode_binary(data)

    async def _call(self, message: str | bytes) -> None:
        """An envelope from the client: run a call as a turn and reply after its commit."""
        assert self.codec is not None
        envelope: Envelope | None = None
        try:
            envelope = self.codec.decode(message)
            if not isinstance(envelope, Call):
                raise RpcError(ErrorCode.BAD_REQUEST.value, "clients send calls only")
            invoke = bind_call(self.slot.cls, envelope.method, envelope.args)
        except (EnvelopeError, RpcError) as exc:
            call_id = envelope.id if isinstance(envelope, Call) else None
            decision = envelope_error_for(exc, call_id=call_id)
            if isinstance(decision, ErrorReply):
                self._reply(decision)
            else:
                self.close(*decision)
            return
        conn, slot, call_id, codec = self.conn, self.slot, envelope.id, self.codec

        async def call(actor: Actor) -> None:
            value = await invoke(actor, conn)
            try:
                data = codec.encode_result(call_id, value)
                frame = encode_text(data) if isinstance(data, str) else encode_binary(data)
            except EnvelopeError as exc:  # unencodable or too large: the turn still commits
                decision = envelope_error_for(exc, call_id=call_id)
                assert isinstance(decision, ErrorReply)
                self._reply(decision)
                return
            slot.queue_result(self, call_id, frame)  # leaves after the commit (G4)

        try:
            turn = slot.turn(call, may_group=True)
            if _tracing.tracer is not None:  # OpenTelemetry (runtime/_tracing)
                turn = _tracing.traced_rpc(
                    turn, slot.actor_type, slot.key, envelope.method, server=True
                )
            await turn
        except CommitFailed:
            pass  # every call of the failed commit was answered "unavailable"
        except RpcError as exc:
            self._reply(ErrorReply(id=call_id, code=exc.code, message=exc.message))
        except Exception:
            log.exception(
                "rpc %s of %s/%s failed",
                envelope.method,
                slot.actor_type,
                slot.key,
                extra={"actor_type": slot.actor_type, "key": slot.key, "method": envelope.method},
            )
            self._reply(
                ErrorReply(id=call_id, code=ErrorCode.INTERNAL.value, message="the method failed")
            )

    def reply_error(self, call_id: int | None, code: str, message: str) -> None:
        """Answer a call with an error reply now (not gated: it reveals nothing written)."""
        self._reply(ErrorReply(id=call_id, code=code, message=message))

    def _reply(self, reply: ErrorReply) -> None:
        """An error reply: never gated, it reveals nothing a turn wrote.

        Its message is clipped, so an echo of client text always fits in the limits and a
        refused call never costs the connection (G8).
        """
        if self.can_send:
            message = clip_message(reply.message)
            if message != reply.message:
                reply = ErrorReply(id=reply.id, code=reply.code, message=message)
            self.peer.write(self.encode(reply))

    def _too_fast(self) -> None:
        """Over ``max_messages_per_second``: close with 1008 and log it (once: the connection
        is CLOSING now, so its later messages are neither delivered nor counted)."""
        assert self.rate is not None
        log.warning(
            "closing connection %s of %s/%s: over %s messages per second",
            self.conn.id,
            self.slot.actor_type,
            self.slot.key,
            self.rate.per_second,
        )
        self.close(CloseCode.POLICY_VIOLATION, "message rate exceeded")

    def _fail(self, failure: ConnectionFailed) -> None:
        """The peer broke the protocol: the core queued the close with the matching code and
        reason (G8); it goes out now, and ``_linger`` hangs up."""
        if self.state is SessionState.OPEN:
            self.state = SessionState.CLOSING
            self.can_send = self.can_raw = False
        self.peer.write(self.ws.data_to_send())
        self.close_code, self.close_reason = failure.code, failure.reason

    async def _linger(self) -> None:
        """Half-close and drain after a violation, so the peer reads why it was closed.

        The peer may still be sending (the rest of a 20 MiB message refused with 1009): closing
        now would reset the connection and destroy our close frame before the peer reads it
        (issue 15). So our write side is shut down behind the close frame, and what the peer
        still sends is read and dropped until its EOF, for at most ``close_timeout`` seconds
        and ``linger_bytes(max_message_size)`` bytes, in a fixed 64 KiB buffer.
        """
        with trio.move_on_after(self.close_timeout):
            await self.peer.aclose(linger_bytes=linger_bytes(self.max_message_size))
        self.peer.abort()

    async def _close_received(self, event: CloseReceived) -> None:
        if self.state is SessionState.OPEN:
            # The peer started the handshake: the core echoes its code, then we close TCP.
            self.close_code, self.close_reason = event.code, event.reason
            self.can_send = self.can_raw = False
        # The echo, if the core owes one (the actor may have closed during this batch's
        # turns, after the core had already read the peer's close: then the echo is the one
        # close frame we send).
        self.peer.write(self.ws.data_to_send())
        self.state = SessionState.CLOSED
        with trio.move_on_after(self.close_timeout):
            await self.peer.aclose()

    async def _closed(self) -> None:
        """Forget the connection and run ``on_close`` as a turn (exactly once)."""
        slot, conn = self.slot, self.conn
        if slot.sessions.pop(conn, None) is None:
            return
        # A plain int: the actor may put it in an envelope, whose data model has no enums.
        code, reason = int(self.close_code), self.close_reason

        async def on_close(actor: Actor) -> None:
            await actor.on_close(conn, code, reason)
            if slot._presence is not None:
                slot._presence.connection_closed(conn)

        try:
            await slot.turn(on_close, may_group=True)
        except NotOwner:
            pass  # the actor left this node (its lease): the new owner is not told of us
        except Exception:
            log.exception(
                "on_close failed for %s/%s",
                slot.actor_type,
                slot.key,
                extra={"actor_type": slot.actor_type, "key": slot.key},
            )
