"""The node-to-node link protocol, sans-I/O: frames, their payloads and the handshake.

Two nodes of a cluster share one link (a TCP connection upgraded from ``GET /_roost/link``,
optionally TLS inside) that carries many byte streams and calls at once. Everything that is
bytes in and bytes out lives here, with no socket, clock or trio; runtime/_links.py does the
I/O, flow control and keep-alive. docs/protocol.md ("Node links") is the wire format.

A frame is a 10-byte header (type, flags, stream or call id, payload length; big-endian)
and its payload. A declared length over the limit fails before the payload is buffered.
Stream data is at most :data:`MAX_PAYLOAD` bytes per frame; a call, result or error larger
than that is sent as consecutive frames with :data:`FLAG_MORE` (no other frame in between)
and reassembled up to ``max_message`` bytes.

Long because: the frame codec, the payload codecs and the handshake are one small protocol
that shares its frame types, limits and CBOR rules; a third of the lines are the
handshake's validation of what an unauthenticated peer sends.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from typing import Any

import attrs

from roost._errors import LinkError, LinkRefused

from ._envelope_values import Limits, OffModel, OverLimit, decode_cbor, encode_cbor

__all__ = [
    "DEFAULT_WINDOW",
    "FLAG_MORE",
    "HEADER",
    "LINK_PATH",
    "MAX_PAYLOAD",
    "NONCE_BYTES",
    "UPGRADE_TOKEN",
    "Frame",
    "FrameDecoder",
    "FrameType",
    "Handshake",
    "HandshakeState",
    "Hello",
    "decode_goaway",
    "decode_value",
    "decode_window",
    "encode_data",
    "encode_frame",
    "encode_goaway",
    "encode_message",
    "encode_open",
    "encode_window",
    "proof",
]

#: The request path and ``Upgrade`` token that turn an HTTP connection into a link.
LINK_PATH = "/_roost/link"
UPGRADE_TOKEN = "roost-link"
#: Most payload bytes in one frame: bigger stream writes are split.
MAX_PAYLOAD = 64 * 1024
#: type (u8), flags (u8), stream or call id (u32), payload length (u32).
HEADER = struct.Struct(">BBII")
#: Flag of a call, result or error frame that another frame of the same message follows.
FLAG_MORE = 0x01
NONCE_BYTES = 32
#: A stream's receive window when a HELLO names none.
DEFAULT_WINDOW = 256 * 1024
_MAX_ID = (1 << 32) - 1
_U32 = struct.Struct(">I")
_DEFAULT_MAX_MESSAGE = 1 << 20


class FrameType(enum.IntEnum):
    """What a frame carries; ids are stream ids for OPEN to RESET, call ids for CALL to ERROR."""

    HELLO = 1  # CBOR {node_id, version, protocol, nonce, window[, address]}
    AUTH = 2  # 32 bytes: HMAC-SHA256 proof of the cluster secret
    OPEN = 3  # CBOR header map of a new stream
    DATA = 4  # stream bytes
    WINDOW = 5  # u32: more bytes the sender of DATA may send on the stream
    EOF = 6  # the sender will send no more DATA on the stream (half-close)
    RESET = 7  # UTF-8 reason: the stream is abandoned in both directions
    CALL = 8  # CBOR request
    RESULT = 9  # CBOR value
    ERROR = 10  # CBOR {code, message}
    PING = 11  # up to 8 opaque bytes
    PONG = 12  # the bytes of the PING it answers
    GOAWAY = 13  # CBOR {code, message}: the sender closes the link


_MESSAGES = frozenset({FrameType.CALL, FrameType.RESULT, FrameType.ERROR})
# A peer's CBOR payloads: a few small maps, or an rpc's arguments and results.
_LIMITS = Limits(
    max_size=_DEFAULT_MAX_MESSAGE, max_depth=32, max_items=10_000, max_total_items=100_000
)


@attrs.frozen
class Frame:
    """One received frame (a call, result or error already reassembled)."""

    type: FrameType
    id: int
    payload: bytes = b""


def encode_frame(type: FrameType, id: int = 0, payload: bytes = b"", *, flags: int = 0) -> bytes:
    """One frame's bytes. Raises ValueError for an id outside u32 or a payload too large."""
    if not 0 <= id <= _MAX_ID:
        raise ValueError(f"frame id {id} does not fit in 32 bits")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"frame payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    return HEADER.pack(type, flags, id, len(payload)) + payload


