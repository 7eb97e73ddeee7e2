"""The shared store's cluster calls (issue 14): claims with per-actor fences, batched renewals
and releases, lease owners, pending alarms beside the state, and node membership.

Both backends, real databases; the database clock is real time, so expiry tests use ttls of a
fraction of a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
import trio

from roost.storage._shared import (
    Claim,
    EncodedState,
    LeaseInfo,
    SharedStore,
    StateWrite,
    WriteStatus,
)
from tests.shared_store.conftest import MakeStore

SHORT = 0.3  # a ttl that expires during the test
LONG = 30.0  # a ttl that does not
RawDb = Callable[[], AbstractContextManager[tuple[Any, str]]]


def snaps(*states: object) -> list[EncodedState]:
    return [EncodedState.encode(state) for state in states]


async def claim(store: SharedStore, key: str, node: str, ttl: float = LONG) -> Claim:
    got = await store.claim_actor("chat", key, node, ttl)
    assert got is not None, f"{node} could not claim {key}"
    return got


async def wait_past(got: Claim) -> None:
    """Sleep until the claim's lease has expired by the database's measure (plus a margin)."""
    await trio.sleep(got.lease.valid_for + 0.05)


# -- claims and fences -----------------------------------------------------------------------


async def test_fences_grow_by_one_per_new_owner_and_never_repeat(store: SharedStore) -> None:
    """Release, expiry and the same node again: every new owner gets the next fence."""
    with trio.fail_after(15):
        fences = []
        first = await claim(store, "room", "node-a")
        fences.append(first.lease.fence)
        await store.write_snapshots([first.lease.fence], [("chat", "room")], snaps({"n": 1}))
        assert await store.release_leases("node-a", [("chat", "room", first.lease.fence)]) == 1
        second = await claim(store, "room", "node-b", SHORT)  # after a release
        fences.append(second.lease.fence)
        # The holder claiming again (it lost the lease locally, or restarted): a new
        # ownership too, so nothing of the earlier one can pass for it.
        again = await claim(store, "room", "node-b", SHORT)
        fences.append(again.lease.fence)
        await wait_past(again)
        third = await claim(store, "room", "node-a")  # after expiry
        fences.append(third.lease.fence)
        await store.release_leases("node-a", [("chat", "room", third.lease.fence)])
        fourth = await claim(store, "room", "node-a")  # the same node, a new ownership
        fences.append(fourth.lease.fence)
        assert fences == [1, 2, 3, 4, 5]
        assert await store.max_fence() == 5
        # acquire_lease (a renewal's rule) keeps the holder's fence.
        renewed = await store.acquire_lease("chat", "room", "node-a", LONG)
        assert renewed is not None and renewed.fence == 5


async def test_claim_returns_the_stored_state_and_its_alarms(store: SharedStore) -> None:
    with trio.fail_after(10):
        assert (await claim(store, "room", "node-a")).stored is None  # never synced
        alarms = [{"name": "tick", "due_at": 1e9, "payload": {"x": "é"}}]
        refused = await store.write_snapshots(1, [("chat", "room")], snaps({"n": 7}), [alarms])
        assert refused == []
        await store.release_leases("node-a", [("chat", "room", 1)])
        got = await claim(store, "room", "node-b")
        assert got.lease.fence == 2 and got.lease.node_id == "node-b"
        assert got.stored is not None
        assert (got.stored.state, got.stored.version, got.stored.fence) == ({"n": 7}, 1, 1)
        assert got.stored.alarms == alarms
        assert got.lease.valid_for == pytest.approx(LONG, abs=1)


async def test_claim_is_refused_while_another_node_holds_the_lease(store: SharedStore) -> None:
    with trio.fail_after(10):
        held = await claim(store, "room", "node-a", SHORT)
        assert await store.claim_actor("chat", "room", "node-b", LONG) is None
        owner = await store.lease_owner("chat", "room")
        assert owner is not None and (owner.node_id, owner.fence) == ("node-a", 1)
        await wait_past(held)
        assert await store.lease_owner("chat", "room") is None  # expired: nobody holds it
        assert (await claim(store, "room", "node-b")).lease.fence == 2


async def test_concurrent_claims_have_exactly_one_winner(make_store: MakeStore) -> None:
    """Eight nodes, each with its own store (as separate processes would be), race twice."""
    with trio.fail_after(30):
        stores = [make_store() for _ in range(8)]
        for each in stores:
            await each.open()
        await stores[0].write_states([StateWrite("chat", "contested", 5, {"n": 1})])
        winners: list[tuple[str, Claim]] = []

        async def contend(node: str, each: SharedStore) -> None:
            got = await each.claim_actor("chat", "contested", node, LONG)
            if got is not None:
                winners.append((node, got))

        async with trio.open_nursery() as nursery:
            for i, each in enumerate(stores):
                nursery.start_soon(contend, f"node-{i}", each)
        assert len(winners) == 1
        node, got = winners[0]
        assert got.lease.fence == 6  # above the stored state's fence
        assert got.stored is not None and got.stored.state == {"n": 1}
        owner = await stores[3].lease_owner("chat", "contested")
        assert owner is not None and owner.node_id == node


async def test_lease_owner_names_the_nodes_address(store: SharedStore) -> None:
    with trio.fail_after(10):
        await store.register_node("node-a", "10.0.0.5:8080")
        got = await claim(store, "room", "node-a")
        owner = await store.lease_owner("chat", "room")
        assert owner is not None
        assert (owner.node_id, owner.address, owner.fence) == ("node-a", "10.0.0.5:8080", 1)
        assert 0 < owner.expires_in <= LONG
        await store.unregister_node("node-a")
        owner = await store.lease_owner("chat", "room")  # still held, no longer reachable
        assert owner is not None and owner.address == ""
        await store.release_leases("node-a", [("chat", "room", got.lease.fence)])
        assert await store.lease_owner("chat", "room") is None
        assert await store.lease_owner("chat", "never") is None


# -- renewals and releases -------------------------------------------------------------------


async def test_renew_returns_only_the_leases_still_held(store: SharedStore) -> None:
    with trio.fail_after(15):
        await store.register_node("node-a", "a:1")
        kept = await claim(store, "kept", "node-a", SHORT)
        late = await claim(store, "late", "node-a", SHORT)  # expires, nobody takes it
        lost = await claim(store, "lost", "node-a", SHORT)  # expires, node-b takes it
        released = await claim(store, "released", "node-a")
        await store.write_snapshots(released.lease.fence, [("chat", "released")], snaps(1))
        await store.release_leases("node-a", [("chat", "released", released.lease.fence)])
        await wait_past(lost)
        taken = await claim(store, "lost", "node-b")
        before = {n.node_id: n for n in await store.list_nodes()}["node-a"]
        leases = [
            ("chat", "kept", kept.lease.fence),
            ("chat", "late", late.lease.fence),
            ("chat", "lost", lost.lease.fence),
            ("chat", "released", released.lease.fence),
            ("chat", "kept", kept.lease.fence + 7),  # a fence it never had
            ("chat", "unknown", 1),
        ]
        renewed = await store.renew_leases("node-a", leases, LONG)
        assert renewed == {("chat", "kept", 1), ("chat", "late", 1)}
        # The renewed leases run for the new ttl; the taken one stays node-b's.
        assert await store.claim_actor("chat", "late", "node-b", LONG) is None
        owner = await store.lease_owner("chat", "lost")
        assert owner is not None and (owner.node_id, owner.fence) == ("node-b", taken.lease.fence)
        after = {n.node_id: n for n in await store.list_nodes()}["node-a"]
        assert after.heartbeat_at > before.heartbeat_at  # the same call heartbeat the node
        assert await store.renew_leases("node-a", [], LONG) == set()  # a heartbeat alone


async def test_renew_of_ten_thousand_leases_is_one_quick_call(
    store: SharedStore, raw_db: RawDb
) -> None:
    count = 10_000
    expires = time.time() + LONG
    with raw_db() as (conn, p):
        if p == "?":
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO roost_actor_lease VALUES ('chat', ?, 'node-a', 3, ?)",
                [(f"k{i}", expires) for i in range(count)],
            )
            conn.execute("COMMIT")
        else:
            conn.execute(
                "INSERT INTO roost_actor_lease SELECT 'chat', 'k' || i, 'node-a', 3,"
                " now() + interval '30 s' FROM generate_series(0, %s - 1) AS i",
                (count,),
            )
    leases = [("chat", f"k{i}", 3) for i in range(count)]
    with trio.fail_after(20):
        started = time.perf_counter()
        renewed = await store.renew_leases("node-a", leases, LONG)
        elapsed = time.perf_counter() - started
    assert renewed == set(leases)
    assert elapsed < 5, f"renewing {count} leases took {elapsed:.2f} s"
    assert await store.release_leases("node-a", leases) == count  # strangers: rows deleted
    assert await store.list_leases() == []


async def test_release_deletes_only_the_rows_of_strangers(store: SharedStore) -> None:
    with trio.fail_after(10):
        synced = await claim(store, "synced", "node-a")
        stranger = await claim(store, "stranger", "node-a")
        other = await claim(store, "other", "node-b")
        await store.write_snapshots(synced.lease.fence, [("chat", "synced")], snaps({"n": 1}))
        leases = [
            ("chat", "synced", synced.lease.fence),
            ("chat", "stranger", stranger.lease.fence),
            ("chat", "other", other.lease.fence),  # node-b's: not released by node-a
        ]
        assert await store.release_leases("node-a", leases) == 2
        assert await store.release_leases("node-a", leases) == 0  # nothing held any more
        rows = {info.key: info for info in await store.list_leases("chat")}
        assert set(rows) == {"synced", "other"}
        assert rows["synced"].node_id is None and rows["synced"].expires_in <= 0
        assert rows["synced"].fence == synced.lease.fence  # kept: the next owner's is higher
        assert rows["other"].node_id == "node-b" and rows["other"].expires_in > 0
        assert (await claim(store, "synced", "node-b")).lease.fence == synced.lease.fence + 1


async def test_release_with_the_wrong_fence_keeps_the_lease(store: SharedStore) -> None:
    with trio.fail_after(10):
        got = await claim(store, "room", "node-a")
        assert await store.release_leases("node-a", [("chat", "room", got.lease.fence + 1)]) == 0
        assert await store.release_leases("node-b", [("chat", "room", got.lease.fence)]) == 0
        owner = await store.lease_owner("chat", "room")
        assert owner is not None and owner.node_id == "node-a"


# -- fenced writes ---------------------------------------------------------------------------


async def test_stale_write_is_refused_once_a_new_owner_claimed(store: SharedStore) -> None:
    """The old owner's write is refused before the new owner wrote anything."""
    with trio.fail_after(10):
        old = await claim(store, "room", "node-a", SHORT)
        mate = await claim(store, "mate", "node-a")
        assert await store.write_snapshots([old.lease.fence], [("chat", "room")], snaps(1)) == []
        await wait_past(old)
        new = await claim(store, "room", "node-b")
        assert new.stored is not None and new.stored.state == 1
        # A batch with per-actor fences: the stale one is refused, its neighbour stored.
        refused = await store.write_snapshots(
            [old.lease.fence, mate.lease.fence],
            [("chat", "room"), ("chat", "mate")],
            snaps(2, {"m": 1}),
        )
        assert [(r.key, r.status, r.version, r.fence) for r in refused] == [
            ("room", WriteStatus.STALE_FENCE, 1, new.lease.fence)
        ]
        stored = await store.read_state("chat", "room")
        assert stored is not None and (stored.state, stored.version) == (1, 1)
        mate_state = await store.read_state("chat", "mate")
        assert mate_state is not None and mate_state.state == {"m": 1}
        assert await store.write_snapshots([new.lease.fence], [("chat", "room")], snaps(3)) == []
        stored = await store.read_state("chat", "room")
        assert stored is not None and (stored.state, stored.fence) == (3, new.lease.fence)


