"""The envelope codec byte for byte: the documented examples, and every way to refuse input."""

from __future__ import annotations

import json
from typing import Any

import attrs
import cbor2
import pytest

from roost._errors import InvalidFrameData, ProtocolError, RoostError, RpcError
from roost.protocol import (
    SUBPROTOCOLS,
    BadEnvelope,
    Call,
    Envelope,
    EnvelopeCodec,
    EnvelopeError,
    EnvelopeTooBig,
    ErrorCode,
    ErrorReply,
    InvalidEnvelopeData,
    Result,
    ServerEvent,
    UnencodableValue,
    UnsupportedFrame,
    ValueTooLarge,
    codec_for_subprotocol,
    envelope_error_for,
    resync_event,
)

JSON = EnvelopeCodec("json")
CBOR = EnvelopeCodec("cbor")
JSON_CLIENT = EnvelopeCodec("json", client=True)
CBOR_CLIENT = EnvelopeCodec("cbor", client=True)

#: The examples of docs/protocol.md: name -> (record, JSON text or None, CBOR bytes in hex).
#: test_envelope_doc.py checks that the document shows exactly these.
EXAMPLES: dict[str, tuple[Envelope, str | None, str]] = {
    "call": (
        Call(7, "say", {"text": "hi"}),
        '{"type":"call","id":7,"method":"say","args":{"text":"hi"}}',
        "a4 64 74797065 64 63616c6c 62 6964 07 66 6d6574686f64 63 736179"
        " 64 61726773 a1 64 74657874 62 6869",
    ),
    "call without arguments": (
        Call(8, "who"),
        '{"type":"call","id":8,"method":"who","args":{}}',
        "a4 64 74797065 64 63616c6c 62 6964 08 66 6d6574686f64 63 77686f 64 61726773 a0",
    ),
    "result": (
        Result(7, 42),
        '{"type":"result","id":7,"value":42}',
        "a3 64 74797065 66 726573756c74 62 6964 07 65 76616c7565 18 2a",
    ),
    "result with a structured value": (
        Result(8, [{"name": "ada", "away": False}, -1, 0.5, None]),
        '{"type":"result","id":8,"value":[{"name":"ada","away":false},-1,0.5,null]}',
        "a3 64 74797065 66 726573756c74 62 6964 08 65 76616c7565 84 a2 64 6e616d65 63 616461"
        " 64 61776179 f4 20 fb 3fe0000000000000 f6",
    ),
    "error reply": (
        ErrorReply(9, "not_found", "no method 'fly'"),
        '{"type":"error","id":9,"code":"not_found","message":"no method \'fly\'"}',
        "a4 64 74797065 65 6572726f72 62 6964 09 64 636f6465 69 6e6f745f666f756e64"
        " 67 6d657373616765 6f 6e6f206d6574686f642027666c7927",
    ),
    "error reply without an id": (
        ErrorReply(None, "bad_request", "an envelope must be a map"),
        '{"type":"error","id":null,"code":"bad_request","message":"an envelope must be a map"}',
        "a4 64 74797065 65 6572726f72 62 6964 f6 64 636f6465 6b 6261645f72657175657374"
        " 67 6d657373616765 78 19 616e20656e76656c6f7065206d7573742062652061206d6170",
    ),
    "event": (
        ServerEvent("joined", {"user": "ada", "online": 3}, seq=42),
        '{"type":"event","name":"joined","data":{"user":"ada","online":3},"seq":42}',
        "a4 64 74797065 65 6576656e74 64 6e616d65 66 6a6f696e6564 64 64617461"
        " a2 64 75736572 63 616461 66 6f6e6c696e65 03 63 736571 18 2a",
    ),
    "presence_diff event": (
        ServerEvent(
            "presence_diff",
            {"joins": {"ada": {"metas": [{"name": "Ada", "ref": "1"}]}}, "leaves": {}},
            seq=43,
        ),
        '{"type":"event","name":"presence_diff","data":'
        '{"joins":{"ada":{"metas":[{"name":"Ada","ref":"1"}]}},"leaves":{}},"seq":43}',
        "a4 64 74797065 65 6576656e74 64 6e616d65 6d 70726573656e63655f64696666 64 64617461"
        " a2 65 6a6f696e73 a1 63 616461 a1 65 6d65746173 81 a2 64 6e616d65 63 416461"
        " 63 726566 61 31 66 6c6561766573 a0 63 736571 18 2b",
    ),
    "bytes, CBOR only": (
        Result(10, b"\x00\xff"),
        None,
        "a3 64 74797065 66 726573756c74 62 6964 0a 65 76616c7565 42 00ff",
    ),
    "resync event": (
        resync_event(1767225600000000),
        '{"type":"event","name":"resync","data":null,"seq":1767225600000000}',
        "a4 64 74797065 65 6576656e74 64 6e616d65 66 726573796e63 64 64617461 f6"
        " 63 736571 1b 0006474846204000",
    ),
}


