"""G5 at scale: the due alarms of one actor fire as one batch (one activation, one task,
one node.sqlite transaction for their index entries), each alarm still its own turn.

On trio's autojump clock, with real SQLite files (the actors' and node.sqlite).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import trio

from roost import Actor, App, Connection
from roost.actors import Alarm
from roost.runtime._alarms import AlarmScheduler, NodeClock
from roost.runtime._node_store import NodeStore
from roost.storage import actor_db_path
from roost.storage._kv import KV
from tests.support import connect, running


class Batch(Actor):
    """Sets the alarms it is sent; each alarm writes its name to the actor's KV."""

    starts: ClassVar[int] = 0
    broken: ClassVar[bool] = False
    fired: ClassVar[list[tuple[str, int]]] = []
    fail_once: ClassVar[set[str]] = set()
    changed: ClassVar[trio.Event]

    async def on_start(self) -> None:
        Batch.starts += 1
        if Batch.broken:
            raise RuntimeError("on_start is broken")

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        for name, after, payload in json.loads(message):
            self.alarms.set(name, after=after, payload=payload)
        conn.send("ok")

    async def on_alarm(self, alarm: Alarm) -> None:
        Batch.fired.append((alarm.name, alarm.attempt))
        Batch.changed.set()
        self.storage.kv.put(alarm.name, alarm.attempt)
        if alarm.name in Batch.fail_once:
            Batch.fail_once.discard(alarm.name)
            raise RuntimeError("this alarm fails once")
        if alarm.payload == "set a again":
            self.alarms.set("a", after=100)


def make_app() -> App:
    Batch.starts = 0
    Batch.broken = False
    Batch.fired = []
    Batch.fail_once = set()
    Batch.changed = trio.Event()
    app = App()
    app.actor("batch", Batch)
    return app


async def set_alarms(server: Any, key: str, alarms: list[tuple[str, float, Any]]) -> None:
    async with connect(server, f"/batch/{key}") as ws:
        await ws.send_message(json.dumps(alarms))
        assert await ws.get_message() == "ok"


async def wait_fired(count: int) -> None:
    while len(Batch.fired) < count:
        Batch.changed = trio.Event()
        await Batch.changed.wait()


def kv(tmp_path: Path, key: str) -> dict[str, Any]:
    """The actor's KV as its file holds it (what committed)."""
    db = sqlite3.connect(actor_db_path(tmp_path, "batch", key))
    try:
        return dict(KV(db).list())
    finally:
        db.close()


def wal_frames(path: Path) -> int:
    """Frames in node.sqlite's WAL since it was last truncated."""
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


