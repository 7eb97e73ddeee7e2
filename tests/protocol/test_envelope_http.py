"""HTTP rpc bodies: the envelope's data model and limits, applied by the same codec."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest

from roost._errors import HandshakeError
from roost.protocol import (
    BadEnvelope,
    EnvelopeCodec,
    EnvelopeTooBig,
    InvalidEnvelopeData,
    UnencodableValue,
    ValueTooLarge,
    codec_for_content_type,
    codec_for_subprotocol,
)

JSON = EnvelopeCodec("json")
CBOR = EnvelopeCodec("cbor")


def test_a_body_is_the_args_map() -> None:
    assert JSON.decode_args(b'{"text": "h\\u00e9", "n": -3, "f": 0.5}') == {
        "text": "hé",
        "n": -3,
        "f": 0.5,
    }
    assert CBOR.decode_args(cbor2.dumps({"b": b"\x00", "l": [None, True]})) == {
        "b": b"\x00",
        "l": [None, True],
    }
    assert JSON.decode_args(b"") == {} and CBOR.decode_args(b"") == {}


OFF_MODEL_JSON = {
    "duplicate key": b'{"a": 1, "a": 2}',
    "lone surrogate": b'{"a": "\\ud800"}',
    "integer of 2**70": b'{"a": 1180591620717411303424}',
    "integer below int64": b'{"a": -9223372036854775809}',
    "infinity": b'{"a": 1e999}',
    "NaN": b'{"a": NaN}',
    "invalid UTF-8": b'{"a": "\xff"}',
    "a BOM": b'\xef\xbb\xbf{"a": 1}',
    "not JSON": b"{bad",
    "two values": b"{} {}",
}


@pytest.mark.parametrize("body", OFF_MODEL_JSON.values(), ids=OFF_MODEL_JSON.keys())
def test_json_bodies_off_the_data_model_are_invalid(body: bytes) -> None:
    with pytest.raises(InvalidEnvelopeData):
        JSON.decode_args(body)


OFF_MODEL_CBOR = {
    "duplicate key": "a2 6161 01 6161 02",
    "a tag": "a1 6161 c1 00",
    "integer over int64": "a1 6161 1b 8000000000000000",
    "non-text key": "a1 01 02",
    "invalid UTF-8": "a1 6161 61 ff",
    "trailing bytes": "a0 00",
    "undefined": "a1 6161 f7",
}


@pytest.mark.parametrize("hexa", OFF_MODEL_CBOR.values(), ids=OFF_MODEL_CBOR.keys())
def test_cbor_bodies_off_the_data_model_are_invalid(hexa: str) -> None:
    with pytest.raises(InvalidEnvelopeData):
        CBOR.decode_args(bytes.fromhex(hexa.replace(" ", "")))


@pytest.mark.parametrize("body", [b"[1]", b'"x"', b"null", b"7"])
def test_a_body_that_is_not_a_map_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(BadEnvelope):
        JSON.decode_args(body)
    with pytest.raises(BadEnvelope):
        CBOR.decode_args(cbor2.dumps(JSON.decode_args(b'{"v": ' + body + b"}")["v"]))


def test_nested_brackets_are_over_the_depth_limit_not_a_crash() -> None:
    for body in (b"[" * 1100, b"[" * 100_000, b'{"a":' * 5000):
        with pytest.raises(EnvelopeTooBig):
            JSON.decode_args(body)
    with pytest.raises(EnvelopeTooBig):
        CBOR.decode_args(b"\xa1\x61a" + b"\x81" * 5000 + b"\x80")


def test_args_nest_as_deep_as_inside_an_envelope() -> None:
    codec = EnvelopeCodec("json", max_depth=4)
    # An envelope {"args": {"a": [[]]}} is 4 levels deep: the body {"a": [[]]} is allowed...
    assert codec.decode_args(b'{"a": [[]]}') == {"a": [[]]}
    envelope = '{"type":"call","id":1,"method":"m","args":{"a":[[]]}}'
    assert codec.decode(envelope).args == {"a": [[]]}
    # ...and one level more is refused in both.
    with pytest.raises(EnvelopeTooBig):
        codec.decode_args(b'{"a": [[[]]]}')
    with pytest.raises(EnvelopeTooBig):
        codec.decode(envelope.replace("[[]]", "[[[]]]"))


def test_size_and_item_limits() -> None:
    small = EnvelopeCodec("cbor", max_size=10, max_items=3)
    with pytest.raises(EnvelopeTooBig):
        small.decode_args(cbor2.dumps({"a": "x" * 20}))
    with pytest.raises(EnvelopeTooBig):
        small.decode_args(cbor2.dumps({"a": [1, 2, 3, 4]}))
    with pytest.raises(EnvelopeTooBig):
        EnvelopeCodec("json", max_size=10).decode_args(b'{"a": "' + b"x" * 20 + b'"}')


def test_reply_bodies() -> None:
    assert JSON.encode_body({"value": "é"}) == '{"value":"é"}'.encode()
    assert cbor2.loads(CBOR.encode_body({"value": b"\x01"})) == {"value": b"\x01"}
    error = {"error": {"code": "bad_request", "message": "no"}}
    assert cbor2.loads(CBOR.encode_body(error)) == error
    bad: list[Any] = [{"value": b"x"}, {"value": 2**70}, {"value": "\ud800"}, {"value": {1}}]
    for value in bad:
        with pytest.raises(UnencodableValue):
            JSON.encode_body(value)
    with pytest.raises(ValueTooLarge):
        EnvelopeCodec("json", max_size=10).encode_body({"value": "x" * 20})


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("application/json", "json"),
        ("Application/JSON; charset=utf-8", "json"),
        ("application/cbor", "cbor"),
        (" application/cbor ;x=y", "cbor"),
    ],
)
def test_content_types(content_type: str, kind: str) -> None:
    assert codec_for_content_type(content_type) is codec_for_subprotocol(f"roost.v1.{kind}")
    assert codec_for_content_type(content_type, empty=True).kind == kind


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/json-seq",
        "",
    ],
)
def test_other_content_types_are_415(content_type: str | None) -> None:
    with pytest.raises(HandshakeError) as info:
        codec_for_content_type(content_type)
    assert info.value.status == 415


def test_an_empty_body_needs_no_content_type() -> None:
    assert codec_for_content_type(None, empty=True).kind == "json"
    with pytest.raises(HandshakeError):
        codec_for_content_type("text/plain", empty=True)
