"""G5: named alarms fire at or after their time, retry with backoff, quarantine, survive
eviction and restarts. All on trio's autojump clock: minutes pass in milliseconds."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio

from roost import Actor, App, Connection
from roost.actors import Alarm
from tests.support import connect, http, running


class Clock(Actor):
    """Sets alarms on command and records when each one fired."""

    fired: ClassVar[list[tuple[str, float, int, Any, float]]] = []
    failures_left: ClassVar[dict[str, int]] = {}
    event: ClassVar[trio.Event]

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        command = json.loads(message)
        op = command.pop("op")
        if op == "set":
            alarm = self.alarms.set(**command)
            conn.send(json.dumps({"due": alarm.due_at}))
        elif op == "set-then-fail":
            self.alarms.set(**command)
            raise RuntimeError("the turn fails: the alarm must not exist")
        elif op == "delete":
            conn.send(json.dumps(self.alarms.delete(command["name"])))
        elif op == "list":
            conn.send(json.dumps([[a.name, a.attempt, a.quarantined] for a in self.alarms.list()]))
        elif op == "now":
            conn.send(json.dumps(self.now()))

    async def on_alarm(self, alarm: Alarm) -> None:
        Clock.fired.append(
            (alarm.name, alarm.scheduled_at, alarm.attempt, alarm.payload, self.now())
        )
        Clock.event.set()
        left = Clock.failures_left.get(alarm.name, 0)
        if left:
            Clock.failures_left[alarm.name] = left - 1
            raise RuntimeError("alarm handler failed")
        if alarm.payload == "again" and alarm.attempt == 1:
            self.alarms.set(alarm.name, after=10, payload="second")


def make_app() -> App:
    Clock.fired = []
    Clock.failures_left = {}
    Clock.event = trio.Event()
    app = App()
    app.actor("clock", Clock)
    return app


async def wait_fired(count: int) -> None:
    while len(Clock.fired) < count:
        Clock.event = trio.Event()
        await Clock.event.wait()


async def call(ws: Any, **command: Any) -> Any:
    await ws.send_message(json.dumps(command))
    return json.loads(await ws.get_message())


async def test_alarms_fire_at_or_after_their_time_never_early(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(3600):
        async with running(make_app(), tmp_path) as server, connect(server, "/clock/a") as ws:
            now = await call(ws, op="now")
            await call(ws, op="set", name="late", after=120, payload={"n": 2})
            await call(ws, op="set", name="soon", at=now + 30, payload="x")
            await call(ws, op="set", name="gone", after=60)
            assert await call(ws, op="delete", name="gone") is True
            assert await call(ws, op="list") == [["soon", 0, False], ["late", 0, False]]
            await wait_fired(2)
            await trio.sleep(100)
            assert [f[0] for f in Clock.fired] == ["soon", "late"]
            for name, scheduled, attempt, _payload, fired_at in Clock.fired:
                assert fired_at >= scheduled, f"{name} fired early"
                assert fired_at - scheduled < 1
                assert attempt == 1
            assert Clock.fired[1][3] == {"n": 2}
            assert await call(ws, op="list") == []
            assert server.registry.scheduler is not None
            assert server.registry.scheduler.pending == 0


async def test_an_alarm_set_in_a_failed_turn_does_not_exist(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(3600):
        async with running(make_app(), tmp_path) as server, connect(server, "/clock/a") as ws:
            await ws.send_message(json.dumps({"op": "set-then-fail", "name": "x", "after": 5}))
            assert await call(ws, op="list") == []
            await trio.sleep(60)
    assert Clock.fired == []


async def test_failures_retry_with_backoff_then_quarantine(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    app = make_app()
    Clock.failures_left = {"flaky": 2, "broken": 100}
    with trio.fail_after(3600):
        async with running(app, tmp_path) as server, connect(server, "/clock/a") as ws:
            await call(ws, op="set", name="flaky", after=10)
            await call(ws, op="set", name="broken", after=10, max_retries=3, retry_delay=1)
            await trio.sleep(600)
            flaky = [f for f in Clock.fired if f[0] == "flaky"]
            broken = [f for f in Clock.fired if f[0] == "broken"]
            assert [f[2] for f in flaky] == [1, 2, 3]  # two failures, then success
            gaps = [round(b[4] - a[4]) for a, b in itertools.pairwise(flaky)]
            assert gaps == [2, 4]  # the default backoff: 2 s, then 4 s
            assert [f[2] for f in broken] == [1, 2, 3, 4]  # 1 try + 3 retries, then no more
            assert await call(ws, op="list") == [["broken", 4, True]]
            assert server.stats.alarms_quarantined_total == 1
            assert server.stats.alarm_failures_total == 2 + 4
            status, _, body = await http(server, "GET", "/_roost/metrics")
            assert status == 200
            assert b"roost_alarms_quarantined 1.0" in body
            assert b"roost_alarm_failures_total 6.0" in body


async def test_a_handler_can_set_its_alarm_again(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(3600):
        async with running(make_app(), tmp_path) as server, connect(server, "/clock/a") as ws:
            await call(ws, op="set", name="tick", after=5, payload="again")
            await wait_fired(2)
            assert [(f[0], f[3]) for f in Clock.fired] == [("tick", "again"), ("tick", "second")]
            assert await call(ws, op="list") == []


async def test_alarms_wake_evicted_actors_and_survive_restarts(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(3600):
        async with running(make_app(), tmp_path, idle_timeout=5) as server:
            async with connect(server, "/clock/evicted") as ws:
                await call(ws, op="set", name="wake", after=300)
            await trio.sleep(60)
            assert server.statistics().actors == 0  # stopped and gone from memory
            await wait_fired(1)
            assert Clock.fired[0][0] == "wake"
        # A restart: the node's index brings the alarm back without anyone visiting.
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/clock/restarted") as ws:
                await call(ws, op="set", name="after-restart", after=1000)
        async with running(make_app(), tmp_path) as server:
            assert server.registry.scheduler is not None
            assert server.registry.scheduler.pending == 1
            await wait_fired(1)
            assert Clock.fired[0][0] == "after-restart"
            assert Clock.fired[0][4] >= Clock.fired[0][1]


@pytest.mark.parametrize(
    "command",
    [
        {"name": "x"},  # neither at nor after
        {"name": "x", "at": 1, "after": 1},  # both
        {"name": "", "after": 1},
        {"name": "x", "after": float("inf")},
        {"name": "x", "after": 1, "payload": "p" * 70_000},
        {"name": "x", "after": 1, "max_retries": -1},
    ],
)
async def test_bad_alarm_arguments_are_refused(
    tmp_path: Path, autojump_clock: trio.abc.Clock, command: dict[str, Any]
) -> None:
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server, connect(server, "/clock/a") as ws:
            await ws.send_message(json.dumps({"op": "set", **command}))
            assert await call(ws, op="list") == []  # the turn failed with ValueError
