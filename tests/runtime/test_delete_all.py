"""``await self.storage.delete_all()``: an actor's rows, KV and alarms go in its turn, its
shared-store row goes once the turn commits (so it is not restored from there), its file goes
when the activation ends; a turn that raises afterwards keeps everything. Real servers on
real sockets, with the shared store in SQLite and in PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio

from roost import Actor, App, Connection, StorageError
from roost.actors import Alarm
from roost.storage import (
    ActorStorage,
    EncodedState,
    HandlePool,
    StoredState,
    actor_db_path,
    open_shared_store,
)
from tests.support import connect, running

#: When the actor's alarms are due: later than every step before a test checks them (14 s at
#: most), and short, because a sync round each second makes mock time cost real time.
LATER = 20.0


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> str | None:
    """The shared store: None for <data-dir>/shared.sqlite, or a PostgreSQL schema."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_store_url")
        return url
    return None


class Notes(Actor):
    """Notes in a table, a KV count and a reminder alarm; its snapshot is the count."""

    restored: ClassVar[list[Any]] = []
    fired: ClassVar[list[str]] = []

    async def on_start(self) -> None:
        self.storage.db.execute(
            "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT)"
        )

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        command = str(message)
        if command == "add":
            self.storage.db.execute("INSERT INTO notes (text) VALUES ('x')")
            self.storage.kv.put("count", self.storage.kv.get("count", 0) + 1)
            self.alarms.set("remind", after=LATER)
            self.mark_dirty()
        elif command == "delete":
            await self.storage.delete_all()
        elif command == "delete-and-add":
            await self.storage.delete_all()
            self.storage.db.execute("INSERT INTO notes (text) VALUES ('after')")
            self.alarms.set("after", after=LATER)
        elif command == "delete-then-fail":
            await self.storage.delete_all()
            raise RuntimeError("changed my mind")
        conn.send(json.dumps(self.counts()))

    async def on_alarm(self, alarm: Alarm) -> None:
        Notes.fired.append(f"{self.key}:{alarm.name}")

    def counts(self) -> dict[str, Any]:
        db = self.storage.db
        notes = db.execute("SELECT count(*) FROM notes").fetchone()[0]
        ids = [row[0] for row in db.execute("SELECT id FROM notes")]
        alarms = sorted(alarm.name for alarm in self.alarms.list())
        return {"notes": notes, "ids": ids, "count": self.storage.kv.get("count"), "alarms": alarms}

    def snapshot(self) -> dict[str, Any]:
        return {"count": self.storage.kv.get("count", 0)}

    async def restore(self, snapshot: Any) -> None:
        Notes.restored.append(snapshot)
        self.storage.kv.put("count", snapshot["count"])


def make_app() -> App:
    Notes.restored, Notes.fired = [], []
    app = App()
    app.actor("notes", Notes)
    return app


async def stored(data_dir: Path, key: str, store: str | None) -> StoredState | None:
    async with open_shared_store(store, data_dir=data_dir) as shared:
        return await shared.read_state("notes", key)


async def say(ws: Any, command: str) -> dict[str, Any]:
    await ws.send_message(command)
    reply: dict[str, Any] = json.loads(await ws.get_message())
    return reply


async def test_delete_all_leaves_nothing_to_restore(
    tmp_path: Path, store: str | None, threaded_autojump_clock: trio.abc.Clock
) -> None:
    path = actor_db_path(tmp_path, "notes", "a")
    with trio.fail_after(600):
        settings = {"sync_interval": 1, "idle_timeout": 5, "store": store}
        async with running(make_app(), tmp_path, **settings) as server:
            async with connect(server, "/notes/a") as ws:
                await say(ws, "add")
                assert (await say(ws, "add"))["count"] == 2
                await trio.sleep(2)
                synced = await stored(tmp_path, "a", store)
                assert synced is not None and synced.state == {"count": 2}

                emptied = await say(ws, "delete")
                assert emptied == {"notes": 0, "ids": [], "count": None, "alarms": []}
                await trio.sleep(2)
                assert await stored(tmp_path, "a", store) is None
                assert path.exists()  # still active: the file goes with the activation
            await trio.sleep(10)  # idle: evicted
            assert server.statistics().actors == 0
            assert not path.exists()
            assert not path.parent.exists()  # its shard directory was only its own

            async with connect(server, "/notes/a") as ws:
                assert (await say(ws, "count")) == {
                    "notes": 0,
                    "ids": [],
                    "count": None,
                    "alarms": [],
                }
            assert Notes.restored == []  # not restored from the store
            await trio.sleep(2 * LATER)
            assert Notes.fired == []  # the scheduler forgot the deleted alarm
        assert await stored(tmp_path, "a", store) is None  # nor written back at shutdown


