"""Fenced, batched, versioned state writes, reads, listing, and node membership (G7)."""

from __future__ import annotations

import math

import pytest
import trio

from roost.storage._shared import (
    EncodedState,
    SharedStore,
    StateWrite,
    WriteOutcome,
    WriteStatus,
)
from tests.shared_store.conftest import MakeStore

# Keys and states that a text[] literal, JSON or SQL quoting could get wrong.
AWKWARD_KEYS = [
    "plain",
    "with space",
    'quote"s',
    "back\\slash",
    "tail\\",
    "{braces},commas",
    "it's",
    "NULL",
    "",
    "日本語のキー",
    "emoji 🦜🏳️‍🌈",
    "\\u0000 as six characters",
    "'; DROP TABLE roost_actor_state; --",
    "k" * 1000,
]

NESTED_STATE = {
    "room": "лобби",
    "message_count": 2**53 + 1,
    "ratio": 0.1,
    "tiny": 5e-324,
    "flags": [True, False, None],
    "empty": {"list": [], "dict": {}, "str": ""},
    "deep": {"a": [{"b": [{"c": [1, [2, [3, [4]]]]}]}]},
    "text": 'quotes " and \\ backslashes, tabs\t, newlines\n, \u2028, 🦜',
    "🔑": "unicode key",
}


async def test_versions_grow_by_one_per_write(store: SharedStore) -> None:
    with trio.fail_after(10):
        seen = []
        for n in range(1, 4):
            [outcome] = await store.write_states([StateWrite("chat", "lobby", 1, {"n": n})])
            assert outcome == WriteOutcome("chat", "lobby", WriteStatus.WRITTEN, n, 1)
            stored = await store.read_state("chat", "lobby")
            assert stored is not None
            assert (stored.version, stored.fence, stored.state) == (n, 1, {"n": n})
            seen.append(stored.updated_at)
        assert seen == sorted(seen)
        assert await store.read_state("chat", "nobody") is None


async def test_stale_fence_is_refused_and_changes_nothing(store: SharedStore) -> None:
    with trio.fail_after(10):
        await store.write_states([StateWrite("chat", "lobby", 2, "new owner")])
        [outcome] = await store.write_states([StateWrite("chat", "lobby", 1, "old owner")])
        assert outcome.status is WriteStatus.STALE_FENCE and not outcome.written
        assert (outcome.version, outcome.fence) == (1, 2)  # who holds the row
        stored = await store.read_state("chat", "lobby")
        assert stored is not None
        assert (stored.version, stored.fence, stored.state) == (1, 2, "new owner")


async def test_two_owners_exactly_one_wins(store: SharedStore) -> None:
    """The old owner's lease expired and a new owner took over; both keep writing."""
    with trio.fail_after(10):
        old = await store.acquire_lease("chat", "lobby", "node-a", 0.2)
        assert old is not None
        await trio.sleep(old.valid_for + 0.05)
        new = await store.acquire_lease("chat", "lobby", "node-b", 30)
        assert new is not None and new.fence > old.fence

        outcomes = await store.write_states(
            [
                StateWrite("chat", "lobby", new.fence, "from b"),
                StateWrite("chat", "lobby", old.fence, "from a"),
            ]
        )
        assert [o.status for o in outcomes] == [WriteStatus.WRITTEN, WriteStatus.STALE_FENCE]
        stored = await store.read_state("chat", "lobby")
        assert stored is not None and (stored.state, stored.fence) == ("from b", new.fence)


async def test_old_owner_is_refused_as_soon_as_a_new_owner_holds_the_lease(
    store: SharedStore,
) -> None:
    """Not only after the new owner's first write: its lease alone fences the old owner out."""
    with trio.fail_after(10):
        old = await store.acquire_lease("chat", "lobby", "node-a", 0.2)
        assert old is not None
        [first] = await store.write_states([StateWrite("chat", "lobby", old.fence, "a1")])
        assert first.written
        await trio.sleep(old.valid_for + 0.05)
        new = await store.acquire_lease("chat", "lobby", "node-b", 30)
        assert new is not None
        [late] = await store.write_states([StateWrite("chat", "lobby", old.fence, "a2")])
        assert (late.status, late.version, late.fence) == (WriteStatus.STALE_FENCE, 1, new.fence)
        [never] = await store.write_states([StateWrite("chat", "fresh", 0, "no lease")])
        assert never.written  # no lease, no state: nothing to be stale against
        await store.acquire_lease("chat", "leased-only", "node-b", 30)
        [refused] = await store.write_states([StateWrite("chat", "leased-only", 0, "x")])
        assert (refused.status, refused.version, refused.fence) == (WriteStatus.STALE_FENCE, 0, 1)
        assert await store.read_state("chat", "leased-only") is None
        stored = await store.read_state("chat", "lobby")
        assert stored is not None and stored.state == "a1"


