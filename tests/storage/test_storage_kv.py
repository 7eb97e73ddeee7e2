"""KV: ordering, ranges, values, and what it refuses to store or decode."""

from __future__ import annotations

import datetime
import decimal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

import cbor2
import pytest

from roost import StorageError
from roost.storage import KV, MAX_VALUE_DEPTH

from .conftest import MakeStorage

# Keys around UTF-8 encoding boundaries: 1-byte (0x00, 0x7F), 2-byte (U+0080, U+07FF),
# 3-byte (U+0800, U+FFFF) and 4-byte (U+10000, U+10FFFF) sequences.
BOUNDARY_KEYS = [
    "",
    "\x00",
    "\x00\x00",
    "a",
    "a\x00",
    "a\x01",
    "a\x7f",
    "a\x80",
    "a\u07ff",
    "a\u0800",
    "a\uffff",
    "a\U00010000",
    "a\U0010ffff",
    "a\U0010ffff\U0010ffff",
    "ab",
    "b",
    "\x7f",
    "\u00e9",
    "\uffff",
    "\U0010ffff",
]


@pytest.fixture
def kv(make_storage: MakeStorage) -> KV:
    return make_storage().kv


@pytest.fixture
def filled(kv: KV) -> KV:
    kv.put_many({k: i for i, k in enumerate(BOUNDARY_KEYS)})
    return kv


def keys(entries: list[tuple[str, Any]]) -> list[str]:
    return [k for k, _ in entries]


def test_get_put_delete(kv: KV) -> None:
    assert kv.get("a") is None
    assert kv.get("a", 7) == 7
    kv.put("a", {"x": [1, 2]})
    assert kv.get("a") == {"x": [1, 2]}
    kv.put("a", "replaced")
    assert kv.get("a") == "replaced"
    assert kv.delete("a") is True
    assert kv.delete("a") is False
    assert kv.get("a", "gone") == "gone"


def test_falsy_values_are_not_missing(kv: KV) -> None:
    for value in (None, 0, "", b"", [], {}, False):
        kv.put("k", value)
        assert kv.get("k", "default") == value


def test_put_many_delete_many(kv: KV) -> None:
    kv.put_many({"a": 1, "b": 2, "c": 3})
    kv.put_many({})
    assert kv.list() == [("a", 1), ("b", 2), ("c", 3)]
    assert kv.delete_many(["a", "c", "zz"]) == 2
    assert kv.delete_many([]) == 0
    assert kv.list() == [("b", 2)]


def test_put_many_encodes_everything_before_writing(kv: KV) -> None:
    with pytest.raises(StorageError):
        kv.put_many({"a": 1, "b": object()})
    assert kv.list() == []


def test_reads_and_deletes_create_nothing(make_storage: MakeStorage) -> None:
    storage = make_storage()
    assert storage.kv.get("a") is None
    assert storage.kv.list(prefix="a") == []
    assert storage.kv.delete("a") is False
    assert storage.kv.delete_many(["a"]) == 0
    assert "_roost_kv" not in storage.db.table_names()
    storage.kv.put("a", 1)
    assert "_roost_kv" in storage.db.table_names()


def test_order_is_code_point_order(filled: KV) -> None:
    assert keys(filled.list()) == sorted(BOUNDARY_KEYS)
    assert keys(filled.list(reverse=True)) == sorted(BOUNDARY_KEYS, reverse=True)


@pytest.mark.parametrize("prefix", ["a", "\x00", "a\U0010ffff", "a\x7f", "\uffff", "ab", "zz"])
def test_prefix(filled: KV, prefix: str) -> None:
    expected = sorted(k for k in BOUNDARY_KEYS if k.startswith(prefix))
    assert keys(filled.list(prefix=prefix)) == expected
    assert keys(filled.list(prefix=prefix, reverse=True)) == expected[::-1]


def test_empty_prefix_matches_everything(filled: KV) -> None:
    assert keys(filled.list(prefix="")) == sorted(BOUNDARY_KEYS)


def test_start_inclusive_end_exclusive(filled: KV) -> None:
    assert keys(filled.list(start="a", end="b")) == sorted(
        k for k in BOUNDARY_KEYS if "a" <= k < "b"
    )
    assert keys(filled.list(start="a\x80")) == sorted(k for k in BOUNDARY_KEYS if k >= "a\x80")
    assert keys(filled.list(end="a")) == sorted(k for k in BOUNDARY_KEYS if k < "a")
    assert filled.list(start="b", end="a") == []
    assert filled.list(start="a", end="a") == []