def reader(envelope: Envelope, kind: str) -> EnvelopeCodec:
    """The codec of the side that receives ``envelope``."""
    if isinstance(envelope, Call):
        return JSON if kind == "json" else CBOR
    return JSON_CLIENT if kind == "json" else CBOR_CLIENT


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_examples_byte_for_byte(name: str) -> None:
    record, text, hexa = EXAMPLES[name]
    data = bytes.fromhex(hexa)
    assert CBOR.encode(record) == data
    assert reader(record, "cbor").decode(data) == record
    if text is None:
        with pytest.raises(UnencodableValue):
            JSON.encode(record)
    else:
        assert JSON.encode(record) == text
        assert reader(record, "json").decode(text) == record


def test_args_are_optional() -> None:
    assert JSON.decode('{"type":"call","id":8,"method":"who"}') == Call(8, "who", {})
    assert CBOR.decode(cbor2.dumps({"type": "call", "id": 8, "method": "who"})) == Call(8, "who")


def test_unknown_fields_are_ignored() -> None:
    text = '{"v":2,"type":"call","id":1,"method":"m","args":{},"trace":{"x":[1]}}'
    assert JSON.decode(text) == Call(1, "m", {})
    data = cbor2.dumps({"type": "event", "name": "e", "data": 1, "seq": 5})
    assert CBOR_CLIENT.decode(data) == ServerEvent("e", 1, seq=5)
    data = cbor2.dumps({"type": "event", "name": "e", "data": 1, "seq": 5, "at": 2})
    assert CBOR_CLIENT.decode(data) == ServerEvent("e", 1, seq=5)


def test_whitespace_and_key_order_do_not_matter() -> None:
    text = ' { "args" : { } , "method" : "m" , "id" : 3 , "type" : "call" } \n'
    assert JSON.decode(text) == Call(3, "m", {})


def test_id_bounds() -> None:
    top = 2**53 - 1
    assert JSON.decode(f'{{"type":"call","id":{top},"method":"m"}}') == Call(top, "m")
    assert JSON.decode('{"type":"call","id":0,"method":"m"}') == Call(0, "m")
    for bad in ("-1", str(2**53), "1.0", "true", "null", '"1"'):
        with pytest.raises(BadEnvelope) as info:
            JSON.decode(f'{{"type":"call","id":{bad},"method":"m"}}')
        assert info.value.call_id is None


def test_non_ascii_text_is_utf8_not_escaped() -> None:
    record = ServerEvent("é", {"ключ": "値 🦉"})
    text = JSON.encode(record)
    assert text == '{"type":"event","name":"é","data":{"ключ":"値 🦉"}}'
    assert JSON_CLIENT.decode(text) == record
    escaped = json.dumps(json.loads(text))  # \u escapes, surrogate pairs included
    assert escaped.isascii()
    assert JSON_CLIENT.decode(escaped) == record
    assert CBOR_CLIENT.decode(CBOR.encode(record)) == record


def test_integer_range_is_int64_in_both_encodings() -> None:
    for n in (-(2**63), 2**63 - 1):
        assert JSON_CLIENT.decode(JSON.encode(Result(1, n))) == Result(1, n)
        assert CBOR_CLIENT.decode(CBOR.encode(Result(1, n))) == Result(1, n)
    for n in (-(2**63) - 1, 2**63, 2**64, 10**30):
        with pytest.raises(UnencodableValue, match="64 bits"):
            JSON.encode(Result(1, n))
        with pytest.raises(UnencodableValue, match="64 bits"):
            CBOR.encode(Result(1, n))
        with pytest.raises(InvalidEnvelopeData):
            JSON_CLIENT.decode(f'{{"type":"result","id":1,"value":{n}}}')
    # Raw CBOR integers past int64 (cbor2 itself would encode 2**63 as major type 0).
    head = "a3 64 74797065 66 726573756c74 62 6964 01 65 76616c7565"
    for past in ("1b 8000000000000000", "3b 8000000000000000", "1b ffffffffffffffff"):
        with pytest.raises(InvalidEnvelopeData):
            CBOR_CLIENT.decode(bytes.fromhex(f"{head} {past}"))
    lowest = CBOR_CLIENT.decode(bytes.fromhex(f"{head} 3b 7fffffffffffffff"))
    assert lowest == Result(1, -(2**63))