async def test_repeated_keys_apply_in_order_with_per_actor_fences(store: SharedStore) -> None:
    with trio.fail_after(10):
        await store.write_states([StateWrite("chat", "a", 4, "first")])
        refused = await store.write_snapshots(
            [4, 3, 5], [("chat", "a"), ("chat", "a"), ("chat", "a")], snaps("x", "stale", "y")
        )
        # Only the stale write (fence 3) is reported, with a fence above its own on record.
        assert [(r.key, r.status) for r in refused] == [("a", WriteStatus.STALE_FENCE)]
        assert refused[0].fence > 3
        stored = await store.read_state("chat", "a")
        assert stored is not None and (stored.state, stored.version, stored.fence) == ("y", 3, 5)


# -- alarms ----------------------------------------------------------------------------------


async def test_alarms_are_stored_replaced_kept_and_cleared(store: SharedStore) -> None:
    with trio.fail_after(10):
        later = [{"name": "b", "due_at": 2e9}, {"name": "a", "due_at": 1.5e9}]
        await store.write_snapshots(1, [("chat", "k")], snaps(1), [later])
        await store.write_snapshots(1, [("chat", "k")], snaps(2))  # None: keep them
        stored = await store.read_state("chat", "k")
        assert stored is not None and (stored.state, stored.alarms) == (2, later)
        await store.write_snapshots(1, [("chat", "k")], snaps(3), [None])  # cleared
        stored = await store.read_state("chat", "k")
        assert stored is not None and stored.alarms is None
        await store.write_snapshots(1, [("chat", "k")], snaps(4), [[]])
        listed = await store.list_states("chat")
        assert [(s.key, s.alarms) for s in listed] == [("k", [])]


