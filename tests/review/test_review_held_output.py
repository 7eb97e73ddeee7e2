"""A durable actor's held output when its lease goes. The durable chaos run in CI (seed 7)
once ended with two clients unable to open a WebSocket to an actor that its node had lost
and claimed again while output waited for the store: every handshake waited 3 s and was
given up, while HTTP calls to the actor went through. The cause, reproduced here: output
held for the ended history stayed in the outbox and the new history's output queued behind
it. Output held for a history that ended fails (a call gets ``unavailable``, never "ok" for
a commit the store may not have; a connection that misses an event of it is closed with
1012), and the actor, claimed again, takes connections and calls at once. Real in-process
node, real PostgreSQL; the log table is locked from the test to hold the appends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trio
import trio_websocket

from roost import Actor, App, rpc
from tests.review.test_review_cluster import GATE, make_app, rpc_call
from tests.support import connect, running


async def _lock_log(store_url: str) -> psycopg.Connection[Any]:
    """Hold every append to the durable log (until the connection rolls back)."""
    blocker = await trio.to_thread.run_sync(psycopg.connect, store_url)
    await trio.to_thread.run_sync(blocker.execute, "LOCK TABLE roost_actor_log IN EXCLUSIVE MODE")
    return blocker


async def _until(check: Callable[[], bool]) -> None:
    """Wait (under the caller's deadline) until ``check()`` holds: a state of the node that
    no event announces (output held, a session added)."""
    while not check():  # noqa: ASYNC110 - polling the node's state is the point
        await trio.sleep(0.01)


async def _move_fence(store_url: str, fence: int) -> None:
    """As if another node claimed gated/x and let it go at once: the store's lease has the
    next fence and no owner."""

    def move() -> None:
        with psycopg.connect(store_url, autocommit=True) as conn:
            moved = conn.execute(
                "UPDATE roost_actor_lease SET fence = %s, node_id = NULL, expires_at = now()"
                " WHERE actor_type = 'gated' AND actor_key = 'x' AND fence = %s",
                (fence + 1, fence),
            )
            assert moved.rowcount == 1

    await trio.to_thread.run_sync(move)


def _slot(server: Any, actor_type: str) -> Any:
    return server.registry.slots[actor_type, "x"]


async def _closed_with(ws: trio_websocket.WebSocketConnection) -> int | None:
    """Read until the server closes the connection: its close code."""
    try:
        while True:
            await ws.get_message()
    except trio_websocket.ConnectionClosed as closed:
        return closed.reason.code


@pytest.mark.parametrize("order", ["answered-first", "claimed-first", "fence-moved-first"])
async def test_output_held_for_an_ended_history_fails_and_blocks_nothing(
    tmp_path: Path, pg_store_url: str, caplog: Any, order: str
) -> None:
    """Output held when the lease goes fails, and the actor claimed again works at once, in
    any order of the store's answer to the ended history's append and the new claim.
    ``claimed-first`` is the order CI found once (a race in this test then): the store
    refuses that append (its fence is old), and the refusal must stay with the ended
    history; before the fix it dropped the new lease, so the activation's first commit
    failed and the handshake got a 500 from a lifecycle error. ``fence-moved-first``, found
    by CI under load: the store's lease has a newer fence (here another node's claim, let go
    at once; there this node's own claim, whose answer had not come back) when the append
    is refused, and this node holds no lease of the actor; that refusal is the ended
    history's too (it warned "stopping it here" and stopped the actor again)."""
    settings: dict[str, Any] = {"durable": True, "sync_interval": 1.0, "lease_ttl": 10.0}
    answers: list[tuple[int, bytes]] = []
    connected = trio.Event()

    async def add() -> None:
        answers.append(await rpc_call(a, "/gated/x/rpc/add", b'{"by": 1}'))

    async def open_a_connection() -> None:
        async with connect(a, "/gated/x", subprotocols=["roost.v1.json"]):
            connected.set()

    with trio.fail_after(60):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **settings) as a:
            await add()
            assert answers == [(200, b'{"value":1}')]
            fence = a.registry.lease_fence("gated", "x")
            assert fence is not None
            blocker = await _lock_log(pg_store_url)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(add)  # n = 2: its append waits, its reply is held
                    await _until(lambda: _slot(a, "gated").outbox.holding)
                    assert len(answers) == 1
                    # The lease is lost here (as a refused append or a missed renewal says).
                    await a.registry.fence_lost("gated", "x", fence)
                    with trio.fail_after(5):
                        while len(answers) < 2:  # noqa: ASYNC110 - the reply is the event
                            await trio.sleep(0.02)
                    if order == "claimed-first":  # a new fence while the old append still
                        # waits (the rebuild of the file waits behind the lock too)
                        nursery.start_soon(open_a_connection)
                        with trio.fail_after(5):
                            while (a.registry.lease_fence("gated", "x") or 0) <= fence:  # noqa: ASYNC110
                                await trio.sleep(0.02)
                    elif order == "fence-moved-first":
                        await _move_fence(pg_store_url, fence)
                    claimed = len(caplog.records)
                    await trio.to_thread.run_sync(blocker.rollback)
            finally:
                blocker.close()  # (a cancelled wait must still let the lock go)
            # Its output failed: never "ok" for a commit the store may not have.
            assert answers[1][0] == 503, answers
            # The actor, under a new lease, takes connections and calls at once.
            with trio.fail_after(10):
                if order != "claimed-first":
                    await open_a_connection()
                await connected.wait()
                await add()
            assert answers[2][0] == 200, answers
            new_fence = a.registry.lease_fence("gated", "x")
            assert new_fence is not None and new_fence > fence
    # Nothing failed under the new lease: no lifecycle error, no commit restarted.
    errors = [r for r in caplog.records[claimed:] if r.levelno >= logging.WARNING]
    assert errors == [], [r.getMessage() for r in errors]