def test_prefix_combines_with_start_and_end(filled: KV) -> None:
    in_a = sorted(k for k in BOUNDARY_KEYS if k.startswith("a"))
    assert keys(filled.list(prefix="a", start="a\x80")) == [k for k in in_a if k >= "a\x80"]
    assert keys(filled.list(prefix="a", end="a\u0800")) == [k for k in in_a if k < "a\u0800"]
    # bounds outside the prefix's range do not widen it
    assert keys(filled.list(prefix="a", start="", end="z")) == in_a
    assert filled.list(prefix="a", start="b") == []
    assert filled.list(prefix="a", end="a") == []


def test_limit(filled: KV) -> None:
    ordered = sorted(BOUNDARY_KEYS)
    assert keys(filled.list(limit=3)) == ordered[:3]
    assert keys(filled.list(limit=3, reverse=True)) == ordered[::-1][:3]
    assert filled.list(limit=0) == []
    assert keys(filled.list(limit=1000)) == ordered
    in_a = sorted(k for k in BOUNDARY_KEYS if k.startswith("a"))
    assert keys(filled.list(prefix="a", limit=2, reverse=True)) == in_a[::-1][:2]


def test_bad_arguments(kv: KV) -> None:
    with pytest.raises(ValueError):
        kv.list(limit=-1)
    with pytest.raises(TypeError):
        kv.list(limit=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        kv.list(limit=True)
    with pytest.raises(TypeError):
        kv.put(1, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        kv.get(b"k")
    with pytest.raises(TypeError):
        kv.list(prefix=b"a")  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["\ud800", "a\udc00"])
def test_keys_that_are_not_utf8_are_refused(kv: KV, key: str) -> None:
    with pytest.raises(StorageError):
        kv.put(key, 1)
    with pytest.raises(StorageError):
        kv.list(prefix=key)


VALUES = [
    None,
    True,
    0,
    -(2**63),
    2**200,
    1.5,
    float("inf"),
    "text ✓",
    b"\x00\xff",
    [1, [2, [3]]],
    (1, 2),
    {"nested": {"list": [1, {"x": None}]}, "bytes": b"x"},
    {1: "int key", (1, 2): "tuple key"},
    {1, 2, 3},
    frozenset({"a"}),
    datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
    datetime.date(2024, 1, 2),
    decimal.Decimal("1.10"),
    uuid.UUID(int=42),
]


@pytest.mark.parametrize("value", VALUES, ids=[type(v).__name__ for v in VALUES])
def test_values_round_trip(kv: KV, value: Any) -> None:
    kv.put("k", value)
    got = kv.get("k")
    if isinstance(value, tuple):
        assert got == list(value)  # CBOR has one array type
    else:
        assert got == value


def nested(depth: int, container: type = list) -> Any:
    value: Any = container()
    for _ in range(depth - 1):
        value = container([value])
    return value


class MyList(list):  # type: ignore[type-arg]
    pass


def test_deepest_allowed_value_round_trips(kv: KV) -> None:
    kv.put("k", nested(MAX_VALUE_DEPTH))
    assert kv.get("k") == nested(MAX_VALUE_DEPTH)
    kv.put("s", {"k": nested(MAX_VALUE_DEPTH - 1)})
    assert kv.get("s") == {"k": nested(MAX_VALUE_DEPTH - 1)}


@pytest.mark.parametrize(
    "value",
    [
        nested(MAX_VALUE_DEPTH + 1),
        {"k": nested(MAX_VALUE_DEPTH)},
        # deep enough to crash cbor2's encoder (segmentation fault) if it got there
        nested(100_000),
        nested(100_000, MyList),
        nested(20_000, tuple),
    ],
    ids=["one-too-deep", "dict-around", "very-deep", "list-subclass", "tuples"],
)
def test_too_deep_values_are_refused(kv: KV, value: Any) -> None:
    with pytest.raises(StorageError, match="nested deeper"):
        kv.put("k", value)
    assert kv.get("k") is None


def test_depth_counts_the_longest_path_through_shared_parts(kv: KV) -> None:
    chain = nested(MAX_VALUE_DEPTH - 1)
    kv.put("ok", [chain, chain])  # shared, still within the limit
    # the same sub-structure is reached first shallow, then deep
    shallow_then_deep = [chain, [[chain]]]
    with pytest.raises(StorageError, match="nested deeper"):
        kv.put("deep", shallow_then_deep)


def test_exponential_dag_is_checked_in_linear_time(kv: KV) -> None:
    value: Any = []
    for _ in range(MAX_VALUE_DEPTH + 10):
        value = [value, value]  # 2**266 paths, 266 distinct lists
    started = time.perf_counter()
    with pytest.raises(StorageError, match="nested deeper"):
        kv.put("k", value)
    assert time.perf_counter() - started < 1.0


def test_cyclic_values_are_refused(kv: KV) -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(StorageError, match="cyclic"):
        kv.put("k", cycle)
    d: dict[str, Any] = {}
    d["self"] = [d]
    with pytest.raises(StorageError, match="cyclic"):
        kv.put("k", d)


@pytest.mark.parametrize(
    "value",
    [
        object(),
        [1, object()],
        datetime.datetime(2024, 1, 1),  # naive: cbor2 wants a timezone
        "\ud800",
        {"k": "\udfff"},
        lambda: None,
        cbor2.CBORTag(4242, "x"),
        [cbor2.CBORTag(1, 0)],
    ],
    ids=[
        "object",
        "in-list",
        "naive-datetime",
        "surrogate",
        "surrogate-in-dict",
        "function",
        "tag",
        "tag-in-list",
    ],
)
def test_unencodable_values_are_refused(kv: KV, value: Any) -> None:
    with pytest.raises(StorageError):
        kv.put("k", value)
    assert kv.get("k") is None


def raw_put(kv: KV, key: bytes, value: bytes) -> None:
    conn: sqlite3.Connection = kv._conn
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _roost_kv"
        " (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID"
    )
    conn.execute("INSERT OR REPLACE INTO _roost_kv VALUES (?, ?)", (key, value))


