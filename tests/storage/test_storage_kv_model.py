"""Property test: KV.list agrees with a sorted dict for any keys, bounds, limit and order."""

from __future__ import annotations

import sqlite3
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from roost.storage import KV

# Few distinct characters make shared prefixes and equal bounds likely; the boundary code
# points exercise every UTF-8 sequence length, the null byte and the largest code point.
CHARS = st.one_of(
    st.sampled_from(["a", "b", "\x00", "\x7f", "\x80", "\u07ff", "\u0800", "\uffff"]),
    st.sampled_from(["\U00010000", "\U0010ffff", "é", "😀"]),
    st.characters(codec="utf-8"),
)
KEYS = st.text(CHARS, max_size=4)
OPS = st.lists(st.tuples(st.sampled_from(["put", "delete"]), KEYS, st.integers(-5, 5)), max_size=40)
QUERIES = st.fixed_dictionaries(
    {},
    optional={
        "prefix": KEYS,
        "start": KEYS,
        "end": KEYS,
        "limit": st.integers(0, 10),
        "reverse": st.booleans(),
    },
)


def model_list(model: dict[str, int], query: dict[str, Any]) -> list[tuple[str, int]]:
    prefix, start, end = query.get("prefix"), query.get("start"), query.get("end")
    selected = [
        (k, v)
        for k, v in sorted(model.items(), reverse=query.get("reverse", False))
        if (prefix is None or k.startswith(prefix))
        and (start is None or k >= start)
        and (end is None or k < end)
    ]
    limit = query.get("limit")
    return selected if limit is None else selected[:limit]


@settings(max_examples=300, deadline=None)
@given(ops=OPS, queries=st.lists(QUERIES, min_size=1, max_size=8))
def test_list_matches_a_sorted_dict(
    ops: list[tuple[str, str, int]], queries: list[dict[str, Any]]
) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        kv = KV(conn)
        model: dict[str, int] = {}
        for op, key, value in ops:
            if op == "put":
                kv.put(key, value)
                model[key] = value
            else:
                assert kv.delete(key) == (key in model)
                model.pop(key, None)
        for query in queries:
            assert kv.list(**query) == model_list(model, query), query
        for key, value in model.items():
            assert kv.get(key) == value
    finally:
        conn.close()
