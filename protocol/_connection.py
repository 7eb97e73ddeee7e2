"""One WebSocket connection as a sans-I/O state machine, for either side of the wire.

:class:`WebSocketConnection` owns what every endpoint must do the same way, so roost's client,
its test kit and (later) its server stop writing it three times: frames in through a
:class:`~roost.protocol.FrameDecoder`, masking when it is the client, the pong owed for a
ping, the close handshake (echo the peer's code, or wait for the echo of ours), and protocol
errors turned into a close code in one place (:func:`close_code_for`). Bytes go in through
:meth:`~WebSocketConnection.receive_data`; events come out of it; every ``send_*`` method
returns the bytes to write; what the connection itself owes the peer (a pong, the close echo,
the close after a protocol error) waits in :meth:`~WebSocketConnection.data_to_send`. There
is no I/O, no clock and no trio here: keep-alive timing and the socket are the caller's.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from typing import cast

import attrs

from roost._errors import ConnectionClosed, EnvelopeError, ProtocolError

from ._events import BinaryMessage, CloseCode, CloseReceived, Event, Ping, TextMessage
from ._frames import (
    FrameDecoder,
    close_for_error,
    encode_binary,
    encode_close,
    encode_ping,
    encode_pong,
    encode_text,
)

__all__ = [
    "ConnectionFailed",
    "ConnectionState",
    "WebSocketConnection",
    "close_code_for",
]


class ConnectionState(enum.Enum):
    """Where a connection is in the close handshake; :data:`_TRANSITIONS` lists the moves."""

    OPEN = "open"
    CLOSE_SENT = "close_sent"  # we sent a close frame and wait for the peer's
    CLOSED = "closed"  # both close frames passed, the peer broke the protocol, or EOF


_TRANSITIONS = {
    ConnectionState.OPEN: {ConnectionState.CLOSE_SENT, ConnectionState.CLOSED},
    ConnectionState.CLOSE_SENT: {ConnectionState.CLOSED},
    ConnectionState.CLOSED: set(),
}


@attrs.frozen
class ConnectionFailed:
    """The peer broke the protocol: a close frame with ``code`` waits in ``data_to_send()``
    and the connection is over. Comes after every message decoded before the error."""

    code: int
    reason: str


def close_code_for(exc: BaseException) -> tuple[int, str]:
    """The close code and reason an error ends a connection with; the one place for both
    frame errors and envelope errors that close (1002, 1003, 1007, 1009), else 1011.

    Internal details never reach the peer: anything unexpected is ``1011 internal error``.
    """
    if isinstance(exc, EnvelopeError) and exc.close_code is not None:
        return exc.close_code, exc.reason
    return close_for_error(exc)


def _random_mask() -> bytes:
    return os.urandom(4)


class WebSocketConnection:
    """One WebSocket endpoint after the opening handshake: bytes in, events and bytes out.

    Events returned by :meth:`receive_data` are the codec's (:class:`TextMessage`,
    :class:`BinaryMessage`, :class:`Ping`, :class:`Pong`, :class:`CloseReceived`) plus
    :class:`ConnectionFailed`; a ping's pong and a close's echo are queued before the call
    returns, so a caller writes :meth:`data_to_send` after handling the events. After the
    peer's close frame or a failure the connection is :attr:`~ConnectionState.CLOSED`, and
    :attr:`close_code` / :attr:`close_reason` say how it ended.

    Memory bound: the decoder's (see :class:`FrameDecoder`) plus the queued control frames,
    at most one pong per ping read (each under 130 bytes) and one close frame.

    Args:
        client: Be the client: frames sent are masked and frames received must not be.
        max_message_size: Largest message accepted from the peer (larger: 1009).
        mask: Where 4-byte masks come from (a client only); random by default, fixed in
            byte-level tests.
    """

    def __init__(
        self,
        *,
        client: bool,
        max_message_size: int = 1 << 20,
        mask: Callable[[], bytes] = _random_mask,
    ) -> None:
        self.client = client
        self._decoder = FrameDecoder(max_message_size=max_message_size, client=client)
        self._mask = mask if client else None
        self._state = ConnectionState.OPEN
        self._outgoing = bytearray()
        #: How the connection ended: the peer's close code (the echo of ours when we closed
        #: first), the failure's code, or 1006 when the stream ended without a close frame.
        self.close_code: int | None = None
        self.close_reason = ""

    @property
    def state(self) -> ConnectionState:
        return self._state

    def _set_state(self, state: ConnectionState) -> None:
        if state not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"illegal connection transition {self._state.name} -> {state.name}")
        self._state = state

    def _key(self) -> bytes | None:
        return None if self._mask is None else self._mask()

    # -- sending -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is not ConnectionState.OPEN:
            raise ConnectionClosed(self.close_code or int(CloseCode.ABNORMAL), self.close_reason)

    def send_text(self, data: str) -> bytes:
        """The frame of one text message.

        Raises:
            ConnectionClosed: a close frame was sent or received.
        """
        self._check_open()
        return encode_text(data, mask=self._key())

    def send_binary(self, data: bytes) -> bytes:
        """The frame of one binary message.

        Raises:
            ConnectionClosed: a close frame was sent or received.
        """
        self._check_open()
        return encode_binary(bytes(data), mask=self._key())

    def send_message(self, message: str | bytes) -> bytes:
        """The frame of one message: text for ``str``, binary for ``bytes``."""
        if isinstance(message, str):
            return self.send_text(message)
        return self.send_binary(message)

    def send_ping(self, payload: bytes = b"") -> bytes:
        """A ping frame (at most 125 payload bytes); the peer owes a pong echoing it.

        Raises:
            ConnectionClosed: a close frame was sent or received.
        """
        self._check_open()
        return encode_ping(payload, mask=self._key())

    def send_close(self, code: int = CloseCode.NORMAL, reason: str = "") -> bytes:
        """Start the close handshake: the close frame, or ``b""`` if it is already started.

        Raises:
            ValueError: ``code`` may not be sent (1006, 1015, unregistered ranges).
        """
        if self._state is not ConnectionState.OPEN:
            return b""
        frame = encode_close(code, reason, mask=self._key())
        self._set_state(ConnectionState.CLOSE_SENT)
        return frame

    def fail(self, exc: BaseException) -> bytes:
        """End the connection for ``exc`` (a frame or envelope error, or a bug): the close
        frame to write (``b""`` if ours was sent already), its code mapped by
        :func:`close_code_for`, with the reason from a server and without from a client.
        The connection is then closed."""
        code, reason = close_code_for(exc)
        return self._fail(code, reason)

    def _fail(self, code: int, reason: str) -> bytes:
        frame = b""
        if self._state is ConnectionState.OPEN:
            # A server explains its error closes (its reasons are part of the protocol for
            # clients); a client tells a broken server only the code and keeps the reason.
            sent = "" if self.client else reason
            frame = encode_close(code, sent, mask=self._key())
        if self._state is not ConnectionState.CLOSED:
            self._set_state(ConnectionState.CLOSED)
            self.close_code, self.close_reason = code, reason
        return frame

    def data_to_send(self) -> bytes:
        """What the connection owes the peer (pongs, a close echo or error close); clears it."""
        if not self._outgoing:
            return b""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    # -- receiving -----------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event | ConnectionFailed]:
        """Feed bytes read from the peer; return the events they complete, in order.

        Messages decoded before a protocol error are returned first, then one
        :class:`ConnectionFailed`; bytes after the connection closed are ignored.
        """
        if self._state is ConnectionState.CLOSED or not data:
            return []
        decoder = self._decoder
        controls = decoder.controls
        events: list[Event | ConnectionFailed]
        try:
            # The decoder's fresh list, extended in place (no copy on the hot path: this runs
            # for every read of every server connection).
            events = decoder.receive_data(data)  # type: ignore[assignment]
            failure = decoder.failure
        except ProtocolError as exc:
            events, failure = [], exc
        if decoder.controls == controls:  # only messages: nothing owed, nothing to look at
            if failure is not None:
                events.append(self._failed(failure))
            return events
        for event in events:
            kind = event.__class__
            if kind is TextMessage or kind is BinaryMessage:
                continue
            if kind is Ping:
                if self._state is ConnectionState.OPEN:
                    payload = cast("Ping", event).payload
                    self._outgoing += encode_pong(payload, mask=self._key())
            elif kind is CloseReceived:
                close = cast("CloseReceived", event)
                if self._state is ConnectionState.OPEN:  # the peer started: echo its code
                    self._outgoing += encode_close(close.code, mask=self._key())
                self._set_state(ConnectionState.CLOSED)
                self.close_code, self.close_reason = close.code, close.reason
                # The decoder ignores what follows a close too.
                return events[: events.index(event) + 1]
        if failure is not None:
            events.append(self._failed(failure))
        return events

    def _failed(self, failure: BaseException) -> ConnectionFailed:
        """The peer broke the protocol: queue the close frame and say so."""
        code, reason = close_code_for(failure)
        self._outgoing += self._fail(code, reason)
        return ConnectionFailed(code, reason)

    def receive_eof(self) -> None:
        """The stream ended; without a close frame that is an abnormal closure (1006)."""
        if self._state is not ConnectionState.CLOSED:
            self._set_state(ConnectionState.CLOSED)
            self.close_code = int(CloseCode.ABNORMAL)
            self.close_reason = "connection closed without a close frame"