def test_cbor_reads_half_and_single_floats() -> None:
    head = "a3 64 74797065 66 726573756c74 62 6964 01 65 76616c7565"
    assert CBOR_CLIENT.decode(bytes.fromhex(f"{head} f9 3e00")) == Result(1, 1.5)
    assert CBOR_CLIENT.decode(bytes.fromhex(f"{head} fa 3fc00000")) == Result(1, 1.5)
    for non_finite in ("f9 7c00", "f9 7e00", "fa 7f800000", "fb 7ff8000000000000", "f9 fc00"):
        with pytest.raises(InvalidEnvelopeData, match="finite"):
            CBOR_CLIENT.decode(bytes.fromhex(f"{head} {non_finite}"))


# -- refusals: the close codes ---------------------------------------------------------------


def refused(codec: EnvelopeCodec, message: str | bytes) -> EnvelopeError:
    with pytest.raises(EnvelopeError) as info:
        codec.decode(message)
    return info.value


def test_wrong_frame_kind_closes_1003() -> None:
    for codec, message in [(JSON, b'{"type":"call"}'), (CBOR, "\xa0"), (JSON, bytearray(b"{}"))]:
        exc = refused(codec, message)
        assert isinstance(exc, UnsupportedFrame)
        assert envelope_error_for(exc) == (1003, exc.reason)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "{",
        '{"type":"call",}',
        "{'type':'call'}",
        '{"a":1} {"b":2}',
        "\ufeff{}",
        "[NaN]",
        "[Infinity]",
        "[-Infinity]",
        "[1e400]",
        "[-1e400]",
        '{"a":1,"a":1}',
        '"\\udc00"',
        '["\\ud83d"]',
        "1" * 5000,
    ],
)
def test_invalid_json_closes_1007(text: str) -> None:
    exc = refused(JSON, text)
    assert isinstance(exc, InvalidEnvelopeData)
    assert envelope_error_for(exc) == (1007, exc.reason)


@pytest.mark.parametrize(
    "hexa",
    [
        "",
        "a1",  # a map missing its entry
        "62 61",  # a text string cut short
        "5b ffffffffffffffff",  # a byte string longer than anything
        "1c",  # reserved additional information
        "ff",  # a lone break
        "5f 41 00 ff",  # indefinite-length bytes
        "7f 61 61 ff",  # indefinite-length text
        "9f ff",  # indefinite-length array
        "bf ff",  # indefinite-length map
        "c0 74 323031332d30332d32315432303a30343a30305a",  # tag 0: a date
        "c1 1a 514b67b0",  # tag 1: a timestamp
        "c2 49 010000000000000000",  # tag 2: a bignum
        "c3 49 010000000000000000",  # tag 3: a negative bignum
        "c4 82 21 19 6ab3",  # tag 4: a decimal fraction
        "d8 1c 80",  # tag 28: a shared value
        "d8 20 63 612f62",  # tag 32: a URI
        "d9 0102 83 01 02 03",  # tag 258: a set
        "d9 d9f7 a0",  # tag 55799: self-described CBOR
        "db 0000000000000001 00",  # a tag with an 8-byte number
        "f7",  # undefined
        "f0",  # simple value 16
        "f8 ff",  # simple value 255
        "a1 01 02",  # an integer key
        "a1 41 61 02",  # a byte string key
        "a1 80 02",  # an array key
        "a1 f6 02",  # a null key
        "a2 61 61 01 61 61 02",  # a duplicate key
        "61 80",  # invalid UTF-8
        "63 eda080",  # a UTF-8-encoded surrogate
        "00 00",  # trailing bytes
        "a0 a0",
    ],
)
def test_invalid_cbor_closes_1007(hexa: str) -> None:
    exc = refused(CBOR, bytes.fromhex(hexa))
    assert isinstance(exc, InvalidEnvelopeData)
    assert envelope_error_for(exc) == (1007, exc.reason)


