"""Property tests of the frame codec, and a cross-check against wsproto's implementation."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import CloseReason, FrameProtocol
from wsproto.frame_protocol import Opcode as WsOpcode

from roost._errors import ProtocolError
from roost.protocol import (
    BinaryMessage,
    CloseReceived,
    Event,
    FrameDecoder,
    Opcode,
    Ping,
    Pong,
    TextMessage,
    encode_binary,
    encode_close,
    encode_frame,
    encode_ping,
    encode_pong,
    encode_text,
)

VALID_CLOSE_CODES = st.one_of(
    st.integers(1000, 1003), st.integers(1007, 1014), st.integers(3000, 4999)
)
CLOSE_REASONS = st.text(max_size=30).filter(lambda reason: len(reason.encode()) <= 123)
MASKS = st.binary(min_size=4, max_size=4)
# Mostly small payloads (the fast path), some 16-bit lengths, rarely a 64-bit one.
BINARY = st.one_of(
    st.binary(max_size=130),
    st.binary(min_size=126, max_size=600),
    st.builds(lambda n, b: bytes([b]) * n, st.integers(65536, 66000), st.integers(0, 255)),
)
TEXT = st.one_of(st.text(max_size=130), st.text(min_size=50, max_size=400))
MESSAGES = st.one_of(
    TEXT.map(TextMessage),
    BINARY.map(BinaryMessage),
    st.binary(max_size=125).map(Ping),
    st.binary(max_size=125).map(Pong),
)
# wsproto rejects 1014 (registered after RFC 6455), which we accept.
WSPROTO_CLOSE_CODES = VALID_CLOSE_CODES.filter(lambda code: code != 1014)


def streams(
    close_codes: st.SearchStrategy[int] = VALID_CLOSE_CODES,
) -> st.SearchStrategy[tuple[list[Event], CloseReceived | None]]:
    """Messages and control frames, maybe followed by a close."""
    return st.tuples(
        st.lists(MESSAGES, max_size=12),
        st.none() | st.builds(CloseReceived, close_codes, CLOSE_REASONS),
    )


def _split(
    draw: Callable[[st.SearchStrategy[Any]], Any], data: bytes, max_cuts: int
) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=max_cuts)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def wire_streams(
    draw: st.DrawFn, *, masked: bool, close_codes: st.SearchStrategy[int] = VALID_CLOSE_CODES
) -> tuple[bytes, list[Event]]:
    """Frames for random events, fragmented at random with pings between fragments."""
    messages, close = draw(streams(close_codes))
    wire: list[bytes] = []
    expected: list[Event] = []

    def add(opcode: Opcode, payload: bytes, fin: bool = True) -> None:
        mask = draw(MASKS) if masked else None
        wire.append(encode_frame(opcode, payload, fin=fin, mask=mask))

    for message in messages:
        if isinstance(message, Ping | Pong):
            add(Opcode.PING if isinstance(message, Ping) else Opcode.PONG, message.payload)
            expected.append(message)
            continue
        if isinstance(message, TextMessage):
            opcode, payload = Opcode.TEXT, message.data.encode()
        else:
            opcode, payload = Opcode.BINARY, message.data
        pieces = _split(draw, payload, 3)  # may cut through a UTF-8 sequence
        for i, piece in enumerate(pieces):
            fin = i == len(pieces) - 1
            add(opcode if i == 0 else Opcode.CONTINUATION, piece, fin)
            if not fin and draw(st.booleans()):
                ping = Ping(draw(st.binary(max_size=10)))
                add(Opcode.PING, ping.payload)
                expected.append(ping)
        expected.append(message)
    if close is not None:
        wire.append(encode_close(close.code, close.reason, mask=draw(MASKS) if masked else None))
        expected.append(close)
    return b"".join(wire), expected


def feed(decoder: FrameDecoder, chunks: Sequence[bytes]) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        events += decoder.receive_data(chunk)
    return events


@settings(deadline=None)
@given(st.data(), st.booleans())
def test_random_streams_split_anywhere_decode_to_the_same_events(
    data: st.DataObject, client: bool
) -> None:
    wire, expected = data.draw(wire_streams(masked=not client))
    chunks = _split(data.draw, wire, 20)
    assert b"".join(chunks) == wire
    assert feed(FrameDecoder(client=client), chunks) == expected


@settings(deadline=None)
@given(st.data())
def test_any_prefix_decodes_to_a_prefix_of_the_events(data: st.DataObject) -> None:
    wire, expected = data.draw(wire_streams(masked=True))
    cut = data.draw(st.integers(0, len(wire)))
    events = FrameDecoder().receive_data(wire[:cut])
    assert events == expected[: len(events)]


# Cross-check against wsproto, an independent implementation.


def wsproto_events(protocol: FrameProtocol, data: bytes) -> list[Event]:
    """Decode with wsproto's frame layer into our events (joining partial frames)."""
    protocol.receive_bytes(data)
    events: list[Event] = []
    parts: list[Any] = []
    for frame in protocol.received_frames():
        if frame.opcode is WsOpcode.PING:
            assert isinstance(frame.payload, bytes | bytearray)
            events.append(Ping(bytes(frame.payload)))
        elif frame.opcode is WsOpcode.PONG:
            assert isinstance(frame.payload, bytes | bytearray)
            events.append(Pong(bytes(frame.payload)))
        elif frame.opcode is WsOpcode.CLOSE:
            assert isinstance(frame.payload, tuple)
            code, reason = frame.payload
            events.append(CloseReceived(int(code), reason))
        else:
            assert not isinstance(frame.payload, tuple)
            parts.append(frame.payload)
            if frame.message_finished:
                if frame.opcode is WsOpcode.TEXT:
                    events.append(TextMessage("".join(str(part) for part in parts)))
                else:
                    events.append(BinaryMessage(b"".join(bytes(part) for part in parts)))
                parts = []
    return events


