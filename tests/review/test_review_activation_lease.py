"""A lease lost while an activation's ``on_start`` awaits. The first commit of the new
instance finds the lease gone and restarts the actor (G1: nothing of it commits or leaves);
the activation must then end as any failed activation does, with a retryable answer, not
trip over the restart's own stop (CI found ``stopped -> stopped`` answered as a 500). Real
in-process node, real PostgreSQL store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import trio

from roost import Actor, App, rpc
from tests.review.test_review_cluster import cluster, rpc_call
from tests.support import UPGRADE_HEADERS, connect, http, running

STARTING: dict[str, trio.Event] = {}
JSON = [("content-type", "application/json")]


class SlowStart(Actor):
    """Its first activation's ``on_start`` waits for the test (a fetch, a call elsewhere)."""

    @rpc
    async def add(self, conn: Any, by: int) -> int:
        n = int(self.storage.kv.get("n", 0)) + by
        self.storage.kv.put("n", n)
        return n

    async def on_start(self) -> None:
        self.storage.kv.put("started", int(self.storage.kv.get("started", 0)) + 1)
        if "open" in STARTING and not STARTING["open"].is_set():
            STARTING["entered"].set()
            await STARTING["open"].wait()


@asynccontextmanager
async def _first_visit_losing_the_lease(
    tmp_path: Path, store_url: str, path: str
) -> AsyncIterator[tuple[Any, tuple[int, dict[str, str], bytes]]]:
    """Run a node; ``GET``/``POST`` ``path`` (the first visit of slowstart/x); take the lease
    away while its ``on_start`` awaits. Yields the node and the visit's (status, headers,
    body): an HTTP rpc call, or an upgrade request (a plain HTTP one: trio-websocket's client
    leaks its socket when a handshake is refused)."""
    app = App()
    app.actor("slowstart", SlowStart)
    STARTING.update(entered=trio.Event(), open=trio.Event())
    answers: list[tuple[int, dict[str, str], bytes]] = []
    upgrade = "/rpc/" not in path
    async with running(app, tmp_path / "a", store=store_url, **cluster()) as a:

        async def visit() -> None:
            if upgrade:
                answers.append(await http(a, "GET", path, headers=UPGRADE_HEADERS))
            else:
                answers.append(await http(a, "POST", path, body=b'{"by": 1}', headers=JSON))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(visit)
            await STARTING["entered"].wait()
            fence = a.registry.lease_fence("slowstart", "x")
            assert fence is not None
            # The lease goes while on_start awaits (a refused write, a missed renewal).
            a.registry.placement.fence_refused("slowstart", "x", fence)
            STARTING["open"].set()
        yield a, answers[0]


async def test_a_lease_lost_during_on_start_fails_the_call_and_the_next_one_goes_through(
    tmp_path: Path, pg_store_url: str
) -> None:
    with trio.fail_after(60):
        path = "/slowstart/x/rpc/add"
        async with _first_visit_losing_the_lease(tmp_path, pg_store_url, path) as (a, answer):
            # Retryable: nothing of the activation committed or answered.
            assert answer[0] == 503, answer
            # Claimed again, a fresh activation.
            assert await rpc_call(a, path, b'{"by": 1}') == (200, b'{"value":1}')


async def test_a_handshake_whose_activation_loses_the_lease_is_refused_with_503(
    tmp_path: Path, pg_store_url: str
) -> None:
    """The same for a WebSocket: its first turn could not commit, so the handshake is
    refused as retryable (503 with Retry-After), never answered 500."""
    with trio.fail_after(60):
        path = "/slowstart/x"
        async with _first_visit_losing_the_lease(tmp_path, pg_store_url, path) as (a, answer):
            status, headers, _ = answer
            assert status == 503, answer
            assert "retry-after" in headers, headers
            async with connect(a, path, subprotocols=["roost.v1.json"]):
                pass


async def _until_activating(server: Any, actor_type: str, key: str) -> None:
    """Until the actor's slot exists and its lock is taken (no event says so)."""
    registry = server.registry
    while not (  # noqa: ASYNC110
        registry.has_slot(actor_type, key) and registry.slots[actor_type, key].lock.locked()
    ):
        await trio.sleep(0.01)


async def test_a_late_fence_lost_spares_the_instance_activated_under_the_next_lease(
    tmp_path: Path, pg_store_url: str
) -> None:
    """A refusal under the lost fence that arrives while the actor is being activated again
    (its claim in flight, holding the actor's lock: here a wake for its alarms) waits for
    that activation; it must then leave the new instance alone (it stopped the instance it
    was never about, whose clients lost it at once)."""
    app = App()
    app.actor("slowstart", SlowStart)
    STARTING.clear()
    path = "/slowstart/x/rpc/add"
    with trio.fail_after(60):
        async with running(app, tmp_path / "a", store=pg_store_url, **cluster()) as a:
            assert await rpc_call(a, path, b'{"by": 1}') == (200, b'{"value":1}')
            fence = a.registry.lease_fence("slowstart", "x")
            assert fence is not None
            await a.registry.fence_lost("slowstart", "x", fence)  # the lease goes: stopped
            blocker = await trio.to_thread.run_sync(psycopg.connect, pg_store_url)
            try:  # the next claim waits in the store, its activation holding the lock
                await trio.to_thread.run_sync(
                    blocker.execute, "LOCK TABLE roost_actor_lease IN EXCLUSIVE MODE"
                )
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(a.registry.wake_for_alarms, "slowstart", "x")
                    await _until_activating(a, "slowstart", "x")
                    slot = a.registry.slots["slowstart", "x"]
                    # A late refusal under the old fence (a snapshot or an append of it).
                    nursery.start_soon(a.registry.fence_lost, "slowstart", "x", fence)
                    await trio.sleep(0.1)
                    await trio.to_thread.run_sync(blocker.rollback)
            finally:
                blocker.close()  # (not cancellable: the schema is dropped after the test)
            new_fence = a.registry.lease_fence("slowstart", "x")
            assert new_fence is not None and new_fence > fence
            assert slot.activated_fence == new_fence
            assert slot.actor is not None, "the new instance was stopped by the old refusal"
            assert a.registry.slots.get(("slowstart", "x")) is slot
            assert await rpc_call(a, path, b'{"by": 1}') == (200, b'{"value":2}')
