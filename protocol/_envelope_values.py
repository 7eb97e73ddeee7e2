"""Envelope values as JSON text and CBOR bytes: the data model and its limits.

Untrusted input never reaches a recursive decoder unchecked:

* :func:`scan_cbor` walks the *headers* of CBOR before cbor2 decodes it: it validates
  nesting depth, declared container lengths, major types and simple values, and refuses
  tags, indefinite lengths, non-text map keys, integers outside int64, non-finite floats and
  trailing bytes. It decodes no value (strings are skipped by their length), so cbor2 only
  ever sees input whose shape is known to be within the limits.
* JSON goes to the stdlib's parser, whose recursion Python bounds (about 1,000 levels, a
  RecursionError); counts of brackets and commas, at C speed, refuse frames with too many
  items before it runs and tell when :func:`check_tree` must walk its result.
* :func:`check_tree` walks a Python value (one to encode, or one the JSON parser built)
  container by container, iteratively, before either encoder sees it: cbor2's encoder
  recurses on the C stack and crashes the process on values nested ~5,000 deep.

Everything here raises :class:`OffModel` or :class:`OverLimit`; the codec turns them into
the :class:`~roost.protocol.EnvelopeError` of its direction (receiving or sending).
"""

from __future__ import annotations

import json
import math
import re
from itertools import compress, repeat
from types import NoneType
from typing import Any

import attrs
import cbor2

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "Limits",
    "OffModel",
    "OverLimit",
    "check_tree",
    "decode_cbor",
    "decode_json",
    "encode_cbor",
    "encode_json",
    "scan_cbor",
]

#: Integers must fit in a signed 64-bit integer, in both encodings.
INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1


class OffModel(Exception):
    """A value outside the data model, or bytes that are not well-formed CBOR."""


class OverLimit(Exception):
    """A value over max_size, max_depth, max_items or max_total_items."""


@attrs.frozen
class Limits:
    """The limits on one envelope (see :class:`~roost.protocol.EnvelopeCodec`)."""

    max_size: int
    max_depth: int
    max_items: int
    max_total_items: int


_SCALARS: frozenset[type] = frozenset({str, bool, int, float, NoneType})
_CONTAINERS: frozenset[type] = frozenset({list, tuple, dict})
_JSON_TYPES = _SCALARS | _CONTAINERS
_CBOR_TYPES = _JSON_TYPES | {bytes, bytearray}
# type -> True for containers; dict.get gives None (falsy) for anything else, so that
# itertools.compress can pick the containers (or the ints, floats) of a list at C speed.
_IS_CONTAINER: dict[type, bool] = dict.fromkeys(_CONTAINERS, True)
_IS_INT: dict[type, bool] = {int: True}
_IS_FLOAT: dict[type, bool] = {float: True}
# Containers up to this length are checked item by item, longer ones at C speed.
_SMALL = 16
_INT_RANGE = "an integer does not fit in 64 bits"
_FINITE = "floats must be finite"


