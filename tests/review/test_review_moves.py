"""State after a move, when a lease is lost and claimed again by the same node.

A random chaos seed (1930600896) once ended with the owner serving an older log than the
store held. Reading the code for how an instance or a file from an earlier lease could be
believed under a newer one found three ways, each shown here with a real in-process node on
a real PostgreSQL store; every test fails without its fix:

- the sync worker read a stale instance (activated under the lost lease) between turns and
  wrote its snapshot under the lease claimed since, over the newer owner's state;
- a self-fence that ran after the lease was claimed again forgot the new lease (and what its
  claim had read from the store) and evicted the new instance;
- an activation whose claim's stored state was not at hand trusted a local file stamped with
  an earlier fence.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from roost import Server
from roost.runtime import _cluster
from roost.runtime._cluster import Cluster
from roost.storage import EncodedState, open_shared_store
from tests.review.test_review_cluster import TTL, cluster, make_app, rpc_call
from tests.support import running

IDENT = ("gated", "x")


def cluster_of(server: Server) -> Cluster:
    found = server.node.cluster
    assert found is not None
    return found


async def newer_owner_writes(store_url: str, tmp_path: Path, n: int) -> int:
    """Another node takes gated/x (after this node's lease lapsed), stores ``{"n": n}`` under
    its fence and leaves (its lease released): the store is now newer than any local file.
    Returns that owner's fence."""
    async with open_shared_store(store_url, data_dir=tmp_path / "tool") as store:
        (lease,) = [x for x in await store.list_leases(IDENT[0]) if x.key == IDENT[1]]
        await store.release_leases(lease.node_id, [(*IDENT, lease.fence)])
        claim = await store.claim_actor(*IDENT, "node-newer", 60.0)
        assert claim is not None and claim.lease.fence == lease.fence + 1
        fence = claim.lease.fence
        refused = await store.write_snapshots([fence], [IDENT], [EncodedState.encode({"n": n})])
        assert refused == []
        await store.release_leases("node-newer", [(*IDENT, fence)])
        return fence


async def stored_n(store_url: str, tmp_path: Path) -> tuple[int, int]:
    async with open_shared_store(store_url, data_dir=tmp_path / "tool") as store:
        stored = await store.read_state(*IDENT)
    assert stored is not None
    return int(stored.state["n"]), stored.fence


async def serve_three(a: Server) -> int:
    for by in (1, 1, 1):
        status, body = await rpc_call(a, "/gated/x/rpc/add", b'{"by": %d}' % by)
        assert status == 200, body
    await trio.sleep(0.8)  # synced
    fence = cluster_of(a).fence(*IDENT)
    assert fence is not None
    return fence


async def moved_and_back(a: Server, store_url: str, tmp_path: Path, *, evict: bool) -> int:
    """gated/x served here (n = 3, synced), then owned by another node that stored n = 10;
    this node notices late: it loses its lease (a refused write does the same) and claims
    the actor again. Returns the fence of the old lease; the new one is two above it."""
    node = cluster_of(a)
    old = await serve_three(a)
    if evict:
        await a.evict(*IDENT)
    newer = await newer_owner_writes(store_url, tmp_path, 10)
    assert newer == old + 1
    node.keeper.forget(IDENT)
    assert await node._claim(IDENT) == newer + 1
    return old


async def add_one(a: Server) -> bytes:
    status, body = await rpc_call(a, "/gated/x/rpc/add", b'{"by": 1}')
    assert status == 200, body
    return body


async def test_a_stale_instance_is_never_synced_under_a_newer_lease(
    tmp_path: Path, pg_store_url: str
) -> None:
    with trio.fail_after(60):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **cluster()) as a:
            old = await moved_and_back(a, pg_store_url, tmp_path, evict=False)
            # The old instance is still in memory, with a change the store never got.
            assert a.registry.slots[IDENT].activated_fence == old
            a.node.sync.after_commit(IDENT)
            await trio.sleep(0.8)  # a sync round between turns
            n, _ = await stored_n(pg_store_url, tmp_path)
            assert n == 10, "the stale instance overwrote the newer state"
            # The next turn starts a fresh instance from the newer state.
            assert await add_one(a) == b'{"value":11}'
            await trio.sleep(0.8)
            assert await stored_n(pg_store_url, tmp_path) == (11, old + 2)


