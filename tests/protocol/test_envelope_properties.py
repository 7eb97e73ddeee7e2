"""Property tests of the envelope codec: round trips, and decoding hostile input safely."""

from __future__ import annotations

import json
import time
from typing import Any

import cbor2
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from roost.protocol import (
    BadEnvelope,
    Call,
    EnvelopeCodec,
    EnvelopeError,
    EnvelopeTooBig,
    ErrorReply,
    InvalidEnvelopeData,
    Result,
    ServerEvent,
)
from roost.protocol._envelope_values import Limits, check_tree, scan_cbor

SERVER = {kind: EnvelopeCodec(kind) for kind in ("json", "cbor")}
CLIENT = {kind: EnvelopeCodec(kind, client=True) for kind in ("json", "cbor")}
LIMITS = Limits(1 << 20, 32, 10_000, 100_000)

INTS = st.integers(-(2**63), 2**63 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
IDS = st.integers(0, 2**53 - 1)


def values(*, with_bytes: bool) -> st.SearchStrategy[Any]:
    """Values of the data model (JSON's, plus bytes for CBOR)."""
    scalars = st.none() | st.booleans() | INTS | FLOATS | st.text()
    if with_bytes:
        scalars |= st.binary()
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
        max_leaves=25,
    )


def envelopes(*, with_bytes: bool) -> st.SearchStrategy[Any]:
    value = values(with_bytes=with_bytes)
    return st.one_of(
        st.builds(Call, IDS, st.text(), st.dictionaries(st.text(), value, max_size=5)),
        st.builds(Result, IDS, value),
        st.builds(ErrorReply, st.none() | IDS, st.text(), st.text()),
        st.builds(ServerEvent, st.text(), value),
    )


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def reader(envelope: Any, kind: str) -> EnvelopeCodec:
    return SERVER[kind] if isinstance(envelope, Call) else CLIENT[kind]


@settings(deadline=None)
@given(envelopes(with_bytes=False))
def test_json_round_trip(envelope: Any) -> None:
    text = SERVER["json"].encode(envelope)
    assert isinstance(text, str)
    assert reader(envelope, "json").decode(text) == envelope
    assert json.loads(text)["type"] in ("call", "result", "error", "event")


@settings(deadline=None)
@given(envelopes(with_bytes=True))
def test_cbor_round_trip(envelope: Any) -> None:
    data = SERVER["cbor"].encode(envelope)
    assert isinstance(data, bytes)
    assert reader(envelope, "cbor").decode(data) == envelope


@settings(deadline=None)
@given(envelopes(with_bytes=False))
def test_both_encodings_carry_the_same_maps(envelope: Any) -> None:
    text = SERVER["json"].encode(envelope)
    data = SERVER["cbor"].encode(envelope)
    assert json.loads(text) == cbor2.loads(data)
    assert reader(envelope, "json").decode(text) == reader(envelope, "cbor").decode(data)


@settings(deadline=None)
@given(values(with_bytes=True))
def test_the_scan_accepts_whatever_cbor2_writes_for_the_model(value: Any) -> None:
    assume(depth(value) <= LIMITS.max_depth)
    check_tree(value, LIMITS, allow_bytes=True)
    data = cbor2.dumps(value)
    scan_cbor(data, LIMITS)
    assert cbor2.loads(data) == value


def assert_safe(codec: EnvelopeCodec, message: str | bytes) -> None:
    """Decoding either gives an envelope that encodes back, or raises an EnvelopeError."""
    started = time.perf_counter()
    try:
        envelope = codec.decode(message)
    except EnvelopeError as exc:
        assert (exc.close_code is None) != (exc.code is None)
        assert exc.reason.isascii() or exc.close_code is None
    else:
        again = codec.encode(envelope)
        assert codec.decode(again) == envelope
    assert time.perf_counter() - started < 1.0


@settings(deadline=None, max_examples=300)
@given(st.binary(max_size=200), st.booleans())
@example(b"\x81" * 10_000 + b"\x80", False)
@example(b"\xd9\x01\x02\x80", True)
@example(b"\xbf\x61a\x01\xff", False)
def test_arbitrary_bytes_never_break_cbor_decoding(data: bytes, client: bool) -> None:
    assert_safe(EnvelopeCodec("cbor", client=client), data)


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=200), st.booleans())
@example("[" * 10_000, False)
@example('"\\ud800\\udc00\\ud800"', True)
@example("1" * 4301, False)
def test_arbitrary_text_never_breaks_json_decoding(text: str, client: bool) -> None:
    assert_safe(EnvelopeCodec("json", client=client), text)


