"""A shared counter and its tests: the complete example of docs/testing.md."""

from __future__ import annotations

import json

import pytest
import trio

from roost import Actor, App, Connection, ConnectionRefused, Request, Response
from roost.actors import Alarm
from roost.runtime import ActorState
from roost.testing import TestClientRefused, TestServer


class Counter(Actor):
    """Members send "+1" and everyone sees the total; an hour after the first "+1" it resets."""

    async def on_connect(self, conn: Connection, request: Request) -> None:
        name = request.query.get("name")
        if not name:
            raise ConnectionRefused("?name= is required", status=400)
        conn.state = {"name": name}
        conn.send(json.dumps({"total": self.storage.kv.get("total", 0)}))

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if message == "+1":
            total = self.storage.kv.get("total", 0) + 1
            self.storage.kv.put("total", total)
            if self.alarms.get("reset") is None:
                self.alarms.set("reset", after=3600)
            self.broadcast(json.dumps({"total": total, "by": conn.state["name"]}))

    async def on_alarm(self, alarm: Alarm) -> None:
        self.storage.kv.put("total", 0)
        self.broadcast(json.dumps({"total": 0, "by": "reset"}))

    async def on_request(self, request: Request) -> Response:
        return Response.json({"total": self.storage.kv.get("total", 0)})


app = App()
app.actor("counter", Counter)


async def test_members_see_each_others_increments(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t:
            async with (
                t.connect("/counter/c?name=ann") as ann,
                t.connect("/counter/c?name=bob") as bob,
            ):
                assert await ann.receive_json() == {"total": 0}
                assert await bob.receive_json() == {"total": 0}
                await ann.send("+1")
                for client in (ann, bob):
                    assert await client.receive_json() == {"total": 1, "by": "ann"}
            response = await t.request("GET", "/counter/c")
            assert response.status == 200 and response.json() == {"total": 1}
            assert t.storage("counter", "c").kv.get("total") == 1


async def test_a_name_is_required() -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t:
            with pytest.raises(TestClientRefused) as refused:
                await t.connect("/counter/c")
            assert refused.value.status == 400
            assert refused.value.body == b"?name= is required\n"


async def test_the_total_resets_an_hour_later(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(7200):
        async with TestServer(app) as t, t.connect("/counter/c?name=ann") as ann:
            await ann.receive_json()
            await ann.send("+1")
            await ann.receive_json()
            await trio.sleep(3599)  # an hour of trio's mock clock passes in milliseconds
            assert t.storage("counter", "c").kv.get("total") == 1
            assert await ann.receive_json() == {"total": 0, "by": "reset"}
            # Or fire it now, without waiting for it:
            await ann.send("+1")
            await ann.receive_json()
            await t.fire_alarm("counter", "c", "reset")
            assert await ann.receive_json() == {"total": 0, "by": "reset"}


async def test_connections_survive_hibernation(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t, t.connect("/counter/c?name=ann") as ann:
            await ann.receive_json()
            await t.hibernate("counter", "c")  # on_stop runs; the socket stays open
            assert t.actor_state("counter", "c") is ActorState.HIBERNATED
            await ann.send("+1")  # wakes a fresh instance; conn.state is still there
            assert await ann.receive_json() == {"total": 1, "by": "ann"}
            assert t.actor_state("counter", "c") is ActorState.ACTIVE