def encode_data(stream_id: int, data: bytes) -> bytes:
    """DATA frames for ``data``, split at :data:`MAX_PAYLOAD` bytes."""
    view = memoryview(data)
    return b"".join(
        encode_frame(FrameType.DATA, stream_id, bytes(view[start : start + MAX_PAYLOAD]))
        for start in range(0, len(view), MAX_PAYLOAD)
    )


def encode_message(
    type: FrameType, id: int, value: Any, *, max_message: int = _DEFAULT_MAX_MESSAGE
) -> bytes:
    """A CALL, RESULT or ERROR carrying ``value`` as CBOR, in as many frames as it needs.

    Raises:
        ValueError: ``value`` is outside the envelope data model or over ``max_message``
            bytes (the caller answers with an error instead).
    """
    if type not in _MESSAGES:
        raise ValueError(f"{type.name} frames carry no message")
    try:
        body = encode_cbor(value, attrs.evolve(_LIMITS, max_size=max_message))
    except (OffModel, OverLimit) as exc:
        raise ValueError(str(exc)) from None
    chunks = [body[start : start + MAX_PAYLOAD] for start in range(0, len(body), MAX_PAYLOAD)]
    last = len(chunks) - 1
    return b"".join(
        encode_frame(type, id, chunk, flags=FLAG_MORE if i < last else 0)
        for i, chunk in enumerate(chunks)
    )


def encode_open(stream_id: int, header: dict[str, Any]) -> bytes:
    """An OPEN frame for a new stream with its ``header`` (CBOR, one frame at most).

    Raises:
        ValueError: ``header`` is outside the data model or over :data:`MAX_PAYLOAD` bytes.
    """
    try:
        payload = encode_cbor(header, attrs.evolve(_LIMITS, max_size=MAX_PAYLOAD))
    except (OffModel, OverLimit) as exc:
        raise ValueError(str(exc)) from None
    return encode_frame(FrameType.OPEN, stream_id, payload)


def encode_window(stream_id: int, credit: int) -> bytes:
    """A WINDOW frame granting ``credit`` more bytes on the stream."""
    return encode_frame(FrameType.WINDOW, stream_id, _U32.pack(credit))


def decode_window(payload: bytes) -> int:
    """The credit of a WINDOW frame. Raises LinkError if it is not a positive u32."""
    if len(payload) != 4 or not (credit := _U32.unpack(payload)[0]):
        raise LinkError("malformed WINDOW frame")
    return int(credit)


def encode_goaway(code: str, message: str) -> bytes:
    """A GOAWAY frame: ``code`` for programs (``auth``, ``protocol``, ``shutdown``, ...),
    ``message`` for the log line of the other side."""
    return encode_frame(
        FrameType.GOAWAY, 0, encode_cbor({"code": code, "message": message}, _LIMITS)
    )


def decode_goaway(payload: bytes) -> tuple[str, str]:
    """(code, message) of a GOAWAY frame. Raises LinkError if malformed."""
    value = decode_value(payload)
    if not isinstance(value, dict) or not all(
        isinstance(value.get(field), str) for field in ("code", "message")
    ):
        raise LinkError("malformed GOAWAY frame")
    return value["code"], value["message"]


def decode_value(payload: bytes) -> Any:
    """A CBOR payload of the envelope data model. Raises LinkError if it is not one."""
    try:
        return decode_cbor(payload, _LIMITS)
    except (OffModel, OverLimit) as exc:
        raise LinkError(f"malformed CBOR payload: {exc}") from None