@st.composite
def damaged(draw: st.DrawFn, kind: str) -> tuple[bool, str | bytes]:
    """A valid envelope, then cut, spliced or with bytes overwritten."""
    envelope = draw(envelopes(with_bytes=kind == "cbor"))
    raw = SERVER[kind].encode(envelope)
    data = bytearray(raw.encode() if isinstance(raw, str) else raw)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["cut", "insert", "overwrite"]))
        noise = draw(st.binary(min_size=1, max_size=9))
        if action == "cut":
            del data[at : at + len(noise)]
        elif action == "insert":
            data[at:at] = noise
        else:
            data[at : at + len(noise)] = noise
    client = not isinstance(envelope, Call)
    if kind == "json":
        return client, bytes(data).decode("utf-8", "replace")
    return client, bytes(data)


@settings(deadline=None, max_examples=300)
@given(damaged("cbor"))
def test_damaged_cbor_envelopes_are_refused_or_valid(case: tuple[bool, bytes]) -> None:
    client, data = case
    assert_safe(EnvelopeCodec("cbor", client=client), data)


@settings(deadline=None, max_examples=300)
@given(damaged("json"))
def test_damaged_json_envelopes_are_refused_or_valid(case: tuple[bool, str]) -> None:
    client, text = case
    assert_safe(EnvelopeCodec("json", client=client), text)


@settings(deadline=None)
@given(
    st.integers(0, 2**64 - 1),
    values(with_bytes=True),
    st.sampled_from(["root", "in args"]),
)
@example(0, "2013-03-21T20:04:00Z", "in args")  # a date
@example(2, b"\x01" + bytes(8), "in args")  # a bignum
@example(258, [1, 2], "in args")  # a set
@example(55799, {}, "root")  # self-described CBOR
def test_every_cbor_tag_is_refused(tag: int, value: Any, where: str) -> None:
    assume(depth(value) < 30)
    tagged = cbor2.CBORTag(tag, value)
    message: Any = (
        tagged
        if where == "root"
        else {
            "type": "call",
            "id": 1,
            "method": "m",
            "args": {"x": tagged},
        }
    )
    data = cbor2.dumps(message)
    with pytest.raises(InvalidEnvelopeData, match="tags"):
        SERVER["cbor"].decode(data)


TOO_BIG, INVALID, NO_ENVELOPE = EnvelopeTooBig, InvalidEnvelopeData, BadEnvelope
DEEP_AND_BIG: dict[str, list[tuple[Any, type[EnvelopeError]]]] = {
    "json": [
        ("[" * (1 << 20), TOO_BIG),
        ("[" * 10_000 + "]" * 10_000, TOO_BIG),
        ('{"a":' * 200_000, TOO_BIG),
        ('{"type":"call","id":1,"method":"m","args":{"a":' + "[" * 500_000, TOO_BIG),
        ("[" + "[]," * 349_000 + "[]]", TOO_BIG),
        ("[" + "0," * 500_000 + "0]", TOO_BIG),
        ('["' + "," * 1_000_000 + '"]', NO_ENVELOPE),  # commas in a string are no items
        ('"' + "[" * 1_000_000 + '"', NO_ENVELOPE),
    ],
    "cbor": [
        (b"\x81" * (1 << 20), TOO_BIG),
        (b"\x81" * 9_999 + b"\x80", TOO_BIG),
        (b"\xa1\x61a" * 300_000, TOO_BIG),
        (b"\x9f" * 10_000, INVALID),
        (b"\x9a\x00\x0f\xff\xff" + b"\x80" * 1_000_000, TOO_BIG),
        (b"\x99\x27\x10" * 11 + b"\x00" * 100_000, TOO_BIG),
        (b"\x99\x27\x10" + b"\x80" * 10_000, NO_ENVELOPE),
        (b"\x5a\x00\x0f\xff\xf0" + bytes(1_048_560), NO_ENVELOPE),
    ],
}


@pytest.mark.parametrize("kind", ["json", "cbor"])
def test_deep_and_big_frames_are_refused_quickly(kind: str) -> None:
    codec = SERVER[kind]
    for message, refusal in DEEP_AND_BIG[kind]:
        assert len(message) <= 1 << 20
        started = time.perf_counter()
        with pytest.raises(refusal):
            codec.decode(message)
        elapsed = time.perf_counter() - started
        assert elapsed < 0.5, (message[:20], elapsed)