async def test_due_alarms_skip_leased_actors_until_the_lease_expires(store: SharedStore) -> None:
    with trio.fail_after(15):
        now = time.time()
        actors = [("chat", "held"), ("chat", "free"), ("chat", "later"), ("chat", "none")]
        alarms: list[list[dict[str, Any]] | None] = [
            [{"name": "x", "due_at": now - 5}],
            [{"name": "x", "due_at": now - 1}, {"name": "y", "due_at": now - 10}],
            [{"name": "x", "due_at": now + 3600}],
            None,
        ]
        held = await claim(store, "held", "node-a", SHORT)
        await store.write_snapshots([held.lease.fence, 0, 0, 0], actors, snaps(1, 2, 3, 4), alarms)
        assert await store.due_alarms() == [("chat", "free")]
        await wait_past(held)
        # Ordered by the earliest due alarm of each actor: free's is 10 s ago, held's 5 s.
        assert await store.due_alarms() == [("chat", "free"), ("chat", "held")]
        assert await store.due_alarms(limit=1) == [("chat", "free")]
        await claim(store, "free", "node-b")
        assert await store.due_alarms() == [("chat", "held")]
        await store.write_snapshots([held.lease.fence], [("chat", "held")], snaps(5), [None])
        assert await store.due_alarms() == []