def check_tree(
    value: Any, limits: Limits, *, allow_bytes: bool, depth: int = 0, counted: int = 0
) -> None:
    """Check that ``value`` is in the data model and within the limits.

    The model: None, bool, int in int64, finite float, str, lists (and tuples), dicts with
    str keys, and bytes/bytearray if ``allow_bytes``; exact types only (no subclasses), so
    that both encoders write the same thing. A container at the top is at depth 1; a
    container's length counts towards ``max_items`` and, summed, ``max_total_items``.
    Cyclic values are reported as too deep; shared ones are counted at each occurrence.

    ``depth`` and ``counted`` place ``value`` inside containers already checked: nested
    ``depth`` levels deep in them, which hold ``counted`` items in all (the codec checks the
    payload of an envelope map it built itself this way, without walking the map).

    Raises:
        OffModel: a value outside the data model.
        OverLimit: deeper than ``max_depth`` or over an item limit.
    """
    max_depth, max_items = limits.max_depth, limits.max_items
    max_total_items = limits.max_total_items
    allowed = _CBOR_TYPES if allow_bytes else _JSON_TYPES
    kind = type(value)
    if kind is not dict and kind is not list and kind is not tuple:  # a scalar: nothing nests
        _check_scalars((value,), allowed)
        return
    # The value is a container one level below ``depth`` (at the top: depth 1, as if in a
    # virtual one-item array at depth 0, which counts no item).
    total = counted
    stack: list[tuple[Any, int]] = [(value, depth + 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise OverLimit(f"nested deeper than {max_depth} levels")
        size = len(node)
        if size > max_items:
            raise OverLimit(f"a container holds more than {max_items} items")
        total += size
        if total > max_total_items:
            raise OverLimit(f"more than {max_total_items} items in all")
        if type(node) is dict:
            if size and set(map(type, node)) != {str}:
                raise OffModel("map keys must be text strings")
            items = node.values()
        else:
            items = node
        if size > _SMALL:
            if not _check_scalars(items, allowed).isdisjoint(_CONTAINERS):
                children = compress(items, map(_IS_CONTAINER.get, map(type, items)))
                stack.extend(zip(children, repeat(depth + 1)))
            continue
        for item in items:  # a plain loop is faster than C-speed machinery for few items
            kind = type(item)
            if kind is str or kind is bool or kind is NoneType:
                continue
            if kind is int:
                if not INT_MIN <= item <= INT_MAX:
                    raise OffModel(_INT_RANGE)
            elif kind is float:
                if not math.isfinite(item):
                    raise OffModel(_FINITE)
            elif kind is dict or kind is list or kind is tuple:
                stack.append((item, depth + 1))
            elif kind not in allowed:
                raise OffModel(f"a value of type {kind.__qualname__} is outside the data model")


def _check_scalars(items: Any, allowed: frozenset[type]) -> set[type]:
    """The types among ``items``, after checking them and the range of ints and floats."""
    kinds = set(map(type, items))
    if not kinds <= allowed:
        odd = min(kind.__qualname__ for kind in kinds - allowed)
        raise OffModel(f"a value of type {odd} is outside the data model")
    if int in kinds:
        ints = list(compress(items, map(_IS_INT.get, map(type, items))))
        if min(ints) < INT_MIN or max(ints) > INT_MAX:
            raise OffModel(_INT_RANGE)
    if float in kinds and not all(
        map(math.isfinite, compress(items, map(_IS_FLOAT.get, map(type, items))))
    ):
        raise OffModel(_FINITE)
    return kinds


# Masks of the exponent bits of CBOR half, single and double floats (additional info 25-27):
# all ones means infinity or NaN.
_NON_FINITE = {25: 0x7C00, 26: 0x7F80_0000, 27: 0x7FF0_0000_0000_0000}
_TRUNCATED = "truncated CBOR"


def scan_cbor(data: bytes, limits: Limits) -> None:
    """Check the structure of one CBOR data item in ``data`` before it is decoded.

    Reads only the initial byte and argument of each data item (RFC 8949 §3): the number of
    steps is at most ``max_total_items + 1``, whatever the size of ``data``.

    Raises:
        OffModel: not exactly one well-formed CBOR item, or one outside the data model.
        OverLimit: deeper than ``max_depth`` or over an item limit.
    """
    max_depth, max_items = limits.max_depth, limits.max_items
    max_total_items = limits.max_total_items
    from_bytes = int.from_bytes
    end = len(data)
    pos = total = 0
    # Items still to start in the innermost open container (``left``) and in the ones around
    # it (``outer``, innermost last): an array's count goes down to 0, a map's (key and value
    # per entry) is negative and goes up to 0, a key being due when it is even. The value
    # sits in a virtual one-item array. A container is left once its last item is complete.
    # The innermost count lives in a local, not at ``outer[-1]``: this loop runs once per
    # item of every envelope received (a typical call: 4.9 -> 3.0 us).
    left = 1
    outer: list[int] = []
    while True:
        if pos >= end:
            raise OffModel(_TRUNCATED)
        initial = data[pos]
        pos += 1
        info = initial & 0x1F
        if info < 24:
            arg = info
        elif info < 28:
            start, pos = pos, pos + (1 << (info - 24))
            if pos > end:
                raise OffModel(_TRUNCATED)
            arg = from_bytes(data[start:pos], "big")
        elif info == 31:
            raise OffModel("indefinite-length CBOR items are not allowed")
        else:
            raise OffModel("malformed CBOR (reserved additional information)")
        major = initial >> 5
        if left > 0:
            left -= 1
        elif left & 1 or major == 3:
            left += 1
        else:
            raise OffModel("map keys must be text strings")
        if major == 3 or major == 2:  # text or byte string, skipped (cbor2 checks UTF-8)
            pos += arg
            if pos > end:
                raise OffModel(_TRUNCATED)
        elif major < 2:  # unsigned integer arg, or negative integer -1 - arg
            if arg > INT_MAX:
                raise OffModel(_INT_RANGE)
        elif major < 6:  # array or map
            if arg > max_items:
                raise OverLimit(f"a container holds more than {max_items} items")
            total += arg
            if total > max_total_items:
                raise OverLimit(f"more than {max_total_items} items in all")
            if len(outer) >= max_depth:
                raise OverLimit(f"nested deeper than {max_depth} levels")
            if arg:
                if arg > end - pos:  # every item takes at least one byte
                    raise OffModel(_TRUNCATED)
                outer.append(left)
                left = -2 * arg if major == 5 else arg
                continue
        elif major == 6:
            raise OffModel("CBOR tags are not allowed")
        elif info in _NON_FINITE:
            mask = _NON_FINITE[info]
            if arg & mask == mask:
                raise OffModel(_FINITE)
        elif not 20 <= info <= 22:  # false, true, null; not undefined nor other simple values
            raise OffModel("a CBOR simple value outside the data model")
        while not left:
            if not outer:
                if pos != end:
                    raise OffModel("trailing bytes after the CBOR data item")
                return
            left = outer.pop()


def decode_cbor(data: bytes, limits: Limits) -> Any:
    """Decode one CBOR data item of the data model within ``limits``."""
    if len(data) > limits.max_size:
        raise OverLimit(f"envelope over {limits.max_size} bytes")
    scan_cbor(data, limits)
    try:
        return cbor2.loads(
            data,
            tag_hook=_refuse_tag,
            max_depth=limits.max_depth,
            allow_indefinite=False,
            allow_duplicate_keys=False,
            strict_hashable_types=True,
        )
    except cbor2.CBORError:  # invalid UTF-8, a duplicate key
        raise OffModel("invalid CBOR") from None


def encode_cbor(value: Any, limits: Limits, *, checked: bool = False) -> bytes:
    """Encode ``value`` (checked with :func:`check_tree` first, unless ``checked``) as
    compact CBOR."""
    if not checked:
        check_tree(value, limits, allow_bytes=True)
    try:
        data: bytes = cbor2.dumps(value)
    except (cbor2.CBORError, UnicodeError, ValueError) as exc:
        raise OffModel("a string is not valid UTF-8") from exc
    if len(data) > limits.max_size:
        raise OverLimit(f"envelope over {limits.max_size} bytes")
    return data


def _refuse_tag(tag: Any, immutable: bool) -> Any:
    raise OffModel("CBOR tags are not allowed")  # scan_cbor refuses them first


# JSON decoding: the hooks refuse what JSON's grammar allows but the data model does not.
def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise OffModel("duplicate map key")
    return obj


def _json_int(text: str) -> int:
    value = int(text)  # ValueError past sys.get_int_max_str_digits(): invalid JSON too
    if not INT_MIN <= value <= INT_MAX:
        raise OffModel(_INT_RANGE)
    return value


def _json_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise OffModel(_FINITE)
    return value


def _json_constant(text: str) -> Any:
    raise OffModel(f"{text} is not JSON")


_JSON_DECODER = json.JSONDecoder(
    object_pairs_hook=_json_object,
    parse_int=_json_int,
    parse_float=_json_float,
    parse_constant=_json_constant,
)
# check_circular is off because check_tree refuses cycles (as too deep) first.
_JSON_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
)
# A JSON string, escapes included (the unrolled-loop form, linear on any input).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def decode_json(text: str, limits: Limits) -> Any:
    """Decode one JSON value of the data model within ``limits``."""
    size = len(text)
    if size > limits.max_size // 4 and not text.isascii():
        try:
            size = len(text.encode())
        except UnicodeEncodeError:
            raise OffModel("invalid UTF-8") from None
    if size > limits.max_size:
        raise OverLimit(f"envelope over {limits.max_size} bytes")
    # Brackets and commas bound the items from above; outside strings, from below too, so
    # a frame of 350,000 "[]," is refused before the parser builds (and the garbage
    # collector walks) that many lists.
    commas = text.count(",")
    opened = text.count("[") + text.count("{")
    if commas + opened > limits.max_total_items:
        structure = _JSON_STRING.sub("", text)
        commas = structure.count(",")
        opened = structure.count("[") + structure.count("{")
        if max(commas, opened - 1) > limits.max_total_items:
            raise OverLimit(f"more than {limits.max_total_items} items in all")
    try:
        value = _JSON_DECODER.decode(text)
    except RecursionError:
        raise OverLimit(f"nested deeper than {limits.max_depth} levels") from None
    except ValueError:
        raise OffModel("invalid JSON") from None
    # Few brackets and commas cannot be over the limits: then the walk is not needed.
    if opened > limits.max_depth or commas + opened > min(limits.max_items, limits.max_total_items):
        check_tree(value, limits, allow_bytes=False)
    if "\\ud" in text or "\\uD" in text:  # maybe an escaped lone surrogate
        try:
            _JSON_ENCODER.encode(value).encode()
        except UnicodeEncodeError:
            raise OffModel("invalid UTF-8 (a lone surrogate)") from None
    return value


def encode_json(value: Any, limits: Limits, *, checked: bool = False) -> str:
    """Encode ``value`` (checked with :func:`check_tree` first, unless ``checked``) as
    compact JSON text."""
    if not checked:
        check_tree(value, limits, allow_bytes=False)
    text = _JSON_ENCODER.encode(value)
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode())
        except UnicodeEncodeError:
            raise OffModel("a string is not valid UTF-8") from None
    if size > limits.max_size:
        raise OverLimit(f"envelope over {limits.max_size} bytes")
    return text
