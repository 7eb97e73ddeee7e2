"""G7: dirty actors reach the shared store, fenced and versioned; nothing is lost when the store
is down, on eviction, on shutdown; an actor without a local file restores from the store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio

from roost import Actor, App, Connection, rpc
from roost.runtime._membership import ClusterConflict
from roost.runtime._node_store import NodeStore
from roost.runtime._stats import NodeStats
from roost.runtime._sync import SyncWorker
from roost.storage import StoredState, open_shared_store
from tests.shared_store.proxy import CuttableProxy
from tests.support import connect, http, running


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A shared store both nodes of a test use: an SQLite file, or a PostgreSQL schema."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_store_url")
        return url
    return str(tmp_path / "shared.sqlite")


class Counter(Actor):
    """Counts messages in its KV; its snapshot is the count."""

    sync_on_write = True
    restored: ClassVar[list[Any]] = []
    starts: ClassVar[list[int]] = []

    async def on_start(self) -> None:
        Counter.starts.append(self.storage.kv.get("n", 0))

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        n = self.storage.kv.get("n", 0) + 1
        self.storage.kv.put("n", n)
        conn.send(str(n))

    def snapshot(self) -> dict[str, Any]:
        return {"key": self.key, "n": self.storage.kv.get("n", 0)}

    async def restore(self, snapshot: Any) -> None:
        Counter.restored.append(snapshot)
        self.storage.kv.put("n", snapshot["n"])


def make_app() -> App:
    Counter.restored, Counter.starts = [], []
    app = App()
    app.actor("counter", Counter)
    return app


async def stored(data_dir: Path, key: str, store: str | None = None) -> StoredState | None:
    async with open_shared_store(store, data_dir=data_dir) as shared:
        return await shared.read_state("counter", key)


async def bump(ws: Any, times: int) -> int:
    n = 0
    for _ in range(times):
        await ws.send_message("+")
        n = int(await ws.get_message())
    return n


async def metric(server: Any, name: str) -> float:
    _, _, body = await http(server, "GET", "/_roost/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


async def test_dirty_actors_reach_the_store_with_growing_versions(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with running(make_app(), tmp_path, sync_interval=1) as server:
            async with connect(server, "/counter/a") as a, connect(server, "/counter/b") as b:
                await bump(a, 3)
                await bump(b, 1)
                await trio.sleep(2)
                first = await stored(tmp_path, "a")
                assert first is not None and first.state == {"key": "a", "n": 3}
                assert (await stored(tmp_path, "b")).state["n"] == 1  # type: ignore[union-attr]
                await bump(a, 2)
                await trio.sleep(2)
                second = await stored(tmp_path, "a")
                assert second is not None and second.state["n"] == 5
                assert second.version == first.version + 1
                assert second.fence == first.fence
                await trio.sleep(5)  # nothing changed: no new version
                assert (await stored(tmp_path, "a")).version == second.version  # type: ignore[union-attr]
                assert await metric(server, "roost_sync_pending") == 0
                assert await metric(server, "roost_sync_lag_seconds") == 0
                assert await metric(server, "roost_sync_batches_total") >= 2


async def test_eviction_and_graceful_shutdown_flush_first(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with running(make_app(), tmp_path, sync_interval=3600, idle_timeout=5) as server:
            async with connect(server, "/counter/evicted") as ws:
                await bump(ws, 4)
            await trio.sleep(10)  # evicted: its snapshot was taken on the way out
            assert server.statistics().actors == 0
            async with connect(server, "/counter/open") as ws:
                await bump(ws, 2)
            assert await stored(tmp_path, "evicted") is None  # the interval has not come
        # Graceful shutdown wrote both, without waiting for the interval.
        assert (await stored(tmp_path, "evicted")).state["n"] == 4  # type: ignore[union-attr]
        assert (await stored(tmp_path, "open")).state["n"] == 2  # type: ignore[union-attr]
    assert Counter.starts == [0, 0]  # nobody was activated again just to be synced


async def test_an_actor_without_its_file_restores_from_the_store(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    app = make_app()
    with trio.fail_after(600):
        async with running(app, tmp_path) as server:
            async with connect(server, "/counter/r") as ws:
                assert await bump(ws, 7) == 7
        for file in (tmp_path / "actors").rglob("*.sqlite*"):
            file.unlink()  # the node lost its disk, the store did not
        async with running(app, tmp_path) as server:
            async with connect(server, "/counter/r") as ws:
                assert await bump(ws, 1) == 8
            async with connect(server, "/counter/new") as ws:
                assert await bump(ws, 1) == 1
    assert Counter.restored == [{"key": "r", "n": 7}]  # not for "new": nothing stored
    assert Counter.starts == [0, 7, 0]  # restore ran before on_start


async def test_a_second_single_node_on_the_store_refuses_to_start(
    tmp_path: Path, shared_url: str, threaded_autojump_clock: trio.abc.Clock
) -> None:
    """Two single nodes on one store would write the same actors without leases and diverge
    (issue 14): the second refuses to start, naming the live one; nothing of it is written."""
    with trio.fail_after(600):
        async with running(make_app(), tmp_path / "a", store=shared_url, sync_interval=1) as a:
            async with connect(a, "/counter/x") as on_a:
                await bump(on_a, 1)
                await trio.sleep(2)
                with pytest.raises(BaseException) as refused:
                    async with running(make_app(), tmp_path / "b", store=shared_url):
                        pass
                conflict = refused.value
                while isinstance(conflict, BaseExceptionGroup):
                    conflict = conflict.exceptions[0]
                assert isinstance(conflict, ClusterConflict)
                assert a.node.node_id in str(conflict)
                assert "--cluster-secret" in str(conflict)
                assert not (tmp_path / "b" / "counter").exists()
                assert await bump(on_a, 1) == 2  # the first node goes on undisturbed
        # Once the first node has stopped (and left the table), another may start.
        async with running(make_app(), tmp_path / "b", store=shared_url) as b:
            async with connect(b, "/counter/x") as on_b:
                assert await bump(on_b, 1) == 3  # restored from the store: A synced 2


async def _closed_code(ws: Any) -> int:
    import trio_websocket

    try:
        while True:
            await ws.get_message()
    except trio_websocket.ConnectionClosed as exc:
        return int(exc.reason.code)


async def test_store_down_keeps_everything_and_catches_up(
    tmp_path: Path, pg_store_url: str, threaded_autojump_clock: trio.abc.Clock
) -> None:
    proxy = CuttableProxy("127.0.0.1", 5432)
    with trio.fail_after(900):
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            url = pg_store_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
            async with running(make_app(), tmp_path, store=url, sync_interval=1) as server:
                async with connect(server, "/counter/p") as ws:
                    await bump(ws, 2)
                    await trio.sleep(3)
                    assert (await stored(tmp_path, "p", pg_store_url)).state["n"] == 2  # type: ignore[union-attr]
                    proxy.cut()
                    assert await bump(ws, 5) == 7  # turns go on while the store is away
                    # The store's calls time out in real seconds; virtual ones pass meanwhile.
                    while await metric(server, "roost_sync_failures_total") < 1:  # noqa: ASYNC110 - a real outage, polled on the mock clock
                        await trio.sleep(1)
                    assert await metric(server, "roost_sync_lag_seconds") >= 5
                    assert await metric(server, "roost_sync_pending") == 1
                    assert (await stored(tmp_path, "p", pg_store_url)).state["n"] == 2  # type: ignore[union-attr]
                    proxy.restore()
                    for _ in range(120):
                        await trio.sleep(1)
                        if await metric(server, "roost_sync_pending") == 0:
                            break
                    assert await metric(server, "roost_sync_lag_seconds") == 0
                    assert await metric(server, "roost_sync_failures_total") >= 1
                    state = await stored(tmp_path, "p", pg_store_url)
                    assert state is not None and state.state == {"key": "p", "n": 7}
            nursery.cancel_scope.cancel()


class Item(Actor):
    """Marks itself dirty when touched; its snapshot names it and counts the touches."""

    async def on_start(self) -> None:
        self.touches = 0

    @rpc
    async def touch(self, conn: Connection | None) -> int:
        self.touches += 1
        self.mark_dirty()
        return self.touches

    def snapshot(self) -> dict[str, Any]:
        return {"key": self.key, "touches": self.touches, "text": 'é " 🦜'}


async def test_many_actors_in_several_batches(
    tmp_path: Path, shared_url: str, threaded_autojump_clock: trio.abc.Clock
) -> None:
    """More dirty actors than a batch holds: every one is stored, in several batches, and
    its durable dirty mark is gone afterwards; a second change syncs them all again."""
    app = App()
    app.actor("item", Item)
    keys = [f"item-{i}" for i in range(230)] + ['k"ey', "k\\ey", "{k,ey}", "ключ"]
    with trio.fail_after(600):
        async with running(
            app, tmp_path / "node", store=shared_url, sync_interval=1, sync_batch_size=40
        ) as server:
            for touches in (1, 2):
                for key in keys:
                    await server.registry.call_actor(None, "item", key, "touch", {})
                assert await metric(server, "roost_sync_pending") == len(keys)
                for _ in range(30):
                    await trio.sleep(1)
                    if await metric(server, "roost_sync_pending") == 0:
                        break
                assert await metric(server, "roost_sync_batches_total") >= 6 * touches
                async with open_shared_store(shared_url, data_dir=tmp_path) as store:
                    rows = await store.list_states("item", limit=1000)
                assert sorted((s.key, s.version, s.state["touches"]) for s in rows) == sorted(
                    (key, touches, touches) for key in keys
                )
                assert rows[0].state["text"] == 'é " 🦜'
                with sqlite3.connect(tmp_path / "node" / "node.sqlite") as node_db:
                    assert node_db.execute("SELECT count(*) FROM dirty").fetchone() == (0,)
                node_db.close()


def test_clearing_dirty_marks_is_one_transaction(tmp_path: Path) -> None:
    """A batch of marks is cleared in one transaction: all of it, or (on an error) none."""
    node = NodeStore(tmp_path / "node.sqlite")
    try:
        for n in range(5):
            node.mark_dirty("item", f"k{n}", n + 1)

        def marks_then_error() -> Any:
            yield ("item", "k0", 1)
            yield ("item", "k1", 2)
            raise RuntimeError("the batch broke off")

        with pytest.raises(RuntimeError):
            node.clear_dirty(marks_then_error())
        assert len(node.dirty()) == 5
        node.clear_dirty([("item", "k0", 1), ("item", "k1", 1), ("item", "k2", 3)])
        # k1's mark was renewed (2 > 1): it stays.
        assert sorted(node.dirty()) == [("item", "k1", 2), ("item", "k3", 4), ("item", "k4", 5)]
    finally:
        node.close()


async def test_lag_is_the_age_of_the_oldest_unsynced_change(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    node = NodeStore(tmp_path / "node.sqlite")
    try:
        store = open_shared_store(None, data_dir=tmp_path)
        worker = SyncWorker(
            node,
            store,
            node_id="node-test",
            stats=NodeStats(),
            interval=1.0,
        )
        assert worker.lag() == 0.0
        worker.after_commit(("item", "a"))
        await trio.sleep(5)
        worker.after_commit(("item", "b"))
        worker.after_commit(("item", "a"))  # a newer change of a does not make it younger
        await trio.sleep(1)
        assert worker.lag() == pytest.approx(6.0)
        worker._synced(("item", "a"), 2)
        assert worker.lag() == pytest.approx(1.0)
        worker._synced(("item", "b"), 1)
        assert worker.lag() == 0.0
    finally:
        node.close()


class Slow(Actor):
    """Its ``hold`` turn changes the state, waits for the test, and changes it again."""

    begun: ClassVar[trio.Event]
    release: ClassVar[trio.Event]

    async def on_start(self) -> None:
        self.steps = ["started"]

    @rpc
    async def hold(self, conn: Connection | None) -> None:
        self.steps.append("begun")
        self.mark_dirty()
        Slow.begun.set()
        await Slow.release.wait()
        self.steps.append("done")

    def snapshot(self) -> dict[str, Any]:
        return {"steps": list(self.steps)}


async def test_a_busy_actor_is_snapshotted_after_its_turn(
    tmp_path: Path, shared_url: str, threaded_autojump_clock: trio.abc.Clock
) -> None:
    """The busy actor's snapshot waits for its running turn instead of reading its state
    halfway, and nothing is written twice; the actors after it in the round do NOT wait (one
    slow turn used to hold up the sync of the whole node: found by the chaos harness)."""
    Slow.begun, Slow.release = trio.Event(), trio.Event()
    app = App()
    app.actor("slow", Slow)
    app.actor("item", Item)
    with trio.fail_after(600):
        async with running(app, tmp_path / "node", store=shared_url, sync_interval=1) as server:
            sync = server.sync
            assert sync is not None
            await server.registry.call_actor(None, "item", "warm-up", "touch", {})
            await trio.sleep(3)  # the store is open, and the item synced
            async with trio.open_nursery() as nursery:
                nursery.start_soon(server.registry.call_actor, None, "slow", "s", "hold", {})
                await Slow.begun.wait()
                # As if an earlier turn had changed it: dirty now, while a turn holds it.
                sync.before_commit(("slow", "s"))
                sync.after_commit(("slow", "s"))
                await server.registry.call_actor(None, "item", "after", "touch", {})
                await trio.sleep(5)  # rounds came: "s" waits for its turn, "after" did not
                assert await metric(server, "roost_sync_pending") == 1  # "s" only
                Slow.release.set()
            for _ in range(10):
                await trio.sleep(1)
                if await metric(server, "roost_sync_pending") == 0:
                    break
            async with open_shared_store(shared_url, data_dir=tmp_path) as store:
                slow = await store.read_state("slow", "s")
                after = await store.read_state("item", "after")
            assert slow is not None and slow.version == 1
            assert slow.state == {"steps": ["started", "begun", "done"]}
            assert after is not None and after.state["touches"] == 1


async def test_marks_left_by_an_earlier_run_are_synced_at_start(
    tmp_path: Path, shared_url: str, threaded_autojump_clock: trio.abc.Clock
) -> None:
    """Dirty marks in node.sqlite without an actor in memory: the worker activates the actor
    to take its snapshot; a mark of a type the app no longer has is dropped."""
    (tmp_path / "node").mkdir()
    node = NodeStore(tmp_path / "node" / "node.sqlite")
    node.mark_dirty("item", "left-behind", 1)
    node.mark_dirty("gone-type", "k", 2)
    node.close()
    app = App()
    app.actor("item", Item)
    with trio.fail_after(600):
        async with running(app, tmp_path / "node", store=shared_url, sync_interval=1) as server:
            # Both, or the known one only if the first round ran while the node registered.
            assert await metric(server, "roost_sync_pending") in (1, 2)
            for _ in range(10):
                await trio.sleep(1)
                if await metric(server, "roost_sync_pending") == 0:
                    break
            async with open_shared_store(shared_url, data_dir=tmp_path) as store:
                state = await store.read_state("item", "left-behind")
                assert await store.read_state("gone-type", "k") is None
            assert state is not None and state.state["touches"] == 0
            with sqlite3.connect(tmp_path / "node" / "node.sqlite") as node_db:
                assert node_db.execute("SELECT count(*) FROM dirty").fetchone() == (0,)
            node_db.close()


class Broken(Actor):
    """An actor whose on_start raises while ``failing``: its snapshot cannot be taken."""

    failing: ClassVar[bool] = True
    starts: ClassVar[int] = 0

    async def on_start(self) -> None:
        Broken.starts += 1
        if Broken.failing:
            raise RuntimeError("on_start is broken")

    def snapshot(self) -> dict[str, Any]:
        return {"ok": True}


@pytest.fixture
def brisk_threaded_clock() -> trio.testing.MockClock:
    """``threaded_autojump_clock`` with 10 ms of real idleness per jump: the embedded store's
    few thread calls fit in it, and hundreds of mock seconds of sync rounds take seconds."""
    return trio.testing.MockClock(autojump_threshold=0.01)


async def test_an_actor_that_cannot_start_is_snapshotted_with_backoff(
    tmp_path: Path, brisk_threaded_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """G5 spirit, issue 11: a dirty actor whose on_start raises was retried (and its traceback
    logged) at every sync round forever. Now: 2 s, 4 s, ... capped (5 min by default, 32 s
    here), the traceback once, one short line per retry, a counter; the mark stays and the
    actor syncs once it can start."""
    Broken.failing, Broken.starts = True, 0
    (tmp_path / "node").mkdir()
    node = NodeStore(tmp_path / "node" / "node.sqlite")
    node.mark_dirty("broken", "b", 1)
    node.close()
    app = App()
    app.actor("broken", Broken)
    caplog.set_level("INFO", logger="roost.sync")
    with trio.fail_after(3600):
        async with running(app, tmp_path / "node", sync_interval=1) as server:
            assert server.sync is not None
            server.sync.snapshot_max_backoff = 32.0
            await trio.sleep(300)  # at 1, 3, 7, 15, 31, 63, then every 32 s: 13 attempts
            assert 12 <= Broken.starts <= 14, Broken.starts  # not 300
            records = [r for r in caplog.records if r.name == "roost.sync"]
            assert len(records) == Broken.starts
            assert records[0].exc_info is not None  # the traceback, once
            assert all(r.exc_info is None for r in records[1:])
            assert "retrying in 32 s" in records[-1].getMessage()
            assert await metric(server, "roost_sync_snapshot_failures_total") == Broken.starts
            assert await metric(server, "roost_sync_pending") == 1  # the mark stays (G7)
            Broken.failing = False
            for _ in range(100):
                await trio.sleep(1)
                if await metric(server, "roost_sync_pending") == 0:
                    break
            assert await metric(server, "roost_sync_pending") == 0
    async with open_shared_store(None, data_dir=tmp_path / "node") as store:
        state = await store.read_state("broken", "b")
    assert state is not None and state.state == {"ok": True}
