"""Ownership leases with fencing tokens, on the database clock (G1 across nodes).

The database clock is real time, so expiry tests use ttls of a fraction of a second.
"""

from __future__ import annotations

import time

import pytest
import trio

from roost.storage._shared import Lease, SharedStore, StateWrite
from tests.shared_store.conftest import MakeStore

SHORT = 0.25  # a ttl that expires during the test
LONG = 30.0  # a ttl that does not


async def wait_past(lease: Lease) -> None:
    """Sleep until ``lease`` has expired by the database's measure (plus a margin)."""
    await trio.sleep(lease.valid_for + 0.05)


async def test_acquire_free_lease(store: SharedStore) -> None:
    with trio.fail_after(10):
        before = time.time()
        lease = await store.acquire_lease("chat", "lobby", "node-a", LONG)
        assert lease is not None
        assert (lease.actor_type, lease.key, lease.node_id, lease.fence) == (
            "chat",
            "lobby",
            "node-a",
            1,
        )
        assert lease.valid_for == pytest.approx(LONG, abs=0.5)
        # Same machine, so the database clock is this clock.
        assert before + LONG - 1 < lease.expires_at < time.time() + LONG + 1


async def test_held_lease_is_refused_to_others(store: SharedStore) -> None:
    with trio.fail_after(10):
        assert await store.acquire_lease("chat", "lobby", "node-a", LONG) is not None
        assert await store.acquire_lease("chat", "lobby", "node-b", LONG) is None
        other = await store.acquire_lease("chat", "other-key", "node-b", LONG)
        assert other is not None and other.fence == 1  # fences are per actor


async def test_same_owner_keeps_its_fence(store: SharedStore) -> None:
    with trio.fail_after(10):
        first = await store.acquire_lease("chat", "lobby", "node-a", SHORT)
        again = await store.acquire_lease("chat", "lobby", "node-a", LONG)
        assert first is not None and again is not None
        assert again.fence == first.fence
        assert again.expires_at > first.expires_at


async def test_expired_lease_goes_to_a_new_owner_with_a_higher_fence(
    store: SharedStore,
) -> None:
    with trio.fail_after(10):
        old = await store.acquire_lease("chat", "lobby", "node-a", SHORT)
        assert old is not None
        await wait_past(old)
        new = await store.acquire_lease("chat", "lobby", "node-b", LONG)
        assert new is not None and new.fence == old.fence + 1
        assert await store.renew_lease(old, LONG) is None  # lost
        assert await store.acquire_lease("chat", "lobby", "node-a", LONG) is None
        assert await store.release_lease(old) is False  # cannot release someone else's


async def test_renew_extends_the_lease(store: SharedStore) -> None:
    with trio.fail_after(10):
        lease = await store.acquire_lease("chat", "lobby", "node-a", 0.4)
        assert lease is not None
        await trio.sleep(0.2)
        renewed = await store.renew_lease(lease, 0.4)
        assert renewed is not None
        assert renewed.fence == lease.fence
        assert renewed.expires_at > lease.expires_at
        await trio.sleep(0.3)  # past the first expiry, within the renewed one
        assert await store.acquire_lease("chat", "lobby", "node-b", LONG) is None


async def test_renew_after_expiry_succeeds_while_nobody_took_over(store: SharedStore) -> None:
    with trio.fail_after(10):
        lease = await store.acquire_lease("chat", "lobby", "node-a", SHORT)
        assert lease is not None
        await wait_past(lease)
        renewed = await store.renew_lease(lease, LONG)
        assert renewed is not None and renewed.fence == lease.fence


async def test_release_hands_over_at_once_and_fences_are_never_reused(
    store: SharedStore,
) -> None:
    with trio.fail_after(10):
        fences = []
        for node in ("node-a", "node-b", "node-a", "node-a"):
            lease = await store.acquire_lease("chat", "lobby", node, LONG)
            assert lease is not None
            fences.append(lease.fence)
            assert await store.release_lease(lease) is True
            assert await store.release_lease(lease) is False
            assert await store.renew_lease(lease, LONG) is None
        assert fences == [1, 2, 3, 4]  # a new owner every time, also the same node again


async def test_new_fence_is_above_the_stored_state_fence(store: SharedStore) -> None:
    """If lease rows were lost (say deleted by hand), the state's fence still rules."""
    with trio.fail_after(10):
        await store.write_states([StateWrite("chat", "lobby", 41, {"n": 1})])
        lease = await store.acquire_lease("chat", "lobby", "node-a", LONG)
        assert lease is not None and lease.fence == 42


async def test_concurrent_acquires_have_one_winner(make_store: MakeStore) -> None:
    """Eight nodes, each with its own store (as separate processes would be), race."""
    with trio.fail_after(20):
        stores = [make_store() for _ in range(8)]
        for each in stores:
            await each.open()
        winners: list[Lease] = []

        async def contend(node: str, each: SharedStore) -> None:
            lease = await each.acquire_lease("chat", "contested", node, LONG)
            if lease is not None:
                winners.append(lease)

        async with trio.open_nursery() as nursery:
            for i, each in enumerate(stores):
                nursery.start_soon(contend, f"node-{i}", each)
        assert len(winners) == 1
        assert winners[0].fence == 1


async def test_lease_arguments_are_checked(store: SharedStore) -> None:
    with trio.fail_after(10):
        for ttl in (0, -1, float("nan"), float("inf")):
            with pytest.raises(ValueError):
                await store.acquire_lease("chat", "k", "node-a", ttl)
        with pytest.raises(ValueError):
            await store.acquire_lease("chat", "k\0", "node-a", LONG)
        with pytest.raises(ValueError):
            await store.acquire_lease("chat", "\ud800", "node-a", LONG)
        with pytest.raises(TypeError):
            await store.acquire_lease("chat", b"k", "node-a", LONG)  # type: ignore[arg-type]
