"""The y-websocket wire protocol, sans-I/O: one binary frame in, one :class:`YMessage` out.

A frame is ``varuint type`` then, for sync (0), ``varuint step`` and a length-prefixed Yjs
payload (a state vector for step 1, an update for step 2 and for updates); for awareness (1),
a length-prefixed awareness update (``varuint count``, then per client ``varuint id``,
``varuint clock``, ``varstring JSON state``, where ``null`` means "gone"). Auth (2) and
query-awareness (3) are recognised so that they can be answered or ignored on purpose.

The lib0 encoding itself is pycrdt's (:class:`pycrdt.Encoder`, :class:`pycrdt.Decoder` and
its ``create_*_message`` helpers); this module adds what they leave to the caller: bounds
checks, so that a truncated or hostile frame becomes :class:`YjsProtocolError` rather than
an ``IndexError`` deep inside a decoder.
"""

from __future__ import annotations

import enum
import json

import attrs
import pycrdt

from roost._errors import InvalidFrameData

__all__ = [
    "AwarenessEntry",
    "YKind",
    "YMessage",
    "YjsProtocolError",
    "decode_awareness",
    "encode_awareness",
    "encode_sync_step1",
    "encode_sync_step2",
    "encode_update",
    "parse_message",
]


class YjsProtocolError(InvalidFrameData):
    """A binary frame that is not a well-formed y-websocket message (close 1007)."""


class YKind(enum.Enum):
    """What a y-websocket message is."""

    SYNC_STEP1 = "sync_step1"  # payload: the sender's state vector
    SYNC_STEP2 = "sync_step2"  # payload: an update with what the receiver lacks
    UPDATE = "update"  # payload: an update
    AWARENESS = "awareness"  # payload: an awareness update
    AUTH = "auth"  # payload: the rest of the frame, unparsed
    QUERY_AWARENESS = "query_awareness"  # payload: empty


_SYNC_STEPS = {
    pycrdt.YSyncMessageType.SYNC_STEP1: YKind.SYNC_STEP1,
    pycrdt.YSyncMessageType.SYNC_STEP2: YKind.SYNC_STEP2,
    pycrdt.YSyncMessageType.SYNC_UPDATE: YKind.UPDATE,
}
_MESSAGE_AUTH = 2
_MESSAGE_QUERY_AWARENESS = 3


@attrs.frozen
class YMessage:
    """One decoded y-websocket message."""

    kind: YKind
    payload: bytes


@attrs.frozen
class AwarenessEntry:
    """One client's line in an awareness update: ``state`` is its JSON text, ``"null"`` if gone."""

    client: int
    clock: int
    state: str

    @property
    def removed(self) -> bool:
        return self.state == "null"


def parse_message(frame: bytes) -> YMessage:
    """Decode one binary frame.

    Raises:
        YjsProtocolError: truncated, trailing bytes, or an unknown message type.
    """
    reader = _Reader(frame)
    kind = reader.uint()
    if kind == pycrdt.YMessageType.SYNC:
        step = reader.uint()
        if step not in _SYNC_STEPS:
            raise YjsProtocolError(f"unknown y-websocket sync step {step}")
        message = YMessage(_SYNC_STEPS[pycrdt.YSyncMessageType(step)], reader.blob())
    elif kind == pycrdt.YMessageType.AWARENESS:
        message = YMessage(YKind.AWARENESS, reader.blob())
    elif kind == _MESSAGE_AUTH:
        return YMessage(YKind.AUTH, frame[reader.offset :])
    elif kind == _MESSAGE_QUERY_AWARENESS:
        message = YMessage(YKind.QUERY_AWARENESS, b"")
    else:
        raise YjsProtocolError(f"unknown y-websocket message type {kind}")
    reader.end()
    return message


def decode_awareness(update: bytes) -> list[AwarenessEntry]:
    """The entries of an awareness update; each state must be JSON.

    The count is not trusted: every entry takes at least three bytes, so a hostile count ends
    in a truncation error after at most a third of the update's length in steps.

    Raises:
        YjsProtocolError: malformed, or a state that is not JSON.
    """
    reader = _Reader(update)
    count = reader.uint()
    entries = []
    for _ in range(count):
        client, clock = reader.uint(), reader.uint()
        try:
            state = reader.blob().decode("utf-8")
            json.loads(state)
        except ValueError as exc:
            raise YjsProtocolError("awareness state is not JSON") from exc
        entries.append(AwarenessEntry(client, clock, state))
    reader.end()
    return entries


def encode_awareness(entries: list[AwarenessEntry]) -> bytes:
    """An awareness message (type 1) carrying ``entries``."""
    encoder = pycrdt.Encoder()
    encoder.write_var_uint(len(entries))
    for entry in entries:
        encoder.write_var_uint(entry.client)
        encoder.write_var_uint(entry.clock)
        encoder.write_var_string(entry.state)
    return pycrdt.create_awareness_message(encoder.to_bytes())


def encode_sync_step1(state_vector: bytes) -> bytes:
    """Sync step 1: "this is what I have" (a state vector)."""
    return bytes([pycrdt.YMessageType.SYNC]) + _sync(
        pycrdt.YSyncMessageType.SYNC_STEP1, state_vector
    )


def encode_sync_step2(update: bytes) -> bytes:
    """Sync step 2: the answer to a step 1, everything its sender lacks."""
    return bytes([pycrdt.YMessageType.SYNC]) + _sync(pycrdt.YSyncMessageType.SYNC_STEP2, update)


def encode_update(update: bytes) -> bytes:
    """A document update."""
    return pycrdt.create_update_message(update)


def _sync(step: int, payload: bytes) -> bytes:
    return bytes([step]) + pycrdt.write_var_uint(len(payload)) + payload


class _Reader:
    """lib0 varuint and length-prefixed reads with bounds checks (pycrdt's Decoder has none)."""

    __slots__ = ("data", "offset")

    #: A varuint longer than this cannot be a JavaScript safe integer (lib0's own bound).
    MAX_VARUINT_BYTES = 8

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def uint(self) -> int:
        value = shift = 0
        for _ in range(self.MAX_VARUINT_BYTES):
            if self.offset >= len(self.data):
                raise YjsProtocolError("truncated y-websocket message")
            byte = self.data[self.offset]
            self.offset += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
        raise YjsProtocolError("varuint too long in y-websocket message")

    def blob(self) -> bytes:
        length = self.uint()
        end = self.offset + length
        if end > len(self.data):
            raise YjsProtocolError("truncated y-websocket message")
        blob = self.data[self.offset : end]
        self.offset = end
        return blob

    def end(self) -> None:
        if self.offset != len(self.data):
            raise YjsProtocolError("trailing bytes after a y-websocket message")