def test_tags_are_refused_inside_envelopes_too() -> None:
    envelope = {"type": "call", "id": 1, "method": "m", "args": {"when": cbor2.CBORTag(0, "x")}}
    assert isinstance(refused(CBOR, cbor2.dumps(envelope)), InvalidEnvelopeData)
    for value in ({1, 2}, 2**70, cbor2.CBORTag(1234, "x")):
        data = cbor2.dumps({"type": "result", "id": 1, "value": value})
        assert isinstance(refused(CBOR_CLIENT, data), InvalidEnvelopeData)


def nested(depth: int, kind: str) -> str | bytes:
    """``depth`` arrays, one inside the other."""
    if kind == "json":
        return "[" * depth + "]" * depth
    return b"\x81" * (depth - 1) + b"\x80"


@pytest.mark.parametrize("kind", ["json", "cbor"])
def test_limits_close_1009(kind: str) -> None:
    codec = EnvelopeCodec(
        kind,  # type: ignore[arg-type]
        max_size=1000,
        max_depth=5,
        max_items=10,
        max_total_items=30,
    )
    assert isinstance(refused(codec, nested(6, kind)), EnvelopeTooBig)
    assert isinstance(refused(codec, nested(5, kind)), BadEnvelope)  # deep enough, not a map
    too_wide: Any = list(range(11))
    too_many: Any = [list(range(10))] * 3
    sizes: Any = "x" * 1001
    for value in (too_wide, too_many, sizes):
        exc = refused(codec, EnvelopeCodec(kind).encode(Result(1, value)))  # type: ignore[arg-type]
        assert isinstance(exc, EnvelopeTooBig), value
        assert envelope_error_for(exc) == (1009, exc.reason)
    # Every container counts, the envelope map too: 4 + 1 + 3 + 10 + 10 + 2 = 30 items.
    big = EnvelopeCodec(kind)  # type: ignore[arg-type]
    at_limit = Call(1, "m", {"a": [list(range(10)), list(range(10)), [0, 1]]})
    assert codec.decode(big.encode(at_limit)) == at_limit
    over = Call(1, "m", {"a": [list(range(10)), list(range(10)), [0, 1, 2]]})
    assert isinstance(refused(codec, big.encode(over)), EnvelopeTooBig)


def test_a_declared_length_over_the_limit_fails_before_the_payload() -> None:
    for hexa in ("9b ffffffffffffffff", "bb 7fffffffffffffff", "9a 00010000"):
        assert isinstance(refused(CBOR, bytes.fromhex(hexa)), EnvelopeTooBig)


def test_size_counts_utf8_bytes() -> None:
    codec = EnvelopeCodec("json", max_size=100)
    fits = '{"type":"call","id":1,"method":"' + "é" * 33 + '"}'  # 67 characters, 100 bytes
    assert len(fits.encode()) == 100
    assert codec.decode(fits) == Call(1, "é" * 33)
    assert isinstance(refused(codec, fits.replace("é", "éé", 1)), EnvelopeTooBig)
    assert isinstance(refused(EnvelopeCodec("cbor", max_size=10), bytes(11)), EnvelopeTooBig)


