"""The envelope's per-call fast paths (issue 16) decide exactly what the general paths decide.

A result's map is encoded without walking the map itself (only its value is checked, and
``encode_result`` builds no Result record), the
CBOR scan keeps the innermost container's count in a local and rpc bindings are cached per
class: each test pins what the plain path would have answered.
"""

from __future__ import annotations

import types
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost import Actor, rpc
from roost._errors import RpcError
from roost.actors.hosting import bind_call
from roost.protocol import EnvelopeCodec, Result, UnencodableValue, ValueTooLarge
from roost.protocol._envelope import _as_map
from roost.protocol._envelope_values import (
    Limits,
    OffModel,
    OverLimit,
    check_tree,
    encode_cbor,
    encode_json,
    scan_cbor,
)

IDS = st.integers(0, 2**53 - 1)
# Values in and out of the data model: sets, NaN, huge ints and non-str keys are refused.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats()
    | st.text(max_size=5)
    | st.binary(max_size=5)
    | st.frozensets(st.integers(0, 3), max_size=2)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=3) | st.integers(0, 3), inner, max_size=4)
    ),
    max_leaves=12,
)
LIMITS = st.builds(
    dict,
    max_depth=st.integers(2, 5),
    max_items=st.integers(2, 6),
    max_total_items=st.integers(2, 12),
)


def _general(codec: EnvelopeCodec, envelope: Result) -> Any:
    """What the plain path (the whole map walked) makes of ``envelope``."""
    try:
        obj = _as_map(envelope)
        if codec.kind == "json":
            return encode_json(obj, codec._limits)
        return encode_cbor(obj, codec._limits)
    except OverLimit as exc:
        return ValueTooLarge, str(exc)
    except OffModel as exc:
        return UnencodableValue, str(exc)


def _fast(codec: EnvelopeCodec, envelope: Result) -> Any:
    try:
        return codec.encode(envelope)
    except (ValueTooLarge, UnencodableValue) as exc:
        assert exc.call_id == envelope.id
        return type(exc), exc.reason


@settings(deadline=None, max_examples=400)
@given(kind=st.sampled_from(["cbor", "json"]), limits=LIMITS, call_id=IDS, value=VALUES)
def test_a_result_is_encoded_as_its_whole_map_would_be(
    kind: str, limits: dict[str, int], call_id: int, value: Any
) -> None:
    codec = EnvelopeCodec(kind, **limits)  # type: ignore[arg-type]
    envelope = Result(call_id, value)
    assert _fast(codec, envelope) == _general(codec, envelope)
    try:
        direct: Any = codec.encode_result(call_id, value)
    except (ValueTooLarge, UnencodableValue) as exc:
        direct = type(exc), exc.reason
    assert direct == _general(codec, envelope)


@pytest.mark.parametrize("call_id", [-1, 2**53, True, 1.0, None])
def test_a_result_with_a_bad_id_is_refused_by_both_paths(call_id: Any) -> None:
    codec = EnvelopeCodec("cbor")
    with pytest.raises(UnencodableValue, match="integer id") as direct:
        codec.encode_result(call_id, 1)
    with pytest.raises(UnencodableValue, match="integer id") as general:
        codec.encode(Result(call_id, 1))
    assert (direct.value.reason, direct.value.call_id) == (
        general.value.reason,
        general.value.call_id,
    )


def test_a_result_does_not_fit_two_items() -> None:
    """Its map has three entries: over ``max_items=2`` whatever the value (as before)."""
    codec = EnvelopeCodec("cbor", max_items=2)
    with pytest.raises(ValueTooLarge, match="more than 2 items"):
        codec.encode(Result(1, None))


def test_check_tree_places_a_value_inside_checked_containers() -> None:
    limits = Limits(1 << 20, 3, 4, 6)
    check_tree({"a": {"b": 1}}, limits, allow_bytes=True, depth=1, counted=3)
    with pytest.raises(OverLimit, match="deeper than 3"):
        check_tree({"a": {"b": {}}}, limits, allow_bytes=True, depth=1, counted=3)
    with pytest.raises(OverLimit, match="more than 6 items in all"):
        check_tree([1, 2, 3, 4], limits, allow_bytes=True, depth=1, counted=3)
    with pytest.raises(OffModel, match="finite"):
        check_tree(float("nan"), limits, allow_bytes=True, depth=1, counted=3)


LIMITS_32 = Limits(1 << 20, 32, 10_000, 100_000)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        # Containers closing several levels at once, then more items of the outer ones.
        (cbor2.dumps({"a": [1, {"b": [[]]}], "c": [2, [3]]}), None),
        (cbor2.dumps([[[[1]]], 2, {"k": {}}]), None),
        # After an inner container ends, the next map key must still be text.
        (bytes.fromhex("a2 6161 8101 01 02".replace(" ", "")), "map keys must be text"),
        (bytes.fromhex("a1 6161 a1 6162 a0 00".replace(" ", "")), "trailing bytes"),
        (bytes.fromhex("82 81 81 01".replace(" ", "")), "truncated CBOR"),
        (bytes.fromhex("81 c1 00".replace(" ", "")), "tags are not allowed"),
        (bytes.fromhex("a1 6161 f7".replace(" ", "")), "simple value"),
        (bytes.fromhex("1b ffffffffffffffff".replace(" ", "")), "64 bits"),
        (bytes.fromhex("9f ff".replace(" ", "")), "indefinite-length"),
        (bytes.fromhex("81 fa 7fc00000".replace(" ", "")), "finite"),
    ],
)
def test_the_scan_tracks_containers_across_closes(data: bytes, error: str | None) -> None:
    if error is None:
        scan_cbor(data, LIMITS_32)
    else:
        with pytest.raises(OffModel, match=error):
            scan_cbor(data, LIMITS_32)


def test_the_scan_counts_depth_of_open_containers_only() -> None:
    limits = Limits(1 << 20, 3, 10, 100)
    scan_cbor(cbor2.dumps([[[1]], [[2]], {"a": [3]}]), limits)  # siblings do not add up
    with pytest.raises(OverLimit, match="deeper than 3"):
        scan_cbor(cbor2.dumps([[[[1]]]]), limits)


class Parent(Actor):
    @rpc
    async def ping(self, conn: Any, n: int) -> int:
        return n


class Child(Parent):
    @rpc
    async def pong(self, conn: Any, *, n: int = 0) -> int:
        return -n


def test_bindings_are_per_class() -> None:
    bind_call(Parent, "ping", {"n": 1})  # the parent's bindings are made first
    bind_call(Child, "pong", {})
    bind_call(Child, "ping", {"n": 1})
    with pytest.raises(RpcError) as caught:
        bind_call(Parent, "pong", {})
    assert caught.value.code == "not_found"


def test_any_mapping_binds_and_nothing_else() -> None:
    bind_call(Parent, "ping", types.MappingProxyType({"n": 1}))
    for args in ([("n", 1)], "n"):
        with pytest.raises(RpcError, match="args must be an object") as caught:
            bind_call(Parent, "ping", args)  # type: ignore[arg-type]
        assert caught.value.code == "bad_request"
    with pytest.raises(RpcError, match="missing arguments: n"):
        bind_call(Parent, "ping", {})
    with pytest.raises(RpcError, match="unexpected arguments: m"):
        bind_call(Parent, "ping", {"n": 1, "m": 2})