class FrameDecoder:
    """Turns received bytes into frames; no I/O.

    Args:
        max_message: most bytes of one reassembled call, result or error; with the frame
            limit, the memory one link's decoder holds is at most this plus one frame.
    """

    def __init__(self, *, max_message: int = _DEFAULT_MAX_MESSAGE) -> None:
        self._buffer = bytearray()
        self._max_message = max_message
        self._partial: tuple[FrameType, int] | None = None
        self._parts: list[bytes] = []
        self._partial_size = 0

    def receive_data(self, data: bytes | bytearray) -> list[Frame]:
        """Every frame the bytes received so far complete.

        Raises:
            LinkError: the peer broke the protocol (an unknown type, a bad flag, a length over
                the limit, a message interrupted or too large); the link must close.
        """
        buffer = self._buffer
        buffer += data
        frames: list[Frame] = []
        pos = 0
        size = HEADER.size
        while len(buffer) - pos >= size:
            kind, flags, id, length = HEADER.unpack_from(buffer, pos)
            if length > MAX_PAYLOAD:
                raise LinkError(f"frame of {length} bytes is over {MAX_PAYLOAD}")
            try:
                type = FrameType(kind)
            except ValueError:
                raise LinkError(f"unknown frame type {kind}") from None
            if flags & ~FLAG_MORE or (flags and type not in _MESSAGES):
                raise LinkError(f"bad flags {flags:#x} on a {type.name} frame")
            if self._partial is not None and self._partial != (type, id):
                raise LinkError("a fragmented message was interrupted by another frame")
            if len(buffer) - pos - size < length:
                break
            payload = bytes(buffer[pos + size : pos + size + length])
            pos += size + length
            if type in _MESSAGES:
                frame = self._message_part(type, id, payload, more=bool(flags))
                if frame is not None:
                    frames.append(frame)
            else:
                frames.append(Frame(type, id, payload))
        del buffer[:pos]
        return frames

    def _message_part(
        self, type: FrameType, id: int, payload: bytes, *, more: bool
    ) -> Frame | None:
        self._partial_size += len(payload)
        if self._partial_size > self._max_message:
            raise LinkError(f"message over {self._max_message} bytes")
        if more:
            self._partial = (type, id)
            self._parts.append(payload)
            return None
        if self._parts:
            payload = b"".join([*self._parts, payload])
            self._parts = []
        self._partial = None
        self._partial_size = 0
        return Frame(type, id, payload)


def proof(secret: str, client_nonce: bytes, server_nonce: bytes, node_id: str) -> bytes:
    """What ``node_id`` sends to prove it knows the secret, in the link with these nonces."""
    message = b"roost-link" + client_nonce + server_nonce + node_id.encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


@attrs.frozen
class Hello:
    """What a side says about itself in its HELLO."""

    node_id: str
    version: str
    protocol: int
    nonce: bytes = attrs.field(repr=False)
    window: int = DEFAULT_WINDOW  # bytes it buffers per stream: the peer's initial credit
    address: str | None = None  # where its links may be dialed (optional)

    def encode(self) -> bytes:
        value: dict[str, Any] = {
            "node_id": self.node_id,
            "version": self.version,
            "protocol": self.protocol,
            "nonce": self.nonce,
            "window": self.window,
        }
        if self.address is not None:
            value["address"] = self.address
        return encode_frame(FrameType.HELLO, 0, encode_cbor(value, _LIMITS))

    @classmethod
    def decode(cls, payload: bytes) -> Hello:
        value = decode_value(payload)
        if not isinstance(value, dict):
            raise LinkError("malformed HELLO frame")
        node_id, version, protocol = (
            value.get("node_id"),
            value.get("version"),
            value.get("protocol"),
        )
        nonce, address = value.get("nonce"), value.get("address")
        window = value.get("window", DEFAULT_WINDOW)
        if not (
            isinstance(node_id, str)
            and node_id
            and isinstance(version, str)
            and type(protocol) is int
            and isinstance(nonce, bytes)
            and len(nonce) == NONCE_BYTES
            and type(window) is int
            and 0 < window <= _MAX_ID
            and (address is None or isinstance(address, str))
        ):
            raise LinkError("malformed HELLO frame")
        return cls(node_id, version, protocol, nonce, window, address)


class HandshakeState(enum.Enum):
    """Where a handshake is; every side goes HELLO -> AUTH -> OPEN, or to FAILED."""

    HELLO = "hello"  # our HELLO sent, waiting for the peer's
    AUTH = "auth"  # our AUTH sent, waiting for the peer's
    OPEN = "open"  # both proofs verified: the link carries streams and calls
    FAILED = "failed"  # refused; :attr:`Handshake.error` says why