async def test_output_held_when_a_turn_outlives_the_lease_does_not_hold_the_next_history(
    tmp_path: Path, pg_store_url: str
) -> None:
    """The stuck handshakes of the CI chaos run (seed 7, durable): output held for the store
    stayed in the outbox when the actor restarted because a turn outlived its lease ("commit
    failed; restarting actor"), and the next history queued its own output behind it. A
    turn that wrote nothing (here the handshake of a new connection) then waited for a log
    position of the ended history that nothing would acknowledge again. A new history must
    start with nothing held (what was held is the ended history's: it fails)."""
    settings: dict[str, Any] = {"durable": True, "sync_interval": 1.0, "lease_ttl": 10.0}
    answers: list[tuple[int, bytes]] = []
    GATE.update(entered=trio.Event(), open=trio.Event())

    async def call(method: str, body: bytes = b"{}") -> None:
        answers.append(await rpc_call(a, f"/gated/x/rpc/{method}", body))

    async def stay_connected() -> None:
        async with connect(a, "/gated/x", subprotocols=["roost.v1.json"]):
            await trio.sleep_forever()

    with trio.fail_after(60):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **settings) as a:
            await call("add", b'{"by": 1}')
            fence = a.registry.lease_fence("gated", "x")
            assert fence is not None
            blocker = await _lock_log(pg_store_url)
            try:
                async with trio.open_nursery() as nursery:
                    # A client stays connected (the slot stays, with its outbox).
                    nursery.start_soon(stay_connected)
                    await _until(lambda: len(_slot(a, "gated").sessions) == 1)
                    nursery.start_soon(call, "add", b'{"by": 1}')  # held: its append waits
                    await _until(lambda: _slot(a, "gated").outbox.holding)
                    nursery.start_soon(call, "slow")
                    await GATE["entered"].wait()
                    # The lease goes while ``slow`` awaits: its commit fails, the actor
                    # restarts (no eviction, no on_stop: a broken turn).
                    a.registry.placement.fence_refused("gated", "x", fence)
                    GATE["open"].set()
                    with trio.fail_after(5):
                        while len(answers) < 3:  # noqa: ASYNC110 - the replies are the event
                            await trio.sleep(0.02)
                    await trio.to_thread.run_sync(blocker.rollback)
                    nursery.cancel_scope.cancel()
            finally:
                blocker.close()  # (a cancelled wait must still let the lock go)
            assert sorted(status for status, _ in answers[1:]) == [503, 503], answers
            # Claimed again: a handshake (a turn that writes nothing) goes through at once.
            with trio.fail_after(5):
                async with connect(a, "/gated/x", subprotocols=["roost.v1.json"]):
                    pass
            await call("add", b'{"by": 1}')
            assert answers[-1][0] == 200, answers


