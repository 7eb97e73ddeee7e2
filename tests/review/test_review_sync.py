"""The sync worker's snapshot of a durable actor, found by a chaos run with ``--durable``
(seed 483871037): the store's state row stopped two entries short of the log for good.

A snapshot taken in a turn of its own (the actor was busy) was recorded as covering every
change marked by the time ``turn()`` returned; but a durable actor's ``turn()`` waits for the
store after releasing the lock, and the turns that committed meanwhile were not in the
snapshot. Their dirty mark was cleared with it, so they never reached the state row. Real
in-process node, real PostgreSQL; the log table is locked from the test to hold the appends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
import trio

from roost.storage import open_shared_store
from tests.review.test_review_cluster import GATE, make_app, rpc_call
from tests.support import running


async def stored_n(store_url: str, tmp_path: Path) -> int:
    async with open_shared_store(store_url, data_dir=tmp_path / "tool") as store:
        stored = await store.read_state("gated", "x")
    return 0 if stored is None else int(stored.state["n"])


@pytest.mark.parametrize(
    "pause",
    [
        # The snapshot turn records before the next round: it must not clear the mark of
        # the change made after it.
        0.1,
        # The next round records a newer snapshot first: the older one must not follow it.
        0.4,
    ],
)
async def test_a_snapshot_covers_only_the_turns_before_it(
    tmp_path: Path, pg_store_url: str, pause: float
) -> None:
    GATE.update(entered=trio.Event(), open=trio.Event())
    settings: dict[str, Any] = {"durable": True, "sync_interval": 1.0, "lease_ttl": 10.0}
    answers: list[bytes] = []

    async def call(method: str, body: bytes) -> None:
        status, answer = await rpc_call(a, f"/gated/x/rpc/{method}", body)
        assert status == 200, answer
        answers.append(answer)

    with trio.fail_after(60):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **settings) as a:
            await call("add", b'{"by": 1}')
            # A round wrote it just now: the next one is a second away. (Polling: the
            # store is another process's database, there is no event to wait on.)
            while await stored_n(pg_store_url, tmp_path) != 1:  # noqa: ASYNC110
                await trio.sleep(0.02)
            blocker = await trio.to_thread.run_sync(psycopg.connect, pg_store_url)
            try:
                # Appends to the log wait: every turn's output is held from now on.
                await trio.to_thread.run_sync(
                    blocker.execute, "LOCK TABLE roost_actor_log IN EXCLUSIVE MODE"
                )
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(call, "add", b'{"by": 1}')  # n = 2, held
                    await trio.sleep(0.05)
                    nursery.start_soon(call, "slow", b"{}")  # busy: the sync waits for it
                    await GATE["entered"].wait()
                    await trio.sleep(1.2)  # a sync round: the snapshot turn is queued
                    GATE["open"].set()  # n = 3; then the snapshot turn takes n = 3
                    await trio.sleep(pause)
                    nursery.start_soon(call, "add", b'{"by": 1}')  # n = 4, after the snapshot
                    await trio.sleep(pause)
                    await trio.to_thread.run_sync(blocker.rollback)  # the appends go through
            finally:
                blocker.close()  # (a cancelled wait must still let the lock go)
            assert sorted(answers) == [b'{"value":%d}' % n for n in (1, 2, 3, 4)]
            await trio.sleep(3.0)  # sync rounds
            assert await stored_n(pg_store_url, tmp_path) == 4