async def test_a_turn_that_raises_after_delete_all_keeps_everything(
    tmp_path: Path, store: str | None, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        settings = {"sync_interval": 1, "idle_timeout": 5, "store": store}
        async with running(make_app(), tmp_path, **settings) as server:
            async with connect(server, "/notes/b") as ws:
                await say(ws, "add")
                await trio.sleep(2)
                await ws.send_message("delete-then-fail")
                kept = await say(ws, "count")
                assert kept == {"notes": 1, "ids": [1], "count": 1, "alarms": ["remind"]}
            await trio.sleep(10)
            assert server.statistics().actors == 0
            assert actor_db_path(tmp_path, "notes", "b").exists()
            synced = await stored(tmp_path, "b", store)
            assert synced is not None and synced.state == {"count": 1}
            await trio.sleep(LATER)
            assert Notes.fired == ["b:remind"]


async def test_what_a_turn_writes_after_the_delete_stays_and_syncs(
    tmp_path: Path, store: str | None, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        settings = {"sync_interval": 1, "idle_timeout": 5, "store": store}
        async with running(make_app(), tmp_path, **settings) as server:
            async with connect(server, "/notes/c") as ws:
                await say(ws, "add")
                await say(ws, "add")
                await trio.sleep(2)
                after = await say(ws, "delete-and-add")
                # AUTOINCREMENT starts again: sqlite_sequence was emptied too.
                assert after == {"notes": 1, "ids": [1], "count": None, "alarms": ["after"]}
                await trio.sleep(2)
                assert await stored(tmp_path, "c", store) is None
                await say(ws, "add")  # a later change syncs as usual: a new row, version 1
                await trio.sleep(2)
                again = await stored(tmp_path, "c", store)
                assert again is not None and (again.state, again.version) == ({"count": 1}, 1)
            await trio.sleep(10)
            assert server.statistics().actors == 0
            assert actor_db_path(tmp_path, "notes", "c").exists()  # it holds rows again
            await trio.sleep(LATER)
            assert sorted(Notes.fired) == ["c:after", "c:remind"]


async def test_a_snapshot_taken_before_the_delete_is_not_written(
    tmp_path: Path, store: str | None, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        settings = {"sync_interval": 300, "idle_timeout": 5, "store": store}
        async with running(make_app(), tmp_path, **settings) as server:
            async with connect(server, "/notes/d") as ws:
                await say(ws, "add")
            await trio.sleep(10)  # evicted: its snapshot was taken, waiting for the round
            assert server.statistics().actors == 0
            async with connect(server, "/notes/d") as ws:
                await say(ws, "delete")
        # The graceful shutdown flushed: the delete, not the snapshot from before it.
        assert await stored(tmp_path, "d", store) is None
        assert not actor_db_path(tmp_path, "notes", "d").exists()


class Outsider(Actor):
    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        await self.storage.delete_all()  # no file yet: nothing to delete, none created
        conn.send("ok")


async def test_delete_all_on_an_actor_without_a_file_creates_none(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    app = App()
    app.actor("outsider", Outsider)
    with trio.fail_after(60):
        async with running(app, tmp_path) as server, connect(server, "/outsider/x") as ws:
            await ws.send_message("go")
            assert await ws.get_message() == "ok"
            assert not actor_db_path(tmp_path, "outsider", "x").exists()


async def test_delete_all_outside_a_turn_is_refused(tmp_path: Path) -> None:
    path = actor_db_path(tmp_path, "notes", "e")
    storage = ActorStorage(path, actor_type="notes", key="e", pool=HandlePool())
    storage.kv.put("kept", 1)
    with pytest.raises(StorageError, match="inside a turn"):
        await storage.delete_all()
    assert storage.kv.get("kept") == 1 and not storage.deleting
    # In a turn that rolls back: kept, and nothing left pending for the next commit.
    storage.begin_turn()
    await storage.delete_all()
    assert storage.deleting and storage.kv.get("kept") is None
    storage.rollback_turn()
    assert storage.kv.get("kept") == 1 and not storage.deleting
    storage.begin_turn()
    storage.commit_turn()
    assert storage.kv.get("kept") == 1
    storage.close()


DAY = 86_400.0


async def seed(data_dir: Path, *keys: str, age: float, lease: str | None = None) -> None:
    """Stored states of ``keys``, ``age`` seconds old by the SQLite store's clock."""
    async with open_shared_store(None, data_dir=data_dir) as store:
        states = [EncodedState.encode({"count": 1}) for _ in keys]
        await store.write_snapshots(1, [("notes", key) for key in keys], states)
        if lease is not None:
            assert await store.acquire_lease("notes", lease, "node-elsewhere", 3 * DAY)
    with sqlite3.connect(data_dir / "shared.sqlite") as conn:
        conn.executemany(
            "UPDATE roost_actor_state SET updated_at = ? WHERE actor_key = ?",
            [(time.time() - age, key) for key in keys],
        )


async def stored_keys(data_dir: Path) -> list[str]:
    async with open_shared_store(None, data_dir=data_dir) as store:
        return [s.key for s in await store.list_states("notes", limit=100)]


async def test_retention_sweeps_idle_rows_at_start(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        await seed(tmp_path, "old", "leased", age=3 * DAY, lease="leased")
        await seed(tmp_path, "fresh", age=DAY / 2)
        async with running(make_app(), tmp_path, store_retention=2, sync_interval=900):
            await trio.sleep(1)
            assert await stored_keys(tmp_path) == ["fresh", "leased"]


@pytest.mark.slow  # an hour of mock time on the threaded clock: about two minutes
async def test_retention_sweeps_at_most_once_an_hour(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(3 * 3600):
        async with running(make_app(), tmp_path, store_retention=2, sync_interval=900):
            await trio.sleep(1)
            await seed(tmp_path, "aged-later", age=5 * DAY)
            await trio.sleep(1800)
            assert await stored_keys(tmp_path) == ["aged-later"]
            await trio.sleep(1800)
            assert await stored_keys(tmp_path) == []
