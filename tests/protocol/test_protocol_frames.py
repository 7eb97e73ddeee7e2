"""Byte-level tests of the WebSocket frame codec: RFC 6455 examples, every error, encoders."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from roost._errors import (
    InvalidFrameData,
    MessageTooBig,
    ProtocolError,
    RoostError,
    StorageError,
)
from roost.protocol import (
    BinaryMessage,
    CloseCode,
    CloseReceived,
    Event,
    FrameDecoder,
    Opcode,
    Ping,
    Pong,
    TextMessage,
    close_for_error,
    encode_binary,
    encode_close,
    encode_frame,
    encode_ping,
    encode_pong,
    encode_text,
)

MASK = bytes.fromhex("37fa213d")


def frame(b0: int, payload: bytes = b"", *, mask: bytes | None = MASK) -> bytes:
    """Build a frame by hand (independently of the encoder), minimal length encoding."""
    n = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if n < 126:
        header = bytes((b0, mask_bit | n))
    elif n <= 0xFFFF:
        header = struct.pack("!BBH", b0, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", b0, mask_bit | 127, n)
    if mask is None:
        return header + payload
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def decode(data: bytes, *, client: bool = False, max_message_size: int = 1 << 20) -> list[Event]:
    return FrameDecoder(client=client, max_message_size=max_message_size).receive_data(data)


def decode_bytewise(
    data: bytes, *, client: bool = False, max_message_size: int = 1 << 20
) -> list[Event]:
    decoder = FrameDecoder(client=client, max_message_size=max_message_size)
    events: list[Event] = []
    for i in range(len(data)):
        events += decoder.receive_data(data[i : i + 1])
    return events


# RFC 6455 §5.7 examples.


def test_rfc_unmasked_text() -> None:
    wire = bytes.fromhex("810548656c6c6f")
    assert encode_text("Hello") == wire
    assert decode(wire, client=True) == [TextMessage("Hello")]


def test_rfc_masked_text() -> None:
    wire = bytes.fromhex("818537fa213d7f9f4d5158")
    assert encode_frame(Opcode.TEXT, b"Hello", mask=MASK) == wire
    assert encode_text("Hello", mask=MASK) == wire
    assert decode(wire) == [TextMessage("Hello")]
    assert decode_bytewise(wire) == [TextMessage("Hello")]


def test_rfc_fragmented_text() -> None:
    first = bytes.fromhex("010348656c")
    last = bytes.fromhex("80026c6f")
    assert encode_frame(Opcode.TEXT, b"Hel", fin=False) == first
    assert encode_frame(Opcode.CONTINUATION, b"lo") == last
    decoder = FrameDecoder(client=True)
    assert decoder.receive_data(first) == []
    assert decoder.receive_data(last) == [TextMessage("Hello")]


def test_rfc_ping_and_pong() -> None:
    ping = bytes.fromhex("890548656c6c6f")
    pong = bytes.fromhex("8a8537fa213d7f9f4d5158")
    assert encode_ping(b"Hello") == ping
    assert encode_pong(b"Hello", mask=MASK) == pong
    assert decode(ping, client=True) == [Ping(b"Hello")]
    assert decode(pong) == [Pong(b"Hello")]


def test_rfc_256_bytes_binary_uses_16_bit_length() -> None:
    payload = bytes(range(256))
    wire = encode_binary(payload)
    assert wire[:4] == bytes.fromhex("827e0100")
    assert wire[4:] == payload
    assert decode(wire, client=True) == [BinaryMessage(payload)]
    assert decode(frame(0x82, payload)) == [BinaryMessage(payload)]


def test_rfc_64_kib_binary_uses_64_bit_length() -> None:
    payload = bytes(range(256)) * 256
    wire = encode_binary(payload)
    assert wire[:10] == bytes.fromhex("827f0000000000010000")
    assert wire[10:] == payload
    assert decode(wire, client=True) == [BinaryMessage(payload)]
    assert decode(encode_binary(payload, mask=MASK)) == [BinaryMessage(payload)]


# Decoding.


def test_many_frames_in_one_read_and_split_anywhere() -> None:
    wire = frame(0x81, b"one") + frame(0x82, b"\x00\x01") + frame(0x89, b"p") + frame(0x81, b"")
    expected = [TextMessage("one"), BinaryMessage(b"\x00\x01"), Ping(b"p"), TextMessage("")]
    assert decode(wire) == expected
    assert decode_bytewise(wire) == expected
    for cut in range(len(wire) + 1):
        decoder = FrameDecoder()
        assert decoder.receive_data(wire[:cut]) + decoder.receive_data(wire[cut:]) == expected


def test_control_frames_inside_a_fragmented_message() -> None:
    wire = (
        frame(0x02, b"ab")
        + frame(0x89, b"ping")
        + frame(0x00, b"cd")
        + frame(0x8A, b"")
        + frame(0x80, b"ef")
    )
    expected = [Ping(b"ping"), Pong(b""), BinaryMessage(b"abcdef")]
    assert decode(wire) == expected
    assert decode_bytewise(wire) == expected


def test_text_fragments_may_split_a_character() -> None:
    data = "né😀".encode()
    wire = frame(0x01, data[:2]) + frame(0x00, data[2:5]) + frame(0x80, data[5:])
    assert decode(wire) == [TextMessage("né😀")]


def test_large_text_and_empty_fragments() -> None:
    text = "ü" * 1000
    wire = frame(0x01, b"") + frame(0x00, text.encode()) + frame(0x80, b"")
    assert decode(wire) == [TextMessage(text)]
    assert decode(frame(0x81, text.encode())) == [TextMessage(text)]


def test_close_frames() -> None:
    assert decode(frame(0x88)) == [CloseReceived(CloseCode.NO_STATUS, "")]
    assert decode(frame(0x88, b"\x03\xe8bye")) == [CloseReceived(1000, "bye")]
    assert decode(frame(0x88, b"\x0f\xa0" + "ß".encode())) == [CloseReceived(4000, "ß")]


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1010, 1014, 3000, 4999])
def test_valid_close_codes(code: int) -> None:
    assert decode(frame(0x88, code.to_bytes(2, "big"))) == [CloseReceived(code, "")]


def test_max_message_size_is_inclusive() -> None:
    assert decode(frame(0x82, b"x" * 10), max_message_size=10) == [BinaryMessage(b"x" * 10)]
    assert decode(frame(0x02, b"x" * 5) + frame(0x80, b"x" * 5), max_message_size=10) == [
        BinaryMessage(b"x" * 10)
    ]


def test_control_frames_are_not_counted_against_the_message_limit() -> None:
    assert decode(frame(0x89, b"x" * 125), max_message_size=10) == [Ping(b"x" * 125)]


def test_empty_data_is_a_no_op() -> None:
    decoder = FrameDecoder()
    assert decoder.receive_data(b"") == []
    assert decoder.receive_data(frame(0x88)) == [CloseReceived(1005, "")]
    assert decoder.receive_data(b"") == []


def test_negative_limit_is_rejected() -> None:
    with pytest.raises(ValueError):
        FrameDecoder(max_message_size=-1)


# Decoding errors.

PROTOCOL_ERRORS = {
    "rsv1": frame(0xC1, b"x"),
    "rsv2": frame(0xA1, b"x"),
    "rsv3": frame(0x91, b"x"),
    "opcode 3": frame(0x83),
    "opcode 7": frame(0x87),
    "opcode 11": frame(0x8B),
    "opcode 15": frame(0x8F),
    "control frame without fin": frame(0x09, b"x"),
    "control frame over 125 bytes": frame(0x89, b"x" * 126),
    "continuation without a message": frame(0x80, b"x"),
    "text inside fragmented message": frame(0x01, b"a") + frame(0x81, b"b"),
    "binary inside fragmented message": frame(0x02, b"a") + frame(0x02, b"b"),
    "16-bit length not minimal": bytes((0x82, 0xFE, 0, 125)) + MASK + b"x" * 125,
    "64-bit length not minimal": bytes((0x82, 0xFF)) + (0xFFFF).to_bytes(8, "big") + MASK,
    "64-bit length top bit": bytes((0x82, 0xFF)) + (1 << 63).to_bytes(8, "big") + MASK,
    "unmasked frame to server": frame(0x81, b"x", mask=None),
    "unmasked large frame to server": frame(0x82, b"x" * 200, mask=None),
    "close payload of 1 byte": frame(0x88, b"\x03"),
}


@pytest.mark.parametrize("wire", PROTOCOL_ERRORS.values(), ids=PROTOCOL_ERRORS.keys())
def test_protocol_errors(wire: bytes) -> None:
    for feed in (decode, decode_bytewise):
        with pytest.raises(ProtocolError) as info:
            feed(wire)
        assert type(info.value) is ProtocolError
        assert close_for_error(info.value)[0] == 1002


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 0xFFFF])
def test_invalid_close_codes(code: int) -> None:
    with pytest.raises(ProtocolError, match="invalid close code"):
        decode(frame(0x88, code.to_bytes(2, "big")))


def test_masked_frame_to_client() -> None:
    with pytest.raises(ProtocolError, match="masked"):
        decode(frame(0x81, b"x"), client=True)
    with pytest.raises(ProtocolError, match="masked"):
        decode(frame(0x89, b"x"), client=True)


@pytest.mark.parametrize("feed", [decode, decode_bytewise])
def test_bytes_after_close_are_ignored(feed: Callable[[bytes], list[Event]]) -> None:
    """RFC 6455 §5.5.1: nothing follows a close frame, so what does is dropped, not an error."""
    wire = frame(0x88, b"\x03\xe8") + frame(0x81, b"x") + frame(0x89) + b"\xff\xff"
    assert feed(wire) == [CloseReceived(1000, "")]


def test_data_after_close_in_a_later_read_is_ignored() -> None:
    decoder = FrameDecoder()
    assert decoder.receive_data(frame(0x88)) == [CloseReceived(1005, "")]
    assert decoder.receive_data(b"\x81") == []
    assert decoder.receive_data(frame(0x88)) == []
    assert decoder.failure is None


INVALID_DATA = {
    "text": frame(0x81, b"\xff"),
    "surrogate": frame(0x81, b"\xed\xa0\x80"),
    "overlong": frame(0x81, b"\xc0\xaf"),
    "large text": frame(0x81, b"a" * 200 + b"\xff"),
    "truncated at message end": frame(0x01, b"a") + frame(0x80, "é".encode()[:1]),
    "close reason": frame(0x88, b"\x03\xe8\xff"),
}


@pytest.mark.parametrize("wire", INVALID_DATA.values(), ids=INVALID_DATA.keys())
def test_invalid_utf8(wire: bytes) -> None:
    for feed in (decode, decode_bytewise):
        with pytest.raises(InvalidFrameData) as info:
            feed(wire)
        assert close_for_error(info.value)[0] == 1007


def test_invalid_utf8_in_a_fragment_fails_before_the_message_ends() -> None:
    decoder = FrameDecoder()
    with pytest.raises(InvalidFrameData):
        decoder.receive_data(frame(0x01, b"ok\xff"))


def test_message_too_big_single_frame() -> None:
    with pytest.raises(MessageTooBig) as info:
        decode(frame(0x82, b"x" * 11), max_message_size=10)
    assert close_for_error(info.value)[0] == 1009
    with pytest.raises(MessageTooBig):
        decode(frame(0x81, b"x" * 300), max_message_size=200)


def test_message_too_big_raised_from_the_header_alone() -> None:
    header = bytes((0x82, 0xFF)) + (10 << 20).to_bytes(8, "big")
    decoder = FrameDecoder()
    assert decoder.receive_data(header[:9]) == []
    with pytest.raises(MessageTooBig):
        decoder.receive_data(header[9:])  # no mask, no payload: just the length
    with pytest.raises(MessageTooBig):
        FrameDecoder(max_message_size=1000).receive_data(bytes((0x82, 0xFE, 0x04, 0x00)))


def test_message_too_big_across_fragments_from_the_header_alone() -> None:
    decoder = FrameDecoder(max_message_size=100)
    assert decoder.receive_data(frame(0x02, b"x" * 60)) == []
    assert decoder.receive_data(frame(0x00, b"x" * 39)) == []
    with pytest.raises(MessageTooBig):
        decoder.receive_data(bytes((0x80, 0x80 | 2)))  # 60 + 39 + 2 > 100


def test_a_failed_decoder_stays_failed() -> None:
    decoder = FrameDecoder(max_message_size=10)
    with pytest.raises(MessageTooBig):
        decoder.receive_data(frame(0x82, b"x" * 11))
    with pytest.raises(MessageTooBig):
        decoder.receive_data(frame(0x82, b"x"))
    with pytest.raises(MessageTooBig):
        decoder.receive_data(b"")
    decoder = FrameDecoder()
    with pytest.raises(ProtocolError):
        decoder.receive_data(frame(0x83))
    with pytest.raises(ProtocolError):
        decoder.receive_data(frame(0x81, b"fine"))


def test_partial_frame_buffer_holds_only_what_arrived() -> None:
    payload = b"x" * 100_000
    wire = frame(0x82, payload)
    decoder = FrameDecoder()
    for start in range(0, len(wire) - 4096, 4096):
        assert decoder.receive_data(wire[start : start + 4096]) == []
        assert len(decoder._buffer) == start + 4096  # no payload copied twice, nothing lost
    assert decoder.receive_data(wire[start + 4096 :]) == [BinaryMessage(payload)]
    assert not decoder._buffer


# Encoding.


def test_encode_small_and_large() -> None:
    assert encode_text("") == b"\x81\x00"
    assert encode_binary(b"") == b"\x82\x00"
    assert encode_text("é") == b"\x81\x02\xc3\xa9"
    assert encode_binary(b"x" * 125)[:2] == b"\x82\x7d"
    assert encode_binary(b"x" * 126)[:4] == b"\x82\x7e\x00\x7e"
    assert encode_text("x" * 0xFFFF)[:4] == b"\x81\x7e\xff\xff"
    assert encode_text("x" * 0x10000)[:10] == b"\x81\x7f" + (0x10000).to_bytes(8, "big")


def test_encode_masked_frames_match_the_hand_built_ones() -> None:
    for n in (0, 1, 3, 4, 5, 125, 126, 127, 1000, 70000):
        payload = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
        assert encode_binary(payload, mask=MASK) == frame(0x82, payload)
        assert decode(encode_binary(payload, mask=MASK)) == [BinaryMessage(payload)]


def test_encode_fragments() -> None:
    assert encode_frame(Opcode.BINARY, b"ab", fin=False) == b"\x02\x02ab"
    assert encode_frame(Opcode.CONTINUATION, b"cd", fin=False) == b"\x00\x02cd"


@pytest.mark.parametrize(
    ("opcode", "payload", "fin", "mask"),
    [
        (Opcode.PING, b"x" * 126, True, None),
        (Opcode.CLOSE, b"", False, None),
        (Opcode.PONG, b"", False, None),
        (Opcode.TEXT, b"x", True, b"abc"),
        (Opcode.TEXT, b"x", True, b"abcde"),
        (3, b"", True, None),
    ],
)
def test_encode_frame_rejects_misuse(
    opcode: Opcode, payload: bytes, fin: bool, mask: bytes | None
) -> None:
    with pytest.raises(ValueError):
        encode_frame(opcode, payload, fin=fin, mask=mask)


def test_encode_close() -> None:
    assert encode_close(1000) == b"\x88\x02\x03\xe8"
    assert encode_close(CloseCode.GOING_AWAY, "bye") == b"\x88\x05\x03\xe9bye"
    assert encode_close(1005) == b"\x88\x00"
    assert encode_close(1005, "ignored") == b"\x88\x00"
    assert encode_close(4000, mask=MASK) == frame(0x88, b"\x0f\xa0")


@pytest.mark.parametrize("code", [1004, 1006, 1015, 999, 2000, 5000])
def test_encode_close_rejects_codes_that_may_not_be_sent(code: int) -> None:
    with pytest.raises(ValueError):
        encode_close(code)


@pytest.mark.parametrize("reason", ["x" * 200, "é" * 100, "😀" * 40, "x" + "€" * 60])
def test_encode_close_truncates_reason_on_a_character_boundary(reason: str) -> None:
    wire = encode_close(1000, reason)
    assert len(wire) <= 2 + 125
    [event] = decode(wire, client=True)
    assert isinstance(event, CloseReceived)
    assert reason.startswith(event.reason)
    assert len(event.reason.encode()) > 123 - 4


def test_close_for_error() -> None:
    assert close_for_error(ProtocolError("bad frame")) == (1002, "bad frame")
    assert close_for_error(InvalidFrameData("not utf-8")) == (1007, "not utf-8")
    assert close_for_error(MessageTooBig("big")) == (1009, "big")
    assert close_for_error(RuntimeError("/srv/secret.db")) == (1011, "internal error")
    assert close_for_error(StorageError("/srv/secret.db")) == (1011, "internal error")
    assert close_for_error(RoostError("x")) == (1011, "internal error")
    assert close_for_error(KeyboardInterrupt()) == (1011, "internal error")


def test_enums() -> None:
    assert [int(op) for op in Opcode] == [0, 1, 2, 8, 9, 10]
    assert CloseCode.MESSAGE_TOO_BIG == 1009
    assert CloseCode.TRY_AGAIN_LATER == 1013


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_bytes_like_input_gives_bytes_events(kind: type[bytearray | memoryview]) -> None:
    wire = encode_binary(b"abc") + encode_ping(b"p") + encode_binary(b"d" * 300)
    decoder = FrameDecoder(client=True)
    events = decoder.receive_data(kind(wire[:7])) + decoder.receive_data(kind(wire[7:]))
    assert events == [BinaryMessage(b"abc"), Ping(b"p"), BinaryMessage(b"d" * 300)]
    assert all(type(getattr(event, "data", b"")) is bytes for event in events)
    assert type(events[1].payload) is bytes  # type: ignore[union-attr]
