"""WebSocket frames (RFC 6455): a sans-I/O decoder, frame encoders and the close-code mapping.

Bytes go in and events come out; frames to send come out of plain functions. There is no I/O,
no clock and no trio here: the runtime owns the socket. We negotiate no extensions, so any RSV
bit is a protocol error. Server frames are unmasked, so one encoded frame can be written to
many peers unchanged.

Long because: most of it is the decoder, one state machine over one buffer (partial frames,
fragmented messages, UTF-8 checked as bytes arrive, the fast path for small frames that the
relay benchmarks depend on); the encoders share its header and masking tables. Split, the
pieces would pass the same buffer and fragment state back and forth.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable
from typing import TypeAlias

from roost._errors import InvalidFrameData, MessageTooBig, ProtocolError

from ._events import (
    BinaryMessage,
    CloseCode,
    CloseReceived,
    Event,
    Opcode,
    Ping,
    Pong,
    TextMessage,
)

_Append: TypeAlias = Callable[[Event], None]

_MAX_CONTROL_PAYLOAD = 125
_MAX_CLOSE_REASON = _MAX_CONTROL_PAYLOAD - 2


def _is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame on the wire (RFC 6455 §7.4)."""
    return (
        CloseCode.NORMAL <= code <= CloseCode.UNSUPPORTED_DATA
        or CloseCode.INVALID_DATA <= code <= CloseCode.BAD_GATEWAY  # 1015 is never sent
        or 3000 <= code <= 4999
    )


def check_close_code(code: int) -> None:
    """Raise ValueError unless an endpoint may send ``code`` in a close frame: the one rule
    for actors' ``conn.close``, the server's own closes and :func:`encode_close`."""
    if not _is_valid_close_code(code):
        raise ValueError(f"close code {code} cannot be sent")


