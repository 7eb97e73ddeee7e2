"""``write_snapshots``: the sync worker's batch call, one fence per batch, only refusals reported.

It must store exactly what ``write_states`` stores for the same writes (fences, versions, states,
a key's repeated writes in order), in both backends, and report every refused write.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import trio

from roost.storage._shared import (
    EncodedState,
    SharedStore,
    StateWrite,
    WriteOutcome,
    WriteStatus,
    encode_state,
)
from roost.storage._shared._records import check_names
from tests.shared_store.conftest import MakeStore
from tests.shared_store.test_shared_writes import AWKWARD_KEYS, NESTED_STATE


def encoded(states: list[Any]) -> list[EncodedState]:
    return [EncodedState.encode(state) for state in states]


async def stored_rows(store: SharedStore, actor_type: str) -> list[tuple[str, int, int, Any]]:
    rows = await store.list_states(actor_type, limit=10_000)
    return [(s.key, s.version, s.fence, s.state) for s in rows]


async def test_a_batch_is_stored_and_versions_grow(store: SharedStore) -> None:
    with trio.fail_after(10):
        actors = [("item", f"k{i}") for i in range(5)]
        assert await store.write_snapshots(3, actors, encoded([{"i": i} for i in range(5)])) == []
        assert await store.write_snapshots(3, actors, encoded([{"j": i} for i in range(5)])) == []
        assert await stored_rows(store, "item") == [(f"k{i}", 2, 3, {"j": i}) for i in range(5)]
        assert await store.write_snapshots(3, [], []) == []


async def test_refused_writes_are_reported_in_order_and_change_nothing(
    store: SharedStore,
) -> None:
    with trio.fail_after(10):
        await store.write_states([StateWrite("item", "newer-state", 7, "owner")])
        first = await store.acquire_lease("item", "leased", "node-a", 30)
        assert first is not None and await store.release_lease(first)
        lease = await store.acquire_lease("item", "leased", "node-b", 30)
        assert lease is not None and lease.fence == 2  # no state: only the lease fences
        await store.write_states(
            [StateWrite("item", "leased-and-stored", 1, "v1")] * 2  # version 2
        )
        other = await store.acquire_lease("item", "leased-and-stored", "node-c", 30)
        assert other is not None and other.fence == 2

        actors = [
            ("item", "fresh"),
            ("item", "newer-state"),
            ("item", "same-fence"),
            ("item", "leased"),
            ("item", "leased-and-stored"),
        ]
        await store.write_states([StateWrite("item", "same-fence", 1, "mine")])
        refused = await store.write_snapshots(1, actors, encoded(["a", "b", "c", "d", "e"]))
        assert refused == [
            WriteOutcome("item", "newer-state", WriteStatus.STALE_FENCE, 1, 7),
            WriteOutcome("item", "leased", WriteStatus.STALE_FENCE, 0, lease.fence),
            WriteOutcome("item", "leased-and-stored", WriteStatus.STALE_FENCE, 2, 2),
        ]
        assert await stored_rows(store, "item") == [
            ("fresh", 1, 1, "a"),
            ("leased-and-stored", 2, 1, "v1"),
            ("newer-state", 1, 7, "owner"),
            ("same-fence", 2, 1, "c"),
        ]


async def test_a_key_twice_applies_in_order_like_write_states(store: SharedStore) -> None:
    with trio.fail_after(10):
        await store.write_states([StateWrite("item", "taken", 9, "owner")])
        actors = [("item", "a"), ("item", "taken"), ("item", "a"), ("item", "taken")]
        refused = await store.write_snapshots(2, actors, encoded(["a1", "t1", "a2", "t2"]))
        assert refused == [WriteOutcome("item", "taken", WriteStatus.STALE_FENCE, 1, 9)] * 2
        assert await stored_rows(store, "item") == [("a", 2, 2, "a2"), ("taken", 1, 9, "owner")]


async def test_same_rows_as_write_states(make_store: MakeStore) -> None:
    """The same writes through either call leave the same rows (but updated_at)."""
    with trio.fail_after(20):
        store = make_store()
        await store.open()
        await store.write_states([StateWrite("a", "held", 5, 0), StateWrite("b", "held", 5, 0)])
        rounds = [
            (4, ["x", "held", "y"]),
            (5, ["y", "held", "z", "y"]),
            (6, ["x", "z"]),
        ]
        for fence, keys in rounds:
            states = [{"fence": fence, "key": key, "n": n} for n, key in enumerate(keys)]
            outcomes = await store.write_states(
                [StateWrite("a", k, fence, s) for k, s in zip(keys, states, strict=True)]
            )
            refused = await store.write_snapshots(
                fence, [("b", key) for key in keys], encoded(states)
            )
            expected = [o for o in outcomes if not o.written]
            assert [(o.key, o.version, o.fence) for o in refused] == [
                (o.key, o.version, o.fence) for o in expected
            ]
        assert await stored_rows(store, "a") == await stored_rows(store, "b")


async def test_a_large_batch(store: SharedStore) -> None:
    with trio.fail_after(30):
        actors = [("item", f"room-{i:05}") for i in range(5000)]
        states = encoded([{"n": i, "text": "x" * 150} for i in range(5000)])
        assert await store.write_snapshots(1, actors, states) == []
        assert await store.write_snapshots(2, actors, states) == []
        rows = await stored_rows(store, "item")
        assert [(key, version, fence) for key, version, fence, _ in rows] == [
            (key, 2, 2) for _, key in actors
        ]
        assert rows[4321][3] == {"n": 4321, "text": "x" * 150}
        # One refused write in the middle of a large batch is found.
        await store.write_states([StateWrite("item", "room-02500", 3, "newer")])
        [refused] = await store.write_snapshots(2, actors, states)
        assert (refused.key, refused.version, refused.fence) == ("room-02500", 3, 3)


async def test_awkward_keys_and_unicode_states_round_trip(store: SharedStore) -> None:
    with trio.fail_after(10):
        actors = [(t, key) for t in ("chat", "präsenz ☃", 'q"uo{t}e,') for key in AWKWARD_KEYS]
        states = [{**NESTED_STATE, "key": key, "type": t} for t, key in actors]
        assert await store.write_snapshots(1, actors, encoded(states)) == []
        for (actor_type, key), state in zip(actors, states, strict=True):
            stored = await store.read_state(actor_type, key)
            assert stored is not None, key
            assert stored.state == state
        scalars: list[object] = [None, True, 0, -1.5, "", "\\u0000 text", [], {}, "🦜"]
        scalar_actors = [("scalar", str(i)) for i in range(len(scalars))]
        assert await store.write_snapshots(1, scalar_actors, encoded(scalars)) == []
        assert [state for *_, state in await stored_rows(store, "scalar")] == scalars


async def test_arguments_are_checked_before_anything_is_written(store: SharedStore) -> None:
    with trio.fail_after(10):
        good = [("item", "good")]
        state = encoded([{"ok": True}])
        bad_calls: list[tuple[Any, Any, Any, type[Exception]]] = [
            (True, good, state, TypeError),
            ("1", good, state, TypeError),
            (-1, good, state, ValueError),
            (2**63, good, state, ValueError),
            (1, [("item", "k\0")], state, ValueError),
            (1, [("it\0em", "k")], state, ValueError),
            (1, [("item", "\udc80")], state, ValueError),
            (1, [("item", 5)], state, TypeError),
            (1, [(None, "k")], state, TypeError),
            (1, [("item", "k", "extra")], state, ValueError),
            (1, good, [{"ok": True}], TypeError),
            (1, good, ['{"ok": true}'], TypeError),
            (1, good, [], ValueError),
            (1, [*good, ("item", "other")], state, ValueError),
        ]
        for fence, actors, states, error in bad_calls:
            with pytest.raises(error):
                await store.write_snapshots(fence, [*good, *actors], [*state, *states])
        assert await store.read_state("item", "good") is None


async def test_racing_writers_converge_on_the_higher_fence(make_store: MakeStore) -> None:
    """Two nodes (two stores) write the same batch at once: the higher fence ends up stored
    everywhere, and each lower write is either stored before it or reported refused."""
    with trio.fail_after(30):
        low, high = make_store(), make_store()
        await low.open()
        await high.open()
        actors = [("race", f"k{i}") for i in range(200)]
        refused: dict[int, list[WriteOutcome]] = {1: [], 2: []}

        async def writer(store: SharedStore, fence: int) -> None:
            for start in range(0, 200, 20):
                batch = actors[start : start + 20]
                states = encoded([{"fence": fence}] * len(batch))
                refused[fence] += await store.write_snapshots(fence, batch, states)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer, low, 1)
            nursery.start_soon(writer, high, 2)
        assert refused[2] == []
        assert all(o.fence == 2 and o.status is WriteStatus.STALE_FENCE for o in refused[1])
        rows = await stored_rows(low, "race")
        assert len(rows) == len(actors)
        for key, version, fence, state in rows:
            assert (fence, state) == (2, {"fence": 2})
            low_refused = any(o.key == key for o in refused[1])
            assert version == (1 if low_refused else 2), key


# -- encoding ---------------------------------------------------------------------------------


ENCODABLE: list[Any] = [
    None,
    True,
    0,
    -(2**70),
    1.5,
    -0.0,
    1e-300,
    "",
    'quotes " and \\ and \u2028 and 🦜 and \x1f',
    [],
    {},
    {1: "int key", 2.5: "float key", None: "none key", False: "bool key"},
    {"nested": [{"a": [1, [2, [3]]]}], "tuple": (1, 2)},
    NESTED_STATE,
]


@pytest.mark.parametrize("state", ENCODABLE, ids=range(len(ENCODABLE)))
def test_encode_state_is_compact_json_dumps(state: Any) -> None:
    expected = json.dumps(state, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    assert encode_state(state) == expected


def test_a_failed_encoding_leaves_the_encoder_usable() -> None:
    """The reused C encoder remembers the containers it is inside; a failure must not leave
    one behind, or a later, unrelated state would be called circular."""
    loop: list[Any] = []
    loop.append(loop)
    shared = {"a": [1]}
    for bad, error in [({"loop": loop}, ValueError), ({"x": [object()]}, TypeError)]:
        for _ in range(3):
            with pytest.raises(error):
                encode_state(bad)
    assert encode_state([shared, shared, {"again": shared}]) == (
        '[{"a":[1]},{"a":[1]},{"again":{"a":[1]}}]'
    )
    del bad
    assert encode_state({"a": [float(n) for n in range(3)]}) == '{"a":[0.0,1.0,2.0]}'


def test_encode_state_in_several_threads() -> None:
    results: dict[int, list[str]] = {}

    def state(n: int, i: int) -> dict[str, Any]:
        return {"thread": n, "i": i, "l": [{"n": n}] * 20}

    def work(n: int) -> None:
        results[n] = [encode_state(state(n, i)) for i in range(2000)]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for n, texts in results.items():
        assert texts == [json.dumps(state(n, i), separators=(",", ":")) for i in range(2000)]


def test_check_names_reports_the_first_bad_name() -> None:
    check_names([], "key")
    check_names(["a", "ü", "🦜", ""], "key")
    with pytest.raises(TypeError, match="key must be a string, not int"):
        check_names(["a", 1, "b\0"], "key")
    with pytest.raises(ValueError, match="NUL"):
        check_names(["a", "b\0", 1], "key")
    with pytest.raises(ValueError, match="UTF-8"):
        check_names(["\ud83e", "\udd9c"], "key")  # two halves of a pair, apart: still lone