# -- refusals: the bad_request replies --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "call_id"),
    [
        (None, None),
        (7, None),
        ("call", None),
        ([{"type": "call", "id": 1, "method": "m"}], None),
        ({}, None),
        ({"id": 7, "method": "m"}, 7),
        ({"type": None, "id": 7, "method": "m"}, 7),
        ({"type": ["call"], "id": 7, "method": "m"}, 7),
        ({"type": "CALL", "id": 7, "method": "m"}, 7),
        ({"type": "cast", "id": 7, "method": "m"}, 7),
        ({"type": "call", "method": "m"}, None),
        ({"type": "call", "id": -1, "method": "m"}, None),
        ({"type": "call", "id": 1.5, "method": "m"}, None),
        ({"type": "call", "id": False, "method": "m"}, None),
        ({"type": "call", "id": 7}, 7),
        ({"type": "call", "id": 7, "method": None}, 7),
        ({"type": "call", "id": 7, "method": ["m"]}, 7),
        ({"type": "call", "id": 7, "method": "m", "args": None}, 7),
        ({"type": "call", "id": 7, "method": "m", "args": ["x"]}, 7),
        ({"type": "call", "id": 7, "method": "m", "args": "x=1"}, 7),
        ({"type": "result", "id": 7, "value": 1}, 7),
        ({"type": "error", "id": 7, "code": "internal", "message": "x"}, 7),
        ({"type": "event", "name": "e", "data": 1}, None),
    ],
)
@pytest.mark.parametrize("codec", [JSON, CBOR], ids=["json", "cbor"])
def test_bad_envelopes_get_a_bad_request_reply(
    codec: EnvelopeCodec, value: Any, call_id: int | None
) -> None:
    message = json.dumps(value) if codec is JSON else cbor2.dumps(value)
    exc = refused(codec, message)
    assert isinstance(exc, BadEnvelope)
    assert (exc.close_code, exc.code, exc.call_id) == (None, "bad_request", call_id)
    reply = envelope_error_for(exc)
    assert reply == ErrorReply(call_id, "bad_request", exc.reason)
    assert isinstance(reply, ErrorReply)
    assert JSON_CLIENT.decode(JSON.encode(reply)) == reply  # the reply is itself sendable


@pytest.mark.parametrize(
    "value",
    [
        {"type": "call", "id": 1, "method": "m"},
        {"type": "result", "id": -1, "value": 1},
        {"type": "result", "id": 1},
        {"type": "error", "id": "1", "code": "x", "message": "y"},
        {"type": "error", "id": 1, "code": 2, "message": "y"},
        {"type": "error", "id": 1, "code": "x"},
        {"type": "event", "name": 1, "data": 1},
        {"type": "event", "name": "e"},
        {"type": "event", "name": "e", "data": 1, "seq": -1},
        {"type": "event", "name": "e", "data": 1, "seq": 2**53},
        {"type": "event", "name": "e", "data": 1, "seq": "7"},
        {"type": "event", "name": "e", "data": 1, "seq": 7.0},
        {"type": "event", "name": "e", "data": 1, "seq": True},
        {"type": "hello"},
        [],
    ],
)
def test_a_client_refuses_bad_envelopes_from_the_server(value: Any) -> None:
    assert isinstance(refused(CBOR_CLIENT, cbor2.dumps(value)), BadEnvelope)


def test_a_client_reads_replies_and_events() -> None:
    for record in (
        Result(1, None),
        ErrorReply(None, "unavailable", "stopping"),
        ErrorReply(3, "a_future_code", ""),
        ServerEvent("tick", None),
        ServerEvent("tick", None, seq=0),
        ServerEvent("tick", [1], seq=2**53 - 1),
    ):
        assert JSON_CLIENT.decode(JSON.encode(record)) == record
        assert CBOR_CLIENT.decode(CBOR.encode(record)) == record


# -- encoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", [JSON, CBOR], ids=["json", "cbor"])
@pytest.mark.parametrize(
    "value",
    [
        {1, 2},
        frozenset(),
        {1: "a"},
        {("a",): 1},
        {None: 1},
        float("nan"),
        float("inf"),
        -float("inf"),
        2**63,
        object(),
        cbor2.CBORTag(0, "x"),
        memoryview(b"x"),
        ErrorCode.INTERNAL,  # a str subclass: only exact types are in the model
        int,
        "\ud800",
        {"k\udfff": 1},
    ],
)
def test_values_outside_the_model_are_unencodable(codec: EnvelopeCodec, value: Any) -> None:
    with pytest.raises(UnencodableValue) as info:
        codec.encode(Result(5, [value]))
    exc = info.value
    assert isinstance(exc, ValueError)
    assert not isinstance(exc, ValueTooLarge)
    assert envelope_error_for(exc) == ErrorReply(5, "internal", exc.reason)


def test_bytes_are_cbor_only() -> None:
    for value in (b"x", bytearray(b"x")):
        assert CBOR_CLIENT.decode(CBOR.encode(Result(1, value))) == Result(1, b"x")
        with pytest.raises(UnencodableValue):
            JSON.encode(Result(1, value))


def test_tuples_encode_as_arrays() -> None:
    assert JSON.encode(Result(1, (1, (2,)))) == '{"type":"result","id":1,"value":[1,[2]]}'
    assert CBOR_CLIENT.decode(CBOR.encode(Result(1, (1, (2,))))) == Result(1, [1, [2]])


