"""Alarms, eviction, hibernation and storage through the kit, on trio's autojump clock."""

from __future__ import annotations

import json
import sqlite3
from typing import Any, ClassVar

import pytest
import trio
import trio.testing

from roost import Actor, App, Connection, Request, Response
from roost.actors import Alarm
from roost.runtime import ActorState
from roost.testing import TestServer


class Doc(Actor):
    """Records its lifecycle and alarms; commands come as JSON messages or HTTP bodies."""

    auto_response = ("ping", "pong")
    starts: ClassVar[int] = 0
    stops: ClassVar[int] = 0
    fired: ClassVar[list[tuple[str, float, float, int, Any]]] = []

    async def on_start(self) -> None:
        Doc.starts += 1
        self.instance = Doc.starts

    async def on_stop(self) -> None:
        Doc.stops += 1

    async def on_connect(self, conn: Connection, request: Request) -> None:
        conn.tags = {request.query.get("role", "viewer")}
        conn.state = {"user": request.query.get("user", "?")}

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send(json.dumps(self.run(json.loads(message), conn)))

    async def on_request(self, request: Request) -> Response:
        return Response.json(self.run(request.json(), None))

    def run(self, command: dict[str, Any], conn: Connection | None) -> Any:
        op = command.pop("op")
        if op == "set":
            return self.alarms.set(**command).due_at
        if op == "put":
            self.storage.kv.put(command["key"], command["value"])
            return None
        assert op == "whoami" and conn is not None
        return {
            "instance": self.instance,
            "state": conn.state,
            "tags": sorted(conn.tags),
            "editors": [c.state["user"] for c in self.connections(tag="editor")],
        }

    async def on_alarm(self, alarm: Alarm) -> None:
        Doc.fired.append((alarm.name, alarm.scheduled_at, self.now(), alarm.attempt, alarm.payload))
        self.broadcast(json.dumps({"fired": alarm.name}))


@pytest.fixture
def app() -> App:
    Doc.starts, Doc.stops, Doc.fired = 0, 0, []
    app = App()
    app.actor("doc", Doc)
    return app


async def test_an_alarm_fires_an_hour_later_on_the_mock_clock(
    app: App, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(7200):
        async with TestServer(app) as t, t.connect("/doc/d") as client:
            await client.send_json({"op": "set", "name": "hourly", "after": 3600, "payload": 7})
            due = await client.receive_json()
            [alarm] = t.storage("doc", "d").alarms()
            assert (alarm.name, alarm.due_at, alarm.payload) == ("hourly", due, 7)
            await trio.sleep(3599)
            assert Doc.fired == []
            await trio.sleep(2)
            [(name, scheduled, fired_at, attempt, payload)] = Doc.fired
            assert (name, scheduled, attempt, payload) == ("hourly", due, 1, 7)
            assert due <= fired_at < due + 1  # never early
            assert await client.receive_json() == {"fired": "hourly"}
            assert t.storage("doc", "d").alarms() == []


async def test_fire_alarm_runs_it_before_its_time(app: App, autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(60):
        async with TestServer(app) as t, t.connect("/doc/d") as client:
            await client.send_json({"op": "set", "name": "later", "after": 3600})
            due = await client.receive_json()
            await t.fire_alarm("doc", "d", "later")
            [(name, scheduled, fired_at, attempt, _)] = Doc.fired
            assert (name, scheduled, attempt) == ("later", due, 1) and fired_at < due
            assert await client.receive_json() == {"fired": "later"}
            with pytest.raises(LookupError, match="no alarm 'later'"):
                await t.fire_alarm("doc", "d", "later")  # it is done
            with pytest.raises(LookupError):
                await t.fire_alarm("doc", "never-stored", "x")


async def test_fire_alarm_wakes_a_stopped_actor(app: App, autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(60):
        async with TestServer(app) as t:
            response = await t.request("POST", "/doc/d", body=b'{"op":"set","name":"a","after":60}')
            assert response.status == 200
            await t.evict("doc", "d")
            assert t.actor_state("doc", "d") is None and Doc.stops == 1
            await t.fire_alarm("doc", "d", "a")
            assert [f[0] for f in Doc.fired] == ["a"]
            assert Doc.starts == 2 and t.actor_state("doc", "d") is ActorState.ACTIVE


async def test_hibernate_then_wake_with_tags_and_state_intact(
    app: App, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        async with (
            TestServer(app) as t,
            t.connect("/doc/d?role=editor&user=ann") as ann,
            t.connect("/doc/d?user=bob") as bob,
        ):
            await ann.send_json({"op": "whoami"})
            assert (await ann.receive_json())["instance"] == 1
            await t.hibernate("doc", "d")
            assert t.actor_state("doc", "d") is ActorState.HIBERNATED and Doc.stops == 1
            assert t.statistics().open_databases == 0
            # The runtime answers pings and the auto-response without waking the actor.
            await ann.ping()
            await bob.send("ping")
            assert await bob.receive() == "pong"
            assert t.actor_state("doc", "d") is ActorState.HIBERNATED
            await bob.send_json({"op": "whoami"})
            assert await bob.receive_json() == {
                "instance": 2,  # a fresh instance, same connections
                "state": {"user": "bob"},
                "tags": ["viewer"],
                "editors": ["ann"],
            }
            assert t.actor_state("doc", "d") is ActorState.ACTIVE and Doc.starts == 2


async def test_hibernate_requires_open_connections(app: App) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t:
            await t.request("POST", "/doc/d", body=b'{"op":"put","key":"k","value":1}')
            assert t.actor_state("doc", "d") is ActorState.ACTIVE
            with pytest.raises(AssertionError, match="did not hibernate"):
                await t.hibernate("doc", "d")
            assert t.actor_state("doc", "d") is None  # evicted all the same: stopped


async def test_idle_actors_hibernate_on_the_mock_clock(
    app: App, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with TestServer(app, idle_timeout=5) as t, t.connect("/doc/d") as client:
            await client.send_json({"op": "whoami"})
            await client.receive_json()
            await trio.sleep(10)
            assert t.actor_state("doc", "d") is ActorState.HIBERNATED


async def test_storage_is_readable_in_every_state_and_read_only(
    app: App, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(60):
        async with TestServer(app) as t:
            with pytest.raises(LookupError, match="no storage file"):
                t.storage("doc", "d")
            async with t.connect("/doc/d") as client:
                await client.send_json({"op": "put", "key": "n", "value": {"a": [1]}})
                await client.receive_json()
                view = t.storage("doc", "d")
                assert view.kv.get("n") == {"a": [1]}  # active
                assert "_roost_kv" in view.db.table_names()
                with pytest.raises(sqlite3.OperationalError, match="readonly"):
                    view.db["notes"].insert({"x": 1})
                await t.hibernate("doc", "d")
                assert t.storage("doc", "d").kv.get("n") == {"a": [1]}  # hibernated
                await client.send_json({"op": "put", "key": "n", "value": 2})  # the actor
                await client.receive_json()  # still writes with a reader open
                assert view.kv.get("n") == 2
            await trio.testing.wait_all_tasks_blocked()
            await t.evict("doc", "d")
            assert t.actor_state("doc", "d") is None
            assert view.kv.list() == [("n", 2)]  # stopped
