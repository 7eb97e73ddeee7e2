"""A durable actor's held output when its lease goes. The durable chaos run in CI (seed 7)
once ended with two clients unable to open a WebSocket to an actor that its node had lost
and claimed again while output waited for the store: every handshake waited 3 s and was
given up, while HTTP calls to the actor went through. That run is not reproduced here; this
checks the property it points at. Output held for a history that ended fails (the call gets
``unavailable``, never "ok" for a commit the store may not have), and the actor, claimed
again, takes connections and calls at once. Real in-process node, real PostgreSQL; the log
table is locked from the test to hold the appends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import trio

from tests.review.test_review_cluster import make_app, rpc_call
from tests.support import connect, running


async def test_output_held_for_an_ended_history_fails_and_blocks_nothing(
    tmp_path: Path, pg_store_url: str
) -> None:
    settings: dict[str, Any] = {"durable": True, "sync_interval": 1.0, "lease_ttl": 10.0}
    answers: list[tuple[int, bytes]] = []

    async def add() -> None:
        answers.append(await rpc_call(a, "/gated/x/rpc/add", b'{"by": 1}'))

    with trio.fail_after(60):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **settings) as a:
            await add()
            assert answers == [(200, b'{"value":1}')]
            fence = a.registry.lease_fence("gated", "x")
            assert fence is not None
            blocker = await trio.to_thread.run_sync(psycopg.connect, pg_store_url)
            try:
                # Appends to the log wait: the next turn's output is held.
                await trio.to_thread.run_sync(
                    blocker.execute, "LOCK TABLE roost_actor_log IN EXCLUSIVE MODE"
                )
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(add)  # n = 2, its reply held
                    await trio.sleep(0.3)
                    assert len(answers) == 1
                    # The lease is lost here (as a refused append or a missed renewal says).
                    await a.registry.fence_lost("gated", "x", fence)
                    with trio.fail_after(5):
                        while len(answers) < 2:  # noqa: ASYNC110 - the reply is the event
                            await trio.sleep(0.02)
                    await trio.to_thread.run_sync(blocker.rollback)
            finally:
                await trio.to_thread.run_sync(blocker.close)
            # Its output failed: never "ok" for a commit the store may not have.
            assert answers[1][0] == 503, answers
            # The actor comes back under a new lease; its connections and calls go through.
            with trio.fail_after(10):
                async with connect(a, "/gated/x", subprotocols=["roost.v1.json"]):
                    pass
                await add()
            assert answers[2][0] == 200, answers