@pytest.mark.parametrize("tag", [99, 4242, 2**40])
def test_unknown_tags_are_refused_when_reading(kv: KV, tag: int) -> None:
    raw_put(kv, b"k", cbor2.dumps(cbor2.CBORTag(tag, "payload")))
    with pytest.raises(StorageError, match="cannot be decoded"):
        kv.get("k")
    with pytest.raises(StorageError):
        kv.list()


def test_known_tags_decode(kv: KV) -> None:
    raw_put(kv, b"k", cbor2.dumps(cbor2.CBORTag(1, 0)))  # epoch timestamp
    assert kv.get("k") == datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@pytest.mark.parametrize("garbage", [b"", b"\xff", b"\x82\x01", b"\x5b" + b"\xff" * 8])
def test_garbage_is_refused_when_reading(kv: KV, garbage: bytes) -> None:
    raw_put(kv, b"k", garbage)
    with pytest.raises(StorageError):
        kv.get("k")


def test_stored_key_that_is_not_utf8(kv: KV) -> None:
    raw_put(kv, b"\xff\xfe", cbor2.dumps(1))
    with pytest.raises(StorageError):
        kv.list()


def test_keys_are_blobs_in_sqlite(kv: KV) -> None:
    kv.put("é", 1)
    conn: sqlite3.Connection = kv._conn
    assert conn.execute("SELECT typeof(key), key FROM _roost_kv").fetchall() == [
        ("blob", "é".encode()),
    ]


def test_sql_metacharacters_are_data(kv: KV) -> None:
    hostile = ["'; DROP TABLE _roost_kv; --", "%", "_", "\\", '"', "?", ":name", "*"]
    for key in hostile:
        kv.put(key, key)
    for key in hostile:
        assert kv.get(key) == key
        assert kv.list(prefix=key) == [(k, k) for k in sorted(hostile) if k.startswith(key)]
    assert kv.list(prefix="%") == [("%", "%")]  # not a LIKE pattern
    assert kv.list(prefix="_") == [("_", "_")]


def test_kv_from_a_closed_handle_fails_clearly(make_storage: MakeStorage) -> None:
    storage = make_storage()
    kv = storage.kv
    storage.close()
    with pytest.raises(StorageError):
        kv.get("a")
    assert storage.kv.get("a") is None  # a fresh one works


@pytest.fixture
def memory_kv() -> Iterator[KV]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    yield KV(conn)
    conn.close()


def test_kv_over_a_plain_connection(memory_kv: KV) -> None:
    memory_kv.put("a", 1)
    assert memory_kv.list() == [("a", 1)]