async def test_a_late_self_fence_spares_the_lease_claimed_since(
    tmp_path: Path, pg_store_url: str
) -> None:
    with trio.fail_after(60):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **cluster()) as a:
            node = cluster_of(a)
            old = await moved_and_back(a, pg_store_url, tmp_path, evict=False)
            assert await add_one(a) == b'{"value":11}'
            slot = a.registry.slots[IDENT]
            instance = slot.actor
            # The self-fence of the old lease runs only now (it waited for a lock, say).
            await node.lease_lost({IDENT: old})
            assert node.keeper.fence(IDENT) == old + 2, "the new lease was forgotten"
            assert slot.actor is instance, "the instance of the new lease was evicted"
            assert await add_one(a) == b'{"value":12}'


async def test_an_activation_without_its_claims_state_asks_the_store(
    tmp_path: Path, pg_store_url: str
) -> None:
    with trio.fail_after(60):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **cluster()) as a:
            await moved_and_back(a, pg_store_url, tmp_path, evict=True)
            # Whatever drops what the claim read (a late self-fence did), the activation
            # must not believe the file stamped with the old fence.
            cluster_of(a)._fresh.pop(IDENT)
            assert await add_one(a) == b'{"value":11}'


async def test_a_shared_claim_leaves_nothing_that_holds_the_lease(
    tmp_path: Path, pg_store_url: str
) -> None:
    """Two tasks claim a new actor at once (two first requests): the second shares the
    first's claim. It used to leave a claim marker once the first had activated the actor,
    and the marker kept the lease from ever being released (a SIGTERM then left that actor
    to wait out its lease: "1 actors could not be synced")."""
    with trio.fail_after(30):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **cluster()) as a:
            node = cluster_of(a)

            async def claim_and_activate() -> None:
                assert await node._claim(IDENT) is not None
                await node.activation(*IDENT)  # no checkpoint before it: it runs at once

            async def claim_too() -> None:
                assert await node._claim(IDENT) is not None

            async with trio.open_nursery() as nursery:
                nursery.start_soon(claim_and_activate)
                await trio.testing.wait_all_tasks_blocked()  # its store call is on its way
                nursery.start_soon(claim_too)
            assert IDENT not in node._fresh
            assert node.releasable(IDENT)


async def test_a_claim_never_activated_lets_its_lease_go(
    tmp_path: Path, pg_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim whose activation never comes (a forwarded request that failed first, an alarm
    sweep that found nothing due) does not hold the lease forever."""
    monkeypatch.setattr(_cluster, "CLAIM_GRACE", 0.5)
    with trio.fail_after(30):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **cluster()) as a:
            node = cluster_of(a)
            assert await node._claim(IDENT) is not None
            assert not node.releasable(IDENT)  # its activation may be on its way
            await trio.sleep(0.6)
            assert node.releasable(IDENT)
            await trio.sleep(TTL / 3 + 0.5)  # a renewal tick releases it
            assert node.keeper.fence(IDENT) is None


async def test_a_node_claiming_its_own_lease_again_starts_a_new_ownership(
    tmp_path: Path, pg_store_url: str
) -> None:
    """A node that lost a lease locally (a self-fence, a refused write) and claims it back
    before anyone else took it gets the next fence, not its old one: its instance, writes and
    log entries of the earlier ownership can never pass for the new one (with the same fence,
    a late self-fence forgot the new claim, and a durable log kept entries of both)."""
    with trio.fail_after(30):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **cluster()) as a:
            node = cluster_of(a)
            old = await serve_three(a)
            instance = a.registry.slots[IDENT].actor
            node.keeper.forget(IDENT)
            assert await node._claim(IDENT) == old + 1
            assert await add_one(a) == b'{"value":4}'
            assert a.registry.slots[IDENT].actor is not instance  # a fresh activation
            await node.lease_lost({IDENT: old})  # the old ownership's late self-fence
            assert node.keeper.fence(IDENT) == old + 1