def test_error_codes_may_be_given_as_the_enum() -> None:
    reply = ErrorReply(1, ErrorCode.TOO_LARGE, "big")
    assert JSON.encode(reply) == '{"type":"error","id":1,"code":"too_large","message":"big"}'
    assert CBOR_CLIENT.decode(CBOR.encode(reply)) == ErrorReply(1, "too_large", "big")


@pytest.mark.parametrize("codec", [JSON, CBOR], ids=["json", "cbor"])
@pytest.mark.parametrize(
    "envelope",
    [
        Call(-1, "m"),
        Call(2**53, "m"),
        Call(True, "m"),
        Call(1, 5),  # type: ignore[arg-type]
        Call(1, "m", [1]),  # type: ignore[arg-type]
        Result(1.0, 1),  # type: ignore[arg-type]
        ErrorReply("1", "x", "y"),  # type: ignore[arg-type]
        ErrorReply(1, None, "y"),  # type: ignore[arg-type]
        ServerEvent(b"e", 1),  # type: ignore[arg-type]
        ServerEvent("e", 1, seq=-1),
        ServerEvent("e", 1, seq=2**53),
        ServerEvent("e", 1, seq=True),
        "not an envelope",
    ],
)
def test_invalid_envelope_fields_are_unencodable(codec: EnvelopeCodec, envelope: Any) -> None:
    with pytest.raises(UnencodableValue) as info:
        codec.encode(envelope)
    assert info.value.call_id is None or info.value.call_id == 1


@pytest.mark.parametrize("kind", ["json", "cbor"])
def test_over_the_limits_when_encoding_is_too_large(kind: str) -> None:
    codec = EnvelopeCodec(
        kind,  # type: ignore[arg-type]
        max_size=200,
        max_depth=4,
        max_items=10,
        max_total_items=20,
    )
    shared: list[Any] = [0] * 5
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    for value in ([[[[]]]], list(range(11)), [shared] * 4, "x" * 200, cyclic):
        with pytest.raises(ValueTooLarge) as info:
            codec.encode(Result(3, value))
        assert envelope_error_for(info.value) == ErrorReply(3, "too_large", info.value.reason)
    with pytest.raises(ValueTooLarge) as info:
        codec.encode(ServerEvent("e", cyclic))
    assert info.value.call_id is None
    assert codec.encode(Result(3, [[[]]]))  # depth 4, the envelope map being level 1


@pytest.mark.parametrize("codec", [JSON, CBOR], ids=["json", "cbor"])
def test_values_deep_enough_to_crash_cbor2_are_refused_before_encoding(
    codec: EnvelopeCodec,
) -> None:
    value: Any = None
    for _ in range(100_000):
        value = [value]
    with pytest.raises(ValueTooLarge, match="deeper"):
        codec.encode(Result(1, value))
    with pytest.raises(ValueError, match="max_depth"):
        EnvelopeCodec(codec.kind, max_depth=257)  # what the encoders could survive is capped
    deepest = EnvelopeCodec(codec.kind, max_depth=256)
    deepest_client = EnvelopeCodec(codec.kind, client=True, max_depth=256)
    value = None
    for _ in range(255):  # levels 2 to 256, the envelope map being level 1
        value = [value]
    assert deepest_client.decode(deepest.encode(Result(1, value))) == Result(1, value)
    with pytest.raises(ValueTooLarge, match="deeper"):
        deepest.encode(Result(1, [value]))


def test_shared_values_are_counted_at_each_occurrence_without_blowing_up() -> None:
    value: Any = []
    for _ in range(28):  # 2**29 items in all: the item limit stops the walk early
        value = [value, value]
    with pytest.raises(ValueTooLarge, match="items"):
        CBOR.encode(Result(1, value))


# -- the decision, subprotocols, configuration -----------------------------------------------


def test_envelope_error_for_other_errors() -> None:
    assert envelope_error_for(RuntimeError("secret detail"), call_id=4) == ErrorReply(
        4, "internal", "internal error"
    )
    assert envelope_error_for(RpcError("not_found", "no method 'x'"), call_id=4) == ErrorReply(
        4, "not_found", "no method 'x'"
    )
    assert envelope_error_for(RpcError("unavailable"), call_id=None) == ErrorReply(
        None, "unavailable", "unavailable"
    )
    assert envelope_error_for(InvalidFrameData("bad utf-8")) == (1007, "bad utf-8")
    assert envelope_error_for(ProtocolError()) == (1002, "protocol error")
    # An error's own id wins over the one given.
    assert envelope_error_for(BadEnvelope("x", call_id=1), call_id=2) == ErrorReply(
        1, "bad_request", "x"
    )
    assert envelope_error_for(UnencodableValue("x"), call_id=2) == ErrorReply(2, "internal", "x")