class Tally(Actor):
    """A counter that tells its envelope clients each new value; ``slow`` waits inside its
    turn for the test."""

    @rpc
    async def add(self, conn: Any, by: int) -> int:
        n = int(self.storage.kv.get("n", 0)) + by
        self.storage.kv.put("n", n)
        self.emit("n", n)
        return n

    @rpc
    async def slow(self, conn: Any) -> None:
        GATE["entered"].set()
        await GATE["open"].wait()
        self.storage.kv.put("slow", 1)


async def test_held_output_that_fails_closes_its_connections_and_answers_its_handshakes(
    tmp_path: Path, pg_store_url: str
) -> None:
    """What fails with held output: a connection that was to get an event of it is closed
    with 1012 (it never misses an event silently), and a handshake held behind it is
    answered and closed with 1012 at once (not left waiting for a response)."""
    app = App()
    app.actor("tally", Tally)
    settings: dict[str, Any] = {"durable": True, "sync_interval": 1.0, "lease_ttl": 10.0}
    GATE.update(entered=trio.Event(), open=trio.Event())
    answers: list[tuple[int, bytes]] = []
    codes: dict[str, int | None] = {}

    async def call(method: str, body: bytes = b"{}") -> None:
        answers.append(await rpc_call(a, f"/tally/x/rpc/{method}", body))

    async def listen(name: str, opened: trio.Event) -> None:
        async with connect(a, "/tally/x", subprotocols=["roost.v1.json"]) as ws:
            opened.set()
            codes[name] = await _closed_with(ws)

    with trio.fail_after(60):
        async with running(app, tmp_path / "a", store=pg_store_url, **settings) as a:
            await call("add", b'{"by": 1}')
            fence = a.registry.lease_fence("tally", "x")
            assert fence is not None
            early, late = trio.Event(), trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(listen, "early", early)
                await early.wait()
                blocker = await _lock_log(pg_store_url)
                try:
                    nursery.start_soon(call, "add", b'{"by": 1}')  # its event for "early": held
                    await _until(lambda: _slot(a, "tally").outbox.holding)
                    nursery.start_soon(listen, "late", late)  # its 101 waits behind that
                    await _until(lambda: len(_slot(a, "tally").sessions) == 2)
                    assert not late.is_set()
                    nursery.start_soon(call, "slow")
                    await GATE["entered"].wait()
                    # The lease goes while ``slow`` awaits (no eviction: the sessions are
                    # not closed for it); its commit fails and the history ends.
                    a.registry.placement.fence_refused("tally", "x", fence)
                    GATE["open"].set()
                    with trio.fail_after(5):
                        await late.wait()
                        while len(codes) < 2:  # noqa: ASYNC110 - the closes are the event
                            await trio.sleep(0.02)
                    await trio.to_thread.run_sync(blocker.rollback)
                finally:
                    blocker.close()  # (a cancelled wait must still let the lock go)
            assert codes == {"early": 1012, "late": 1012}, codes
            assert sorted(status for status, _ in answers[1:]) == [503, 503], answers
            await call("add", b'{"by": 1}')
            assert answers[-1][0] == 200, answers
