"""G5: no state of node.sqlite or of an actor file makes the alarm scheduler spin.

A stale index entry (its row gone from the actor's file) fires at most once and is dropped;
an alarm whose actor cannot activate backs off exponentially and is then quarantined. All on
trio's autojump clock, counting firings over long stretches of mock time: a spin would fire
the same entry thousands of times without the clock moving.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio

from roost import Actor, App, Connection
from roost.actors import Alarm
from roost.actors._presence_channel import EXPIRY_ALARM
from roost.runtime._alarms import AlarmScheduler
from roost.runtime._node_store import NodeStore
from tests.support import connect, http, running

#: A firing count no correct scheduler reaches in these tests; past it a firing parks, so a
#: spinning scheduler makes the test fail instead of hanging the autojump clock.
SPIN = 50


class Keeper(Actor):
    """Stores a value, sets alarms on command; its on_start can be broken from the test."""

    broken: ClassVar[bool] = False
    starts: ClassVar[list[float]] = []
    fired: ClassVar[list[str]] = []

    async def on_start(self) -> None:
        Keeper.starts.append(trio.current_time())
        if Keeper.broken:
            if len(Keeper.starts) > SPIN:
                await trio.sleep(3600)  # a spin on old code: slow it down so the test ends
            raise RuntimeError("on_start is broken")

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if message == "touch":
            self.storage.kv.put("touched", True)
        else:
            self.alarms.set(str(message), after=10)
        conn.send("ok")

    async def on_alarm(self, alarm: Alarm) -> None:
        Keeper.fired.append(alarm.name)


def make_app() -> App:
    Keeper.broken = False
    Keeper.starts = []
    Keeper.fired = []
    app = App()
    app.actor("keeper", Keeper)
    return app


def count_firings(scheduler: AlarmScheduler) -> list[tuple[str, str, str]]:
    """Record every alarm the scheduler fires; park a firing past SPIN (see above)."""
    calls: list[tuple[str, str, str]] = []
    inner = scheduler._fire_names  # one batch of an actor's alarms; it calls the registry's fire

    async def fire_names(fire: Any, actor: tuple[str, str], names: list[str]) -> None:
        calls.extend((*actor, name) for name in names)
        if len(calls) > SPIN:
            await trio.sleep_forever()
        await inner(fire, actor, names)

    scheduler._fire_names = fire_names  # type: ignore[method-assign]
    return calls


async def say(server: Any, key: str, *messages: str) -> None:
    async with connect(server, f"/keeper/{key}") as ws:
        for message in messages:
            await ws.send_message(message)
            assert await ws.get_message() == "ok"


async def test_orphaned_alarm_entries_fire_once_and_are_dropped(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """The presence-expiry alarm and a user alarm whose rows are gone: one firing each."""
    with trio.fail_after(7 * 86400):
        async with running(make_app(), tmp_path) as server:
            scheduler = server.registry.scheduler
            assert scheduler is not None
            firings = count_firings(scheduler)
            await say(server, "a", "touch")  # the actor's file exists, without alarm rows
            past = server.registry.clock.now() - 1
            stale = [(EXPIRY_ALARM, past), ("ghost", past)]
            scheduler.before_commit("keeper", "a", stale)  # as a crash would leave them
            scheduler.after_commit("keeper", "a", stale)
            assert scheduler.pending == 2
            await trio.sleep(3600)  # an hour of mock time
            assert sorted(firings) == [("keeper", "a", "ghost"), ("keeper", "a", EXPIRY_ALARM)]
            assert scheduler.pending == 0
            stats = scheduler.statistics()
            assert stats.firings_total == 2
            assert stats.wakeups_total < 20
    store = NodeStore(tmp_path / "node.sqlite")  # and the durable index forgot them
    try:
        assert store.alarms() == []
    finally:
        store.close()


async def test_an_alarm_whose_actor_cannot_start_backs_off_then_is_quarantined(
    tmp_path: Path, autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(7 * 86400):
        async with running(make_app(), tmp_path) as server:
            scheduler = server.registry.scheduler
            assert scheduler is not None
            await say(server, "a", "tick")
            await server.evict("keeper", "a")
            assert server.statistics().actors == 0
            Keeper.broken, Keeper.starts = True, []
            firings = count_firings(scheduler)
            with caplog.at_level(logging.WARNING, logger="roost"):
                await trio.sleep(3600)
            assert len(firings) == 7  # the first try and 6 retries, never the same instant
            gaps = [round(b - a) for a, b in zip(Keeper.starts, Keeper.starts[1:], strict=False)]
            assert gaps == [2, 4, 8, 16, 32, 64]
            assert Keeper.fired == []
            stats = scheduler.statistics()
            assert (stats.pending, stats.quarantined, stats.firings_total) == (0, 1, 7)
            assert stats.wakeups_total < 40
            assert server.stats.alarms_quarantined_total == 1
            assert server.stats.alarm_failures_total == 7
            errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
            assert [r.getMessage().split(":")[0] for r in errors] == [
                "alarm 'tick' of keeper/a could not fire",  # the first failure, with traceback
                "alarm 'tick' of keeper/a quarantined",  # and once when it gives up
            ]
            status, _, body = await http(server, "GET", "/_roost/metrics")
            assert status == 200 and b"roost_alarms_quarantined 1.0" in body

            # Fixed (a deploy): setting the alarm anew brings it back on the schedule.
            Keeper.broken = False
            await say(server, "a", "tick")
            await trio.sleep(60)
            assert Keeper.fired == ["tick"]
            assert scheduler.statistics().quarantined == 0


class Mover(Actor):
    """Synced to the shared store; its restore can be broken from the test."""

    sync_on_write = True
    broken: ClassVar[bool] = False
    restores: ClassVar[list[float]] = []

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        self.storage.kv.put("n", 1)
        self.alarms.set("tick", after=60)
        conn.send("ok")

    def snapshot(self) -> dict[str, Any]:
        return {"n": self.storage.kv.get("n", 0)}

    async def restore(self, snapshot: Any) -> None:
        Mover.restores.append(trio.current_time())
        if Mover.broken:
            raise RuntimeError("restore is broken")


async def test_an_alarm_whose_actor_cannot_restore_backs_off_then_is_quarantined(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    Mover.broken, Mover.restores = False, []
    app = App()
    app.actor("mover", Mover)
    with trio.fail_after(3600):
        # Few timers: each jump of this clock waits 50 ms of real time.
        timers = {"ping_interval": 600, "idle_timeout": 600, "close_timeout": 60}
        async with running(app, tmp_path, sync_interval=30, **timers) as server:
            scheduler = server.registry.scheduler
            assert scheduler is not None
            async with connect(server, "/mover/a") as ws:  # stays open: the slot hibernates
                await ws.send_message("set")
                assert await ws.get_message() == "ok"
                await trio.sleep(35)  # synced
                await server.evict("mover", "a")
                path = server.registry.db_path("mover", "a")
                for suffix in ("", "-wal", "-shm"):  # the local file is lost
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f"{path}{suffix}")
                Mover.broken = True
                firings = count_firings(scheduler)
                await trio.sleep(200)  # the alarm activates the actor, which restores
                assert len(firings) == 7
                gaps = [
                    round(b - a) for a, b in zip(Mover.restores, Mover.restores[1:], strict=False)
                ]
                assert gaps == [2, 4, 8, 16, 32, 64]
                stats = scheduler.statistics()
                assert (stats.pending, stats.quarantined, stats.firings_total) == (0, 1, 7)
                assert server.stats.alarms_quarantined_total == 1


async def test_index_entries_without_a_due_time_are_dropped_at_start(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """SQLite keeps what a tool wrote: a text or blob due time must not stop the node."""
    store = NodeStore(tmp_path / "node.sqlite")
    bad: list[Any] = [("keeper", "a", "text", "soon"), ("keeper", "b", "blob", b"\x00")]
    store.put_alarms([*bad, ("keeper", "c", "fine", 1.0)])
    store.close()
    with trio.fail_after(3600):
        async with running(make_app(), tmp_path) as server:
            scheduler = server.registry.scheduler
            assert scheduler is not None
            await trio.sleep(60)  # "fine" fires: no file behind it, so it is dropped too
            assert scheduler.statistics().pending == 0
    store = NodeStore(tmp_path / "node.sqlite")
    try:
        assert store.alarms() == []
    finally:
        store.close()