# -- nodes and tooling -----------------------------------------------------------------------


async def test_nodes_announce_their_version_and_count_their_leases(store: SharedStore) -> None:
    with trio.fail_after(10):
        info = await store.register_node(
            "node-a", "10.0.0.5:8080", version="1.2.3", protocol=2, cluster="f00d"
        )
        assert (info.version, info.protocol, info.cluster, info.actors) == ("1.2.3", 2, "f00d", 0)
        await store.register_node("node-b", "10.0.0.6:8080")  # a solo node, old-style call
        await claim(store, "one", "node-a")
        await claim(store, "two", "node-a")
        short = await claim(store, "three", "node-a", SHORT)
        nodes = {n.node_id: n for n in await store.list_nodes()}
        assert (nodes["node-a"].actors, nodes["node-b"].actors) == (3, 0)
        assert (nodes["node-b"].version, nodes["node-b"].protocol, nodes["node-b"].cluster) == (
            "",
            0,
            "",
        )
        await wait_past(short)
        # A node restarted after a crash registers again and finds its unexpired leases.
        again = await store.register_node("node-a", "10.0.0.5:8080", version="1.2.4")
        assert (again.actors, again.version, again.protocol) == (2, "1.2.4", 0)


async def test_live_nodes_are_those_with_a_recent_heartbeat(store: SharedStore) -> None:
    with trio.fail_after(10):
        await store.register_node("node-old", "a:1")
        await trio.sleep(0.5)
        await store.register_node("node-new", "b:1")
        assert [n.node_id for n in await store.live_nodes(0.3)] == ["node-new"]
        assert [n.node_id for n in await store.live_nodes(30)] == ["node-new", "node-old"]
        await store.renew_leases("node-old", [], LONG)  # a renewal is a heartbeat
        assert [n.node_id for n in await store.live_nodes(0.3)] == ["node-new", "node-old"]


async def test_list_leases_pages_in_key_order(store: SharedStore) -> None:
    with trio.fail_after(10):
        for key in ("c", "a", "b"):
            await claim(store, key, "node-a")
        await store.acquire_lease("room", "z", "node-b", LONG)
        first = await store.list_leases(limit=2)
        assert [(i.actor_type, i.key) for i in first] == [("chat", "a"), ("chat", "b")]
        rest = await store.list_leases(limit=10, after=("chat", "b"))
        assert [(i.actor_type, i.key) for i in rest] == [("chat", "c"), ("room", "z")]
        assert all(isinstance(i, LeaseInfo) and i.expires_in > 0 for i in first + rest)
        assert [i.key for i in await store.list_leases("room")] == ["z"]
        assert await store.max_fence() == 1


async def test_max_fence_of_an_empty_store_is_zero(store: SharedStore) -> None:
    with trio.fail_after(10):
        assert await store.max_fence() == 0
        await store.write_states([StateWrite("chat", "k", 9, {})])
        assert await store.max_fence() == 9


# -- bad input -------------------------------------------------------------------------------