@settings(deadline=None)
@given(st.data())
def test_wsproto_client_frames_decode_with_ours(data: st.DataObject) -> None:
    messages, close = data.draw(streams(WSPROTO_CLOSE_CODES))
    client = FrameProtocol(client=True, extensions=[])
    wire = b""
    expected: list[Event] = []
    for message in messages:
        if isinstance(message, Ping):
            wire += client.ping(message.payload)
        elif isinstance(message, Pong):
            wire += client.pong(message.payload)
        else:
            value: str | bytes = message.data
            # wsproto fragments text on character boundaries only.
            cuts = sorted(data.draw(st.lists(st.integers(0, len(value)), max_size=3)))
            bounds = [0, *cuts, len(value)]
            for i in range(len(bounds) - 1):
                piece = value[bounds[i] : bounds[i + 1]]
                wire += client.send_data(piece, fin=i == len(bounds) - 2)
        expected.append(message)
    if close is not None:
        wire += client.close(close.code, close.reason)
        expected.append(close)
    chunks = _split(data.draw, wire, 10)
    assert feed(FrameDecoder(), chunks) == expected


@settings(deadline=None)
@given(streams(WSPROTO_CLOSE_CODES))
def test_our_server_frames_decode_with_wsproto(
    stream: tuple[list[Event], CloseReceived | None],
) -> None:
    messages, close = stream
    wire = b""
    for message in messages:
        if isinstance(message, TextMessage):
            wire += encode_text(message.data)
        elif isinstance(message, BinaryMessage):
            wire += encode_binary(message.data)
        elif isinstance(message, Ping):
            wire += encode_ping(message.payload)
        else:
            assert isinstance(message, Pong)
            wire += encode_pong(message.payload)
    expected = list(messages)
    if close is not None:
        wire += encode_close(close.code, close.reason)
        expected.append(close)
    assert wsproto_events(FrameProtocol(client=True, extensions=[]), wire) == expected


@settings(deadline=None)
@given(st.data())
def test_our_masked_fragmented_frames_decode_with_wsproto_server(data: st.DataObject) -> None:
    wire, expected = data.draw(wire_streams(masked=True, close_codes=WSPROTO_CLOSE_CODES))
    assert wsproto_events(FrameProtocol(client=False, extensions=[]), wire) == expected


@given(VALID_CLOSE_CODES, st.text(max_size=200))
def test_close_round_trip_keeps_a_prefix_of_the_reason(code: int, reason: str) -> None:
    [event] = FrameDecoder(client=True).receive_data(encode_close(code, reason))
    assert isinstance(event, CloseReceived)
    assert event.code == code
    assert reason.startswith(event.reason)
    assert len(event.reason.encode()) <= 123
    assert len(event.reason.encode()) > 119 or event.reason == reason