def test_every_envelope_error_is_a_roost_error_with_one_outcome() -> None:
    for cls in (InvalidEnvelopeData, UnsupportedFrame, EnvelopeTooBig):
        exc: EnvelopeError = cls("r")
        assert isinstance(exc, RoostError)
        assert exc.close_code is not None and exc.code is None
        assert len(exc.reason.encode()) <= 123  # fits a close frame
    for cls, code in (
        (BadEnvelope, "bad_request"),
        (UnencodableValue, "internal"),
        (ValueTooLarge, "too_large"),
    ):
        exc = cls("r")
        assert (exc.close_code, exc.code) == (None, code)


def test_close_reasons_fit_a_close_frame() -> None:
    codec = EnvelopeCodec("cbor", max_items=10**18, max_total_items=10**18, max_size=10**18)
    for message in (b"\xc0", b"\x9b" + b"\xff" * 8, b"\x1c", b"\x80\x80"):
        assert len(refused(codec, message).reason.encode()) <= 123


def test_error_codes_and_http_statuses() -> None:
    assert {code.value: code.http_status for code in ErrorCode} == {
        "bad_request": 400,
        "not_found": 404,
        "internal": 500,
        "unavailable": 503,
        "too_large": 413,
    }


def test_codes_live_once_in_the_bottom_layer() -> None:
    """Close codes and error codes with their HTTP statuses are roost._errors' (issue 13):
    protocol re-exports them, every error's close code is a CloseCode, and the HTTP rpc
    path's status comes from ErrorCode.http_status (a code roost does not define: 500)."""
    from roost import _errors, protocol

    assert protocol.ErrorCode is _errors.ErrorCode
    assert protocol.CloseCode is _errors.CloseCode
    closing = [_errors.ProtocolError, _errors.InvalidFrameData, _errors.MessageTooBig]
    closing += [_errors.InvalidEnvelopeData, _errors.UnsupportedFrame, _errors.EnvelopeTooBig]
    for error in closing:
        assert isinstance(error.close_code, _errors.CloseCode), error
    replying = [_errors.BadEnvelope, _errors.UnencodableValue, _errors.ValueTooLarge]
    assert {error.code for error in replying} <= {code.value for code in ErrorCode}
    for code in ErrorCode:
        assert _errors.http_status_for(code.value) == code.http_status
    for unknown in ("forbidden", "", "BAD_REQUEST", "internal "):
        assert _errors.http_status_for(unknown) == 500


def test_subprotocols() -> None:
    assert SUBPROTOCOLS == ("roost.v1.cbor", "roost.v1.json")
    for name in SUBPROTOCOLS:
        codec = codec_for_subprotocol(name)
        assert codec is not None
        assert codec.subprotocol == name
        assert not codec.client
        assert codec == EnvelopeCodec(codec.kind)
    assert codec_for_subprotocol("roost.v1.JSON") is None
    assert codec_for_subprotocol("roost.v2.json") is None
    assert codec_for_subprotocol("") is None


def test_codec_configuration() -> None:
    codec = EnvelopeCodec("cbor")
    assert (codec.max_size, codec.max_depth, codec.max_items, codec.max_total_items) == (
        1 << 20,
        32,
        10_000,
        100_000,
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        codec.max_depth = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        EnvelopeCodec("xml")  # type: ignore[arg-type]
    for limit in ("max_size", "max_depth", "max_items", "max_total_items"):
        for bad in (0, 1, -5, 2.5, "32"):
            with pytest.raises(ValueError, match=limit):
                EnvelopeCodec("json", **{limit: bad})
    with pytest.raises(TypeError):
        EnvelopeCodec("json", 5)  # type: ignore[misc]


def test_records_are_frozen() -> None:
    call = Call(1, "m")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        call.id = 2  # type: ignore[misc]
    assert call.args == {} and call.args is not Call(1, "m").args