# For payloads under 126 bytes: the mask as an int times _REPEAT[n] repeats it over n bytes
# (rounded up to whole masks), and _LOW[n] cuts it to n bytes.
_REPEAT = tuple(sum(1 << (32 * i) for i in range((n + 3) // 4)) for n in range(126))
_LOW = tuple((1 << (8 * n)) - 1 for n in range(126))


def _mask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` repeated; masking and unmasking are the same.

    One big-integer XOR instead of a per-byte loop (the decoder's fast path inlines a variant).
    """
    n = len(payload)
    key = (mask * ((n >> 2) + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


class FrameDecoder:
    """Turns received bytes into WebSocket events, strictly and without I/O.

    ``receive_data`` returns a list of every event completed by the bytes given, rather than
    queueing them for a separate ``events()`` call: one call per read is measurably cheaper on
    the hot path of many small messages.

    Nothing decoded is lost to a later error (issue 12): when the bytes of one call complete
    some messages and then break the protocol, the call returns those messages and keeps the
    error in :attr:`failure`; a call whose bytes break the protocol before completing anything
    raises at once. Either way the decoder is dead afterwards and every later call raises the
    same kind of error, so a caller checks :attr:`failure` after handling the events it got.
    A text frame is checked to be UTF-8 while its payload arrives, so invalid text fails as
    soon as its bytes are read, not when the frame is complete (Autobahn 6.4.3/6.4.4).
    After a close frame the peer may send nothing more (RFC 6455 §5.5.1); whatever follows is
    ignored, not an error, so the close handshake still ends with the peer's own code.

    Memory bound: the decoder holds at most ``max_message_size`` payload bytes (a message being
    reassembled plus the data frame being read; a control frame being read adds at most 125),
    a 14-byte frame header and one partial read. Sizes are checked when a frame header is
    parsed, before its payload is buffered.

    Args:
        max_message_size: Largest frame or reassembled message accepted, in bytes; larger
            declared lengths raise :class:`MessageTooBig` (close code 1009).
        client: Decode as a client: frames must be unmasked. By default the decoder is the
            server side and every incoming frame must be masked (RFC 6455 §5.1).
    """

    __slots__ = (
        "_binary_parts",
        "_buffer",
        "_client",
        "_closed",
        "_failure",
        "_fragment_opcode",
        "_fragment_size",
        "_max_message_size",
        "_needed",
        "_text_check",
        "_text_checked",
        "_text_decoder",
        "_text_parts",
        "controls",
    )

    def __init__(self, *, max_message_size: int = 1 << 20, client: bool = False) -> None:
        if max_message_size < 0:
            raise ValueError("max_message_size must be >= 0")
        self._max_message_size = max_message_size
        self._client = client
        self._buffer = bytearray()
        self._needed = 0  # bytes the buffered partial frame needs before parsing can progress
        self._closed = False
        #: Control frames decoded so far: a caller that must act on them (a pong to send) can
        #: skip looking through a read's events when this did not move, the common case.
        self.controls = 0
        self._failure: ProtocolError | None = None
        self._fragment_opcode: int | None = None  # opcode of the open fragmented message
        self._fragment_size = 0
        self._binary_parts: list[bytes] = []
        self._text_parts: list[str] = []
        self._text_decoder: codecs.IncrementalDecoder | None = None
        # A buffered, incomplete text frame: a decoder checking its payload as it arrives and
        # how many payload bytes it has checked (None: no such frame is buffered).
        self._text_check: codecs.IncrementalDecoder | None = None
        self._text_checked = 0

    @property
    def failure(self) -> ProtocolError | None:
        """The error that ended decoding, once the peer broke the protocol; else None."""
        return self._failure

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Feed bytes read from the peer and return the events they complete, in order.

        Any bytes-like object is accepted (trio's in-memory streams give ``bytearray``); events
        always carry ``bytes``. Events decoded before a protocol error are returned, with the
        error kept in :attr:`failure`; bytes after a close frame are ignored.

        Raises:
            ProtocolError: The peer broke RFC 6455 (close code 1002) before any event of this
                call was complete, or in an earlier call.
            InvalidFrameData: A text message or close reason is not UTF-8 (close code 1007).
            MessageTooBig: A frame or message is over ``max_message_size`` (close code 1009).
        """
        if self._failure is not None:
            raise type(self._failure)(self._failure.reason)
        if not data or self._closed:
            return []
        events: list[Event] = []
        try:
            buffer = self._buffer
            if buffer:
                buffer += data
                if len(buffer) < self._needed:
                    if self._text_check is not None:
                        self._check_text(buffer)
                    return events
                data = bytes(buffer)
                buffer.clear()
            elif type(data) is not bytes:
                data = bytes(data)
            self._text_check = None
            pos = self._parse(data, events)
            if pos < len(data) and not self._closed:
                with memoryview(data) as view:
                    self._buffer = bytearray(view[pos:])
                self._start_text_check()
        except ProtocolError as exc:
            self._failure = exc
            self._buffer = bytearray()
            self._binary_parts = []
            self._text_parts = []
            self._text_check = None
            if not events:
                raise
        return events

    def _start_text_check(self) -> None:
        """Start checking the buffered incomplete frame's payload if it is text."""
        buffer = self._buffer
        if len(buffer) < 2:
            return
        opcode = buffer[0] & 0x0F
        if opcode == Opcode.TEXT:
            check = codecs.getincrementaldecoder("utf-8")()
        elif opcode == Opcode.CONTINUATION and self._text_decoder is not None:
            check = codecs.getincrementaldecoder("utf-8")()
            check.setstate(self._text_decoder.getstate())  # mid-character across frames
        else:
            return
        self._text_check = check
        self._text_checked = 0
        self._check_text(buffer)

    def _check_text(self, buffer: bytearray) -> None:
        """Check the payload bytes of the buffered text frame that arrived since the last check.

        Raises:
            InvalidFrameData: They cannot be part of valid UTF-8.
        """
        check = self._text_check
        assert check is not None
        n = buffer[1] & 0x7F
        header = 2 if n < 126 else 4 if n == 126 else 10
        masked = buffer[1] & 0x80
        if masked:
            header += 4
        start = header + self._text_checked
        if start >= len(buffer):
            return
        chunk = bytes(buffer[start:])
        if masked:
            offset = self._text_checked % 4
            key = bytes(buffer[header - 4 : header])
            chunk = _mask(chunk, key[offset:] + key[:offset])
        try:
            check.decode(chunk, False)
        except UnicodeDecodeError as exc:
            raise InvalidFrameData("text message is not valid UTF-8") from exc
        self._text_checked += len(chunk)

    def _parse(self, data: bytes, events: list[Event]) -> int:
        """Decode every complete frame in ``data`` into ``events``; return the bytes consumed.

        Stops after a close frame: what follows it is ignored.
        """
        append = events.append
        end = len(data)
        pos = 0
        masked = not self._client
        mask_bit = 0x80 if masked else 0
        header = 6 if masked else 2
        max_size = self._max_message_size
        idle = self._fragment_opcode is None
        from_bytes = int.from_bytes
        while True:
            if end - pos < 2:
                self._needed = 2
                break
            b0 = data[pos]
            n = data[pos + 1] - mask_bit  # the 7-bit length, if the mask bit is as expected
            # Fast path: a whole small unfragmented text or binary frame, masked as expected.
            if 0 <= n < 126 and (b0 == 0x81 or b0 == 0x82) and idle and n <= max_size:
                start = pos + header
                stop = start + n
                if stop > end:
                    self._needed = header + n
                    break
                if masked:
                    key = from_bytes(data[pos + 2 : start], "little") * _REPEAT[n] & _LOW[n]
                    payload = (from_bytes(data[start:stop], "little") ^ key).to_bytes(n, "little")
                else:
                    payload = data[start:stop]
                if b0 == 0x81:
                    try:
                        append(TextMessage(payload.decode()))
                    except UnicodeDecodeError as exc:
                        raise InvalidFrameData("text message is not valid UTF-8") from exc
                else:
                    append(BinaryMessage(payload))
                pos = stop
                continue
            stop = self._parse_frame(data, pos, append)
            if stop < 0:
                break
            pos = stop
            if self._closed:
                break
            idle = self._fragment_opcode is None
        return pos

    def _parse_frame(self, data: bytes, pos: int, append: _Append) -> int:
        """Decode the one frame at ``pos`` the fast path did not take.

        Returns the position after the frame, or -1 (with ``_needed`` set) if it is incomplete.
        """
        available = len(data) - pos
        b0 = data[pos]
        b1 = data[pos + 1]
        if b0 & 0x70:
            raise ProtocolError("reserved bits set without a negotiated extension")
        fin = b0 & 0x80
        opcode = b0 & 0x0F
        masked = b1 & 0x80
        if self._client == bool(masked):
            raise ProtocolError(
                "server frame is masked" if masked else "client frame is not masked"
            )
        n = b1 & 0x7F
        header = 2
        if opcode >= Opcode.CLOSE:
            if opcode > Opcode.PONG:
                raise ProtocolError(f"unknown opcode {opcode}")
            if not fin:
                raise ProtocolError("fragmented control frame")
            if n > _MAX_CONTROL_PAYLOAD:
                raise ProtocolError("control frame payload over 125 bytes")
        else:
            if opcode > Opcode.BINARY:
                raise ProtocolError(f"unknown opcode {opcode}")
            if opcode == Opcode.CONTINUATION:
                if self._fragment_opcode is None:
                    raise ProtocolError("continuation frame without a started message")
            elif self._fragment_opcode is not None:
                raise ProtocolError("new data frame inside a fragmented message")
            if n == 126:
                header = 4
                if available < header:
                    self._needed = header
                    return -1
                n = (data[pos + 2] << 8) | data[pos + 3]
                if n < 126:
                    raise ProtocolError("payload length not minimally encoded")
            elif n == 127:
                header = 10
                if available < header:
                    self._needed = header
                    return -1
                n = int.from_bytes(data[pos + 2 : pos + 10], "big")
                if n >> 63:
                    raise ProtocolError("64-bit payload length with the top bit set")
                if n <= 0xFFFF:
                    raise ProtocolError("payload length not minimally encoded")
            if self._fragment_size + n > self._max_message_size:
                raise MessageTooBig(f"message over {self._max_message_size} bytes")
        if masked:
            header += 4
        start = pos + header
        stop = start + n
        if stop > len(data):
            self._needed = header + n
            return -1
        payload = data[start:stop]
        if masked:
            payload = _mask(payload, data[start - 4 : start])
        if opcode >= Opcode.CLOSE:
            append(self._control(opcode, payload))
        else:
            self._data(opcode, bool(fin), payload, append)
        return stop

    def _data(self, opcode: int, fin: bool, payload: bytes, append: _Append) -> None:
        """Handle one data frame: a whole message, or a fragment to reassemble."""
        if opcode != Opcode.CONTINUATION:
            if fin:  # a whole message too large for the fast path
                if opcode == Opcode.TEXT:
                    append(TextMessage(_decode_text(payload)))
                else:
                    append(BinaryMessage(payload))
                return
            self._fragment_opcode = opcode
            self._fragment_size = 0
            if opcode == Opcode.TEXT:
                self._text_decoder = codecs.getincrementaldecoder("utf-8")()
        self._fragment_size += len(payload)
        decoder = self._text_decoder
        if decoder is None:
            self._binary_parts.append(payload)
            if fin:
                append(BinaryMessage(b"".join(self._binary_parts)))
        else:
            try:
                self._text_parts.append(decoder.decode(payload, fin))
            except UnicodeDecodeError as exc:
                raise InvalidFrameData("text message is not valid UTF-8") from exc
            if fin:
                append(TextMessage("".join(self._text_parts)))
        if fin:
            self._fragment_opcode = None
            self._binary_parts = []
            self._text_parts = []
            self._text_decoder = None

    def _control(self, opcode: int, payload: bytes) -> Event:
        """Turn a control frame's payload into its event."""
        self.controls += 1
        if opcode == Opcode.PING:
            return Ping(payload)
        if opcode == Opcode.PONG:
            return Pong(payload)
        self._closed = True
        if not payload:
            return CloseReceived(CloseCode.NO_STATUS, "")
        if len(payload) == 1:
            raise ProtocolError("close frame with a 1-byte payload")
        code = (payload[0] << 8) | payload[1]
        if not _is_valid_close_code(code):
            raise ProtocolError(f"invalid close code {code}")
        try:
            reason = payload[2:].decode()
        except UnicodeDecodeError as exc:
            raise InvalidFrameData("close reason is not valid UTF-8") from exc
        return CloseReceived(code, reason)


def _decode_text(payload: bytes) -> str:
    """Decode a text message, turning bad UTF-8 into close code 1007."""
    try:
        return payload.decode()
    except UnicodeDecodeError as exc:
        raise InvalidFrameData("text message is not valid UTF-8") from exc


_TEXT_HEADERS = tuple(bytes((0x81, n)) for n in range(126))
_BINARY_HEADERS = tuple(bytes((0x82, n)) for n in range(126))
_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack


def _encode(b0: int, payload: bytes, mask: bytes | None) -> bytes:
    """Build a frame from its first byte, payload and optional mask."""
    n = len(payload)
    mask_bit = 0 if mask is None else 0x80
    if n < 126:
        header = bytes((b0, mask_bit | n))
    elif n <= 0xFFFF:
        header = _pack_short(b0, mask_bit | 126, n)
    else:
        header = _pack_long(b0, mask_bit | 127, n)
    if mask is None:
        return header + payload
    if len(mask) != 4:
        raise ValueError("a frame mask is exactly 4 bytes")
    return header + mask + _mask(payload, mask)


def encode_frame(
    opcode: Opcode, payload: bytes, *, fin: bool = True, mask: bytes | None = None
) -> bytes:
    """Encode one frame; the general encoder behind the helpers, also for fragments.

    Args:
        opcode: The frame's opcode.
        payload: The frame's payload, already encoded.
        fin: Whether this frame ends its message; control frames must set it.
        mask: 4 bytes to mask the frame with, as a client must; servers send unmasked.

    Raises:
        ValueError: Unknown opcode, a fragmented or over-125-byte control frame, or a mask
            that is not 4 bytes.
    """
    opcode = Opcode(opcode)
    if opcode >= Opcode.CLOSE and (not fin or len(payload) > _MAX_CONTROL_PAYLOAD):
        raise ValueError("control frames are unfragmented with at most 125 payload bytes")
    return _encode((0x80 if fin else 0) | opcode, payload, mask)


def encode_text(data: str, *, mask: bytes | None = None) -> bytes:
    """Encode a whole text message as one frame (fast for small unmasked messages)."""
    payload = data.encode()
    if mask is None and len(payload) < 126:
        return _TEXT_HEADERS[len(payload)] + payload
    return _encode(0x81, payload, mask)


def encode_binary(data: bytes, *, mask: bytes | None = None) -> bytes:
    """Encode a whole binary message as one frame (fast for small unmasked messages)."""
    if mask is None and len(data) < 126:
        return _BINARY_HEADERS[len(data)] + data
    return _encode(0x82, data, mask)


def encode_ping(payload: bytes = b"", *, mask: bytes | None = None) -> bytes:
    """Encode a ping frame (payload at most 125 bytes)."""
    return encode_frame(Opcode.PING, payload, mask=mask)


def encode_pong(payload: bytes = b"", *, mask: bytes | None = None) -> bytes:
    """Encode a pong frame (payload at most 125 bytes), usually echoing a ping."""
    return encode_frame(Opcode.PONG, payload, mask=mask)


def encode_close(code: int, reason: str = "", *, mask: bytes | None = None) -> bytes:
    """Encode a close frame; the reason is cut to 123 bytes without splitting a character.

    Code 1005 means "no status": it is sent as an empty close payload, without the reason.

    Raises:
        ValueError: ``code`` may not be sent (1006, 1015 and unregistered ranges).
    """
    if code == CloseCode.NO_STATUS:
        return encode_frame(Opcode.CLOSE, b"", mask=mask)
    check_close_code(code)
    encoded = reason.encode()
    if len(encoded) > _MAX_CLOSE_REASON:
        encoded = encoded[:_MAX_CLOSE_REASON].decode(errors="ignore").encode()
    return encode_frame(Opcode.CLOSE, code.to_bytes(2, "big") + encoded, mask=mask)


def close_for_error(exc: BaseException) -> tuple[int, str]:
    """Map an error to the close code and reason sent to the peer; the one place this happens.

    Protocol errors carry their own code and peer-facing reason; anything else is an internal
    error whose details must never reach the peer.
    """
    if isinstance(exc, ProtocolError):
        return exc.close_code, exc.reason
    return int(CloseCode.INTERNAL_ERROR), "internal error"