async def test_racing_owners_converge_on_the_higher_fence(make_store: MakeStore) -> None:
    """Two nodes (two stores) write at the same time, many rounds: whatever the order, the
    higher fence ends up stored, and the lower one never overwrites it once it has landed."""
    with trio.fail_after(20):
        low, high = make_store(), make_store()
        await low.open()
        await high.open()
        results: dict[int, list[WriteOutcome]] = {1: [], 2: []}

        async def writer(store: SharedStore, fence: int) -> None:
            for n in range(20):
                results[fence] += await store.write_states(
                    [StateWrite("chat", f"race-{n}", fence, {"fence": fence})]
                )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer, low, 1)
            nursery.start_soon(writer, high, 2)
        assert all(o.written for o in results[2])
        for n in range(20):
            stored = await low.read_state("chat", f"race-{n}")
            assert stored is not None and stored.state == {"fence": 2}
            low_outcome = results[1][n]
            # The low write either came first (written, version 1) or was refused.
            assert (low_outcome.written and low_outcome.version == 1) or (
                low_outcome.status is WriteStatus.STALE_FENCE and low_outcome.fence == 2
            )


async def test_retried_batch_bumps_versions_again(store: SharedStore) -> None:
    with trio.fail_after(10):
        batch = [StateWrite("chat", f"k{i}", 3, {"i": i}) for i in range(5)]
        first = await store.write_states(batch)
        retry = await store.write_states(batch)
        assert [o.version for o in first] == [1] * 5
        assert [o.version for o in retry] == [2] * 5
        assert all(o.written for o in retry)


async def test_batch_of_a_thousand(store: SharedStore) -> None:
    with trio.fail_after(20):
        batch = [
            StateWrite("chat", f"room-{i:04}", 1, {"message_count": i, "text": "x" * 150})
            for i in range(1000)
        ]
        outcomes = await store.write_states(batch)
        assert [(o.key, o.version) for o in outcomes] == [(w.key, 1) for w in batch]
        outcomes = await store.write_states(batch)
        assert {o.version for o in outcomes} == {2}

        listed = []
        after = None
        while page := await store.list_states("chat", limit=300, after=after):
            listed += page
            after = (page[-1].actor_type, page[-1].key)
        assert [s.key for s in listed] == [w.key for w in batch]
        assert listed[7].state == {"message_count": 7, "text": "x" * 150}


async def test_mixed_batch_reports_each_write_in_order(store: SharedStore) -> None:
    with trio.fail_after(10):
        await store.write_states([StateWrite("chat", "taken", 5, "owner")])
        outcomes = await store.write_states(
            [
                StateWrite("chat", "fresh", 1, "a"),
                StateWrite("chat", "taken", 4, "stale"),
                StateWrite("chat", "taken", 5, "same fence"),
                StateWrite("chat", "fresh", 1, "b"),
                StateWrite("chat", "taken", 6, "newer"),
                StateWrite("chat", "taken", 5, "stale again"),
            ]
        )
        assert [(o.key, o.status.value, o.version, o.fence) for o in outcomes] == [
            ("fresh", "written", 1, 1),
            ("taken", "stale_fence", 1, 5),
            ("taken", "written", 2, 5),
            ("fresh", "written", 2, 1),
            ("taken", "written", 3, 6),
            ("taken", "stale_fence", 3, 6),
        ]
        fresh = await store.read_state("chat", "fresh")
        taken = await store.read_state("chat", "taken")
        assert fresh is not None and fresh.state == "b"
        assert taken is not None and taken.state == "newer"


async def test_awkward_keys_and_nested_unicode_states_round_trip(store: SharedStore) -> None:
    with trio.fail_after(10):
        writes = [
            StateWrite(actor_type, key, 1, {**NESTED_STATE, "key": key})
            for actor_type in ("chat", "präsenz ☃")
            for key in AWKWARD_KEYS
        ]
        assert all(o.written for o in await store.write_states(writes))
        for write in writes:
            stored = await store.read_state(write.actor_type, write.key)
            assert stored is not None, write.key
            assert stored.state == write.state
        listed = await store.list_states(limit=1000)
        assert {(s.actor_type, s.key) for s in listed} == {(w.actor_type, w.key) for w in writes}
        # Byte order of UTF-8 (code point order), the same in both backends.
        pairs = [(s.actor_type, s.key) for s in listed]
        assert pairs == sorted(pairs)