def test_wsproto_no_status_close_matches() -> None:
    client = FrameProtocol(client=True, extensions=[])
    assert FrameDecoder().receive_data(client.close()) == [
        CloseReceived(CloseReason.NO_STATUS_RCVD, "")
    ]


@settings(deadline=None)
@given(st.data(), st.booleans())
def test_garbage_only_ever_raises_protocol_errors(data: st.DataObject, client: bool) -> None:
    """Random bytes, or a valid stream with one byte changed: events or a ProtocolError."""
    if data.draw(st.booleans()):
        wire = data.draw(st.binary(max_size=300))
    else:
        wire, _ = data.draw(wire_streams(masked=not client))
        if wire:
            at = data.draw(st.integers(0, len(wire) - 1))
            wire = wire[:at] + bytes([data.draw(st.integers(0, 255))]) + wire[at + 1 :]
    decoder = FrameDecoder(client=client, max_message_size=1000)
    try:
        feed(decoder, _split(data.draw, wire, 5))
    except ProtocolError:
        with pytest.raises(ProtocolError):
            decoder.receive_data(b"\x81\x00")


# Issue 12: nothing decoded is lost to a later error, nothing after a close counts, and
# invalid UTF-8 fails as soon as its byte arrives.

BAD_FRAMES = {
    b"\x83\x80" + b"mask": 1002,  # reserved opcode
    b"\xc1\x80" + b"mask": 1002,  # RSV1 without an extension
    b"\x81\x01x": 1002,  # unmasked client frame
    encode_frame(Opcode.TEXT, b"\xff", mask=b"mask"): 1007,  # not UTF-8
}


def _decode_until_failure(
    decoder: FrameDecoder, chunks: Sequence[bytes]
) -> tuple[list[Event], int | None]:
    events: list[Event] = []
    for chunk in chunks:
        try:
            events += decoder.receive_data(chunk)
        except ProtocolError as exc:
            return events, exc.close_code
        if decoder.failure is not None:
            return events, decoder.failure.close_code
    return events, None


def _no_close(stream: tuple[bytes, list[Event]]) -> bool:
    return not any(isinstance(event, CloseReceived) for event in stream[1])


@settings(deadline=None)
@given(st.data(), st.sampled_from(sorted(BAD_FRAMES)), st.binary(max_size=40))
def test_every_event_before_a_bad_frame_comes_out(
    data: st.DataObject, bad: bytes, trailing: bytes
) -> None:
    """Valid frames, a bad one and anything after it, split anywhere: exactly the events of
    the valid frames come out, then the bad frame's close code."""
    wire, expected = data.draw(wire_streams(masked=True).filter(_no_close))
    chunks = _split(data.draw, wire + bad + trailing, 10)
    events, code = _decode_until_failure(FrameDecoder(), chunks)
    assert events == expected
    assert code == BAD_FRAMES[bad]


@settings(deadline=None)
@given(st.data(), st.binary(max_size=200))
def test_anything_after_a_close_frame_is_ignored(data: st.DataObject, trailing: bytes) -> None:
    wire, expected = data.draw(wire_streams(masked=True).filter(_no_close))
    close = CloseReceived(1000, "bye")
    wire += encode_close(close.code, close.reason, mask=b"mask") + trailing
    events, code = _decode_until_failure(FrameDecoder(), _split(data.draw, wire, 10))
    assert (events, code) == ([*expected, close], None)


@settings(deadline=None)
@given(st.data(), st.text(max_size=300), st.binary(max_size=300))
def test_invalid_utf8_fails_when_its_byte_arrives(
    data: st.DataObject, prefix: str, tail: bytes
) -> None:
    """One text frame, valid text then a byte never valid in UTF-8: fed up to that byte only
    (the frame is incomplete), in random chunks, the decoder has already failed with 1007."""
    payload = prefix.encode() + b"\xff" + tail
    wire = encode_frame(Opcode.TEXT, payload, mask=b"mask")
    header = len(wire) - len(payload)
    upto = header + len(prefix.encode()) + 1
    _, code = _decode_until_failure(FrameDecoder(), _split(data.draw, wire[:upto], 5))
    assert code == 1007
