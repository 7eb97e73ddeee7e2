"""CBOR encoding of KV values: refuse on write what could not be read back safely.

Values are stored as CBOR (cbor2). Two properties are checked before anything is written:

* **Nesting depth.** cbor2's encoder recurses on the C stack and crashes the whole process
  (segmentation fault) on values nested a few thousand levels deep, and its decoder refuses
  more than a few hundred levels. So a value's containers may nest at most
  :data:`MAX_VALUE_DEPTH` levels; deeper values and cycles are refused before encoding.
* **No explicit tags.** A :class:`cbor2.CBORTag` would be written as is and could not be
  decoded, because decoding refuses tags cbor2 does not know natively (a file is not trusted
  more than a peer). Types cbor2 maps to standard tags (datetime, Decimal, UUID, set, ...)
  are fine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from itertools import chain, compress, repeat
from types import NoneType
from typing import Any

import cbor2

from roost._errors import StorageError

__all__ = ["MAX_VALUE_DEPTH", "decode_value", "encode_value"]

#: Deepest nesting of containers (lists, tuples, dicts, sets, other sequences and mappings) a
#: stored value may have; a flat list counts 1.
MAX_VALUE_DEPTH = 256

# Tags count as a level when decoding (a set is tag 258 around an array, a Decimal tag 4
# around an array), so the decoder allows twice the encoder's depth plus leaf tags.
_DECODE_MAX_DEPTH = 2 * MAX_VALUE_DEPTH + 8

# type -> False for types that never contain other values; anything else maps to True via the
# default of dict.get, which lets C-level map/compress skip scalars without a Python loop.
_NOT_NESTED: dict[type, bool] = dict.fromkeys(
    (str, bytes, bytearray, int, float, bool, complex, NoneType), False
)


def encode_value(value: Any) -> bytes:
    """Encode ``value`` as CBOR for storage.

    Raises:
        StorageError: if cbor2 cannot encode the value, it nests deeper than
            :data:`MAX_VALUE_DEPTH`, it is cyclic, or it contains an explicit CBORTag.
    """
    if _NOT_NESTED.get(type(value), True):
        _check_nesting(value)
    try:
        return cbor2.dumps(value)
    except (cbor2.CBORError, UnicodeError) as exc:
        raise StorageError(f"cannot store a value of type {type(value).__name__}: {exc}") from exc


def decode_value(data: bytes) -> Any:
    """Decode a stored CBOR value, refusing tags cbor2 does not know natively.

    Raises:
        StorageError: if the bytes are not valid CBOR or use an unknown tag.
    """
    try:
        return cbor2.loads(data, tag_hook=_refuse_tag, max_depth=_DECODE_MAX_DEPTH)
    except cbor2.CBORError as exc:
        raise StorageError(f"stored value cannot be decoded: {exc}") from exc


def _refuse_tag(tag: Any, immutable: bool) -> Any:
    raise StorageError(f"stored value uses unknown CBOR tag {tag.tag}")


class _Frame:
    """One container on the current path of :func:`_check_nesting`."""

    __slots__ = ("children", "height", "node")

    def __init__(self, node: object, children: Iterator[Any]) -> None:
        self.node = node
        self.children = children
        self.height = 0  # greatest height among the children explored so far


_END = object()


def _check_nesting(value: object) -> None:
    """Refuse values whose containers nest deeper than MAX_VALUE_DEPTH, or cyclic ones.

    An iterative depth-first walk over containers only (scalars are filtered at C speed), with
    the height of each explored container remembered by id, so shared sub-structures are
    walked once: linear in the number of containers, also for DAGs that would be exponential
    to walk naively.
    """
    children = _nested_children(value)
    if children is None:
        return
    heights: dict[int, int] = {}
    on_path = {id(value)}
    path = [_Frame(value, children)]
    while path:
        frame = path[-1]
        child = next(frame.children, _END)
        if child is _END:
            path.pop()
            on_path.discard(id(frame.node))
            height = frame.height + 1
            heights[id(frame.node)] = height
            if path and path[-1].height < height:
                path[-1].height = height
            continue
        child_id = id(child)
        known = heights.get(child_id)
        if known is not None:
            if len(path) + known > MAX_VALUE_DEPTH:
                raise _too_deep()
            if frame.height < known:
                frame.height = known
            continue
        if child_id in on_path:
            raise StorageError("cannot store a cyclic value")
        grandchildren = _nested_children(child)
        if grandchildren is None:
            continue
        if len(path) >= MAX_VALUE_DEPTH:
            raise _too_deep()
        on_path.add(child_id)
        path.append(_Frame(child, grandchildren))


def _too_deep() -> StorageError:
    return StorageError(f"cannot store a value nested deeper than {MAX_VALUE_DEPTH} levels")


def _nested_children(value: object) -> Iterator[Any] | None:
    """The children of ``value`` that may contain others, or None if it is no container."""
    kind = type(value)
    if kind is dict or (kind is not list and kind is not tuple and isinstance(value, Mapping)):
        assert isinstance(value, Mapping)
        return chain(_non_scalars(value.keys()), _non_scalars(value.values()))
    if kind is list or kind is tuple or isinstance(value, (Sequence, Set)):
        assert isinstance(value, Iterable)
        if isinstance(value, (str, bytes, bytearray, memoryview)):
            return None
        return _non_scalars(value)
    if isinstance(value, cbor2.CBORTag):
        raise StorageError(
            "cannot store an explicit CBORTag: it could not be decoded; store plain values"
        )
    return None


def _non_scalars(items: Iterable[Any]) -> Iterator[Any]:
    return compress(items, map(_NOT_NESTED.get, map(type, items), repeat(True)))