async def test_cluster_arguments_are_checked(store: SharedStore) -> None:
    with trio.fail_after(10):
        bad_batches: list[Any] = [
            [("chat", "k")],
            [("chat", "k", 1, 2)],
            [("chat", "k", "1")],
            [("chat", "k", -1)],
            [("chat", "k\0", 1)],
            [("chat", "k", True)],
            [3],
        ]
        for batch in bad_batches:
            with pytest.raises((TypeError, ValueError)):
                await store.renew_leases("node-a", batch, LONG)
            with pytest.raises((TypeError, ValueError)):
                await store.release_leases("node-a", batch)
        for ttl in (0, -1, float("nan")):
            with pytest.raises(ValueError):
                await store.claim_actor("chat", "k", "node-a", ttl)
            with pytest.raises(ValueError):
                await store.renew_leases("node-a", [], ttl)
            with pytest.raises(ValueError):
                await store.live_nodes(ttl)
        with pytest.raises(ValueError):
            await store.claim_actor("chat", "\ud800", "node-a", LONG)
        with pytest.raises(TypeError):
            await store.register_node("n", "a", protocol=True)
        with pytest.raises(ValueError):
            await store.register_node("n", "a", protocol=-1)
        with pytest.raises(ValueError):
            await store.register_node("n", "a", cluster="x\0")
        for limit in (0, 10_001):
            with pytest.raises(ValueError):
                await store.due_alarms(limit)
            with pytest.raises(ValueError):
                await store.list_leases(limit=limit)
        with pytest.raises(TypeError):
            await store.due_alarms(1.5)  # type: ignore[arg-type]
        assert await store.list_nodes() == []
        assert await store.list_leases() == []


async def test_bad_snapshot_batches_store_nothing(store: SharedStore) -> None:
    with trio.fail_after(10):
        one = [("chat", "k")]
        bad_calls: list[tuple[Any, Any]] = [
            ([1, 2], None),  # two fences for one actor
            (["1"], None),
            ([-1], None),
            (1, [None, None]),  # two alarm lists
            (1, [{"due_at": 1.0}]),  # not a list of alarms
            (1, [[{"name": "no due"}]]),
            (1, [[{"due_at": "soon"}]]),
            (1, [[{"due_at": True}]]),
            (1, [[{"due_at": float("inf")}]]),
            (1, [[1]]),
            (1, [[{"due_at": 1.0, "x": float("nan")}]]),
            (1, [[{"due_at": 1.0, "x": "\0"}]]),
        ]
        for fence, alarms in bad_calls:
            with pytest.raises((TypeError, ValueError)):
                await store.write_snapshots(fence, one, snaps(1), alarms)
        assert await store.read_state("chat", "k") is None
        assert await store.write_snapshots([], [], [], []) == []


# -- migration -------------------------------------------------------------------------------


async def test_a_version_1_store_migrates_and_keeps_its_rows(
    make_store: MakeStore, raw_db: RawDb
) -> None:
    from roost.storage._shared._schema import (
        POSTGRES_MIGRATIONS,
        SQLITE_MIGRATIONS,
        Dialect,
        migrate,
    )

    with raw_db() as (conn, p):
        first = SQLITE_MIGRATIONS[:1] if p == "?" else POSTGRES_MIGRATIONS[:1]
        if p == "?":
            conn.execute("BEGIN IMMEDIATE")
            assert migrate(conn, Dialect(first, p)) == 1
            conn.execute("COMMIT")
            now = "?"
        else:
            with conn.transaction():
                assert migrate(conn, Dialect(first, p)) == 1
            now = "to_timestamp(%s)"
        t = time.time()
        conn.execute(
            f"INSERT INTO roost_actor_state VALUES ('chat', 'old', 3, 2, '{{\"n\": 1}}', {now})",
            (t,),
        )
        conn.execute(
            f"INSERT INTO roost_actor_lease VALUES ('chat', 'old', 'node-a', 2, {now})", (t + 60,)
        )
        conn.execute(f"INSERT INTO roost_node VALUES ('node-a', 'a:1', {now}, {now})", (t, t))
    with trio.fail_after(10):
        async with make_store() as store:
            stored = await store.read_state("chat", "old")
            assert stored is not None
            assert (stored.version, stored.fence, stored.state) == (3, 2, {"n": 1})
            assert stored.alarms is None
            (node,) = await store.list_nodes()
            assert (node.node_id, node.version, node.protocol, node.cluster, node.actors) == (
                "node-a",
                "",
                0,
                "",
                1,
            )
            owner = await store.lease_owner("chat", "old")
            assert owner is not None and (owner.node_id, owner.address) == ("node-a", "a:1")
            assert await store.max_fence() == 2
            await store.write_snapshots(2, [("chat", "old")], snaps(5), [[{"due_at": 1.0}]])
            assert await store.due_alarms() == []  # node-a holds it
    with raw_db() as (conn, _):
        assert conn.execute("SELECT version FROM roost_schema").fetchall() == [(3,)]