async def test_scalar_states(store: SharedStore) -> None:
    with trio.fail_after(10):
        values: list[object] = [None, True, 0, -1, 1.5, "", "text", [], {}]
        writes = [StateWrite("misc", str(i), 1, v) for i, v in enumerate(values)]
        await store.write_states(writes)
        for write in writes:
            stored = await store.read_state("misc", write.key)
            assert stored is not None and stored.state == write.state


async def test_bad_states_are_refused_before_anything_is_written(store: SharedStore) -> None:
    with trio.fail_after(10):
        good = StateWrite("chat", "good", 1, {"ok": True})
        bad_states: list[tuple[object, type[Exception]]] = [
            (math.nan, ValueError),
            ({"x": math.inf}, ValueError),
            ({1, 2}, TypeError),
            ({"nul": "a\0b"}, ValueError),
            ("\udc80", ValueError),
            (object(), TypeError),
        ]
        for state, error in bad_states:
            with pytest.raises(error):
                await store.write_states([good, StateWrite("chat", "bad", 1, state)])
        assert await store.read_state("chat", "good") is None
        # An escaped backslash followed by "u0000" is a harmless string.
        await store.write_states([StateWrite("chat", "ok", 1, {"s": "\\u0000"})])


async def test_write_arguments_are_checked(store: SharedStore) -> None:
    with trio.fail_after(10):
        assert await store.write_states([]) == []
        with pytest.raises(TypeError):
            await store.write_states([("chat", "k", 1, {})])  # type: ignore[list-item]
        with pytest.raises(TypeError):
            await store.write_states([StateWrite("chat", "k", True, {})])
        with pytest.raises(ValueError):
            await store.write_states([StateWrite("chat", "k", -1, {})])
        with pytest.raises(ValueError):
            await store.write_states([StateWrite("chat", "k\0", 1, {})])


async def test_encoded_states_are_stored_as_given(store: SharedStore) -> None:
    with trio.fail_after(10):
        snapshot = {"users": ["ann"]}
        encoded = EncodedState.encode(snapshot)
        snapshot["users"].append("bob")  # the live object changes after the snapshot
        await store.write_states([StateWrite("presence", "doc", 1, encoded)])
        stored = await store.read_state("presence", "doc")
        assert stored is not None and stored.state == {"users": ["ann"]}


async def test_list_states_filters_and_pages(store: SharedStore) -> None:
    with trio.fail_after(10):
        await store.write_states(
            [StateWrite(t, k, 1, k) for t in ("a", "b", "c") for k in ("x", "y", "z")]
        )
        only_b = await store.list_states("b", limit=10)
        assert [(s.actor_type, s.key) for s in only_b] == [("b", "x"), ("b", "y"), ("b", "z")]
        page = await store.list_states(limit=4, after=("a", "y"))
        assert [(s.actor_type, s.key) for s in page] == [
            ("a", "z"),
            ("b", "x"),
            ("b", "y"),
            ("b", "z"),
        ]
        assert await store.list_states("b", limit=10, after=("b", "z")) == []
        for limit in (0, 10_001):
            with pytest.raises(ValueError):
                await store.list_states(limit=limit)


async def test_node_membership(store: SharedStore) -> None:
    with trio.fail_after(10):
        a = await store.register_node("node-a", "10.0.0.1:8080")
        assert (a.node_id, a.address, a.heartbeat_age) == ("node-a", "10.0.0.1:8080", 0.0)
        await store.register_node("node-b", "10.0.0.2:8080")
        await trio.sleep(0.1)
        assert await store.heartbeat_node("node-a") is True
        assert await store.heartbeat_node("ghost") is False
        nodes = await store.list_nodes()
        assert [n.node_id for n in nodes] == ["node-a", "node-b"]
        assert nodes[0].heartbeat_at > a.heartbeat_at
        assert nodes[0].heartbeat_age < nodes[1].heartbeat_age
        assert nodes[1].heartbeat_age >= 0.09
        assert await store.unregister_node("node-b") is True
        assert await store.unregister_node("node-b") is False
        assert [n.node_id for n in await store.list_nodes()] == ["node-a"]