async def test_an_evicted_actors_due_alarms_fire_on_one_activation(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    names = [f"n{i:02d}" for i in range(20)]
    with trio.fail_after(3600):
        async with running(make_app(), tmp_path, idle_timeout=5) as server:
            await set_alarms(server, "k", [(name, 100, None) for name in names])
            await trio.sleep(60)
            assert server.statistics().actors == 0  # evicted: the batch must activate it
            actor_file = actor_db_path(tmp_path, "batch", "k")
            for path in (tmp_path / "node.sqlite", actor_file):
                with sqlite3.connect(path) as db:
                    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await wait_fired(len(names))
            await trio.sleep(1)  # the batch commits once its last alarm's turn is over
            scheduler = server.registry.scheduler
            assert scheduler.statistics().batches_total == 1
            assert scheduler.pending == 0
            # Twenty index deletes in one transaction: one leaf page written, not twenty.
            assert wal_frames(tmp_path / "node.sqlite") <= 3
            # Twenty alarm turns in one transaction (savepoints): a few pages, not 40+.
            assert wal_frames(actor_file) <= 8
    assert [name for name, _ in Batch.fired] == names  # in order, each once
    assert Batch.starts == 2  # the setting turn's activation, then one for the batch
    assert kv(tmp_path, "k") == dict.fromkeys(names, 1)  # every alarm's turn committed
    store = NodeStore(tmp_path / "node.sqlite")
    assert store.alarms() == []
    store.close()


async def test_a_failing_alarm_in_a_batch_rolls_back_only_itself(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(3600):
        async with running(make_app(), tmp_path) as server:
            Batch.fail_once = {"b"}
            await set_alarms(server, "k", [(n, 100, None) for n in ("a", "b", "c")])
            await wait_fired(4)
            await trio.sleep(1)
            assert server.registry.scheduler.pending == 0
    # a and c committed at their first attempt; b's failed turn rolled back, its retry
    # (attempt 2, after the backoff) committed.
    assert Batch.fired == [("a", 1), ("b", 1), ("c", 1), ("b", 2)]
    assert kv(tmp_path, "k") == {"a": 1, "b": 2, "c": 1}


async def test_an_alarm_set_again_later_in_the_batch_keeps_its_index_entry(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """a fires (its index delete waits for the batch's end), then b sets a again: the
    waiting delete must not remove the new entry, or a restart would lose a (G5)."""
    with trio.fail_after(3600):
        async with running(make_app(), tmp_path) as server:
            await set_alarms(server, "k", [("a", 100, None), ("b", 100, "set a again")])
            await wait_fired(2)
        store = NodeStore(tmp_path / "node.sqlite")
        assert [row[:3] for row in store.alarms()] == [("batch", "k", "a")]
        store.close()
        assert Batch.fired == [("a", 1), ("b", 1)]
        async with running(make_app(), tmp_path):  # a restart: the index brings a back
            await wait_fired(1)
    assert Batch.fired == [("a", 1)]


async def test_an_actor_that_cannot_start_is_tried_once_per_batch(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """Five due alarms of an actor whose on_start raises: one activation attempt per round
    of retries (not five), backing off 2, 4, ... s, then quarantined (G5)."""
    with trio.fail_after(36000):
        async with running(make_app(), tmp_path, idle_timeout=5) as server:
            await set_alarms(server, "k", [(f"n{i}", 100, None) for i in range(5)])
            await trio.sleep(60)
            assert server.statistics().actors == 0
            Batch.broken = True
            Batch.starts = 0
            scheduler = server.registry.scheduler
            await trio.sleep(3600)  # 2 + 4 + ... + 64 s of backoff, then nothing: no busy loop
            assert scheduler.statistics().quarantined == 5
            assert Batch.starts == 7  # the first attempt and 6 retries
            assert scheduler.statistics().batches_total == 7
            assert scheduler.statistics().firings_total == 35
    assert Batch.fired == []


async def test_index_deletes_are_written_while_other_batches_stay_in_flight(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """Deletes wait for the end of a batch, but not for a quiet moment that may never
    come: with one batch in flight for good, every max_batch queued deletes are written."""
    store = NodeStore(tmp_path / "node.sqlite")
    clock = NodeClock()
    scheduler = AlarmScheduler(store, clock, max_batch=4)
    now = clock.now()
    rows = [("t", "slow", "a", now + 1)] + [("t", f"k{i}", "a", now + 2) for i in range(12)]
    scheduler.before_commit("t", "slow", [("a", now + 1)])
    for actor_type, key, name, due in rows[1:]:
        scheduler.before_commit(actor_type, key, [(name, due)])
    for actor_type, key, name, due in rows:
        scheduler.after_commit(actor_type, key, [(name, due)])
    fired: list[str] = []

    async def fire(actor_type: str, key: str, names: Sequence[str]) -> None:
        if key == "slow":
            await trio.sleep_forever()  # a batch that never ends (an actor stuck in a turn)
        fired.append(key)
        scheduler.after_commit(actor_type, key, [(name, None) for name in names])

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(scheduler.run, fire)
            await trio.sleep(10)
            assert len(fired) == 12
            left = {row[1] for row in store.alarms()}
            nursery.cancel_scope.cancel()
    assert "slow" in left
    assert len(left) <= 4  # at most max_batch deletes still queued, not all twelve
    store.close()


async def test_a_lagging_node_fires_every_due_alarm_of_an_actor_in_one_batch(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """After downtime (or under load) many alarms of each actor are overdue, interleaved in
    due order with other actors'. The heap gives a few at a time (max_batch); each actor's
    batch still takes all of its due alarms: one batch per actor, not one per alarm."""
    store = NodeStore(tmp_path / "node.sqlite")
    clock = NodeClock()
    now = clock.now()
    store.put_alarms(
        [("t", f"k{a}", f"n{i}", now - 100 + i + a / 100) for i in range(5) for a in range(50)]
    )
    scheduler = AlarmScheduler(store, clock, max_batch=4)  # refills its heap from the index
    fired: dict[str, list[str]] = {}

    async def fire(actor_type: str, key: str, names: Sequence[str]) -> None:
        assert key not in fired  # one batch per actor
        fired[key] = list(names)
        scheduler.after_commit(actor_type, key, [(name, None) for name in names])

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(scheduler.run, fire)
            await trio.sleep(1)
            nursery.cancel_scope.cancel()
    assert fired == {f"k{a}": [f"n{i}" for i in range(5)] for a in range(50)}  # soonest first
    assert scheduler.statistics().batches_total == 50
    assert store.alarms() == []
    store.close()