_TRANSITIONS = {
    HandshakeState.HELLO: {HandshakeState.AUTH, HandshakeState.FAILED},
    HandshakeState.AUTH: {HandshakeState.OPEN, HandshakeState.FAILED},
    HandshakeState.OPEN: set(),
    HandshakeState.FAILED: set(),
}


class Handshake:
    """One side's handshake: both send HELLO at once, then each its AUTH proof.

    Feed it the frames received until :attr:`state` is OPEN or FAILED, and send what
    :meth:`receive_frame` returns (its AUTH, or the GOAWAY of a refusal).

    Args:
        client: whether this side dialed (its nonce comes first in the proofs).
        hello: what this side says about itself (with a fresh random nonce).
        secret: the cluster secret.
    """

    def __init__(self, *, client: bool, hello: Hello, secret: str) -> None:
        if len(hello.nonce) != NONCE_BYTES:
            raise ValueError(f"the nonce must be {NONCE_BYTES} bytes")
        self.client = client
        self.hello = hello
        self.peer: Hello | None = None
        self.state = HandshakeState.HELLO
        self.error: LinkRefused | LinkError | None = None
        self._secret = secret

    def start(self) -> bytes:
        """Our HELLO frame, to send first."""
        return self.hello.encode()

    def _move(self, state: HandshakeState) -> None:
        if state not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"illegal handshake transition {self.state.name} -> {state.name}")
        self.state = state

    def _nonces(self, peer: Hello) -> tuple[bytes, bytes]:
        if self.client:
            return self.hello.nonce, peer.nonce
        return peer.nonce, self.hello.nonce

    def _refuse(self, code: str, message: str, *, error: LinkError | None = None) -> bytes:
        self.error = error if error is not None else LinkRefused(message)
        self._move(HandshakeState.FAILED)
        return encode_goaway(code, message)

    def receive_frame(self, frame: Frame) -> bytes:
        """Take one frame; return the bytes to send in answer (maybe none).

        A refusal (or a peer that broke the protocol) moves to FAILED with :attr:`error`
        set, after which the returned GOAWAY is sent and the link closed.
        """
        if self.state not in (HandshakeState.HELLO, HandshakeState.AUTH):
            raise RuntimeError(f"the handshake is over ({self.state.name})")
        if frame.type is FrameType.GOAWAY:
            try:
                code, message = decode_goaway(frame.payload)
            except LinkError as exc:
                self.error = exc
            else:
                refused = code in ("auth", "protocol", "node_id")
                kind = LinkRefused if refused else LinkError
                self.error = kind(f"the peer refused the link: {message}")
            self._move(HandshakeState.FAILED)
            return b""
        expected = FrameType.HELLO if self.state is HandshakeState.HELLO else FrameType.AUTH
        if frame.type is not expected or frame.id:
            error = LinkError(f"expected {expected.name}, got {frame.type.name}")
            return self._refuse("protocol_error", str(error), error=error)
        if frame.type is FrameType.HELLO:
            return self._receive_hello(frame.payload)
        peer = self.peer
        assert peer is not None
        expected_proof = proof(self._secret, *self._nonces(peer), peer.node_id)
        if not hmac.compare_digest(frame.payload, expected_proof):
            return self._refuse("auth", "authentication failed (wrong cluster secret?)")
        self._move(HandshakeState.OPEN)
        return b""

    def _receive_hello(self, payload: bytes) -> bytes:
        try:
            peer = Hello.decode(payload)
        except LinkError as exc:
            return self._refuse("protocol_error", str(exc), error=exc)
        self.peer = peer
        own = self.hello
        if peer.protocol != own.protocol:
            return self._refuse(
                "protocol",
                f"incompatible cluster protocol: node {own.node_id} (roost {own.version}) speaks "
                f"protocol {own.protocol}, node {peer.node_id} (roost {peer.version}) speaks "
                f"protocol {peer.protocol}",
            )
        if peer.node_id == own.node_id:
            return self._refuse("node_id", f"the peer claims this node's own id {own.node_id}")
        self._move(HandshakeState.AUTH)
        own_proof = proof(self._secret, *self._nonces(peer), own.node_id)
        return encode_frame(FrameType.AUTH, 0, own_proof)
