"""G6 and the lifecycle: idle actors hibernate with their sockets open and wake intact."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import ClassVar

import trio
import trio.testing

from roost import Actor, App, Connection, Request
from roost.runtime import ActorState
from tests.support import connect, http, running


class Doc(Actor):
    """Keeps an in-memory counter (lost on hibernation) and a stored one (kept)."""

    auto_response = ("ping", "pong")
    starts: ClassVar[list[tuple[str, str]]] = []
    stops: ClassVar[int] = 0
    closes: ClassVar[list[tuple[str, int]]] = []

    async def on_start(self) -> None:
        Doc.starts.append((self.type, self.key))
        self.in_memory = 0

    async def on_stop(self) -> None:
        Doc.stops += 1
        self.storage.kv.put("stopped", True)

    async def on_connect(self, conn: Connection, request: Request) -> None:
        conn.tags = {request.query["role"]}
        conn.state = {"user": request.query["user"], "joined": len(self.connections())}

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        self.in_memory += 1
        stored = self.storage.kv.get("n", 0) + 1
        self.storage.kv.put("n", stored)
        conn.send(
            json.dumps(
                {
                    "me": conn.state,
                    "tags": sorted(conn.tags),
                    "editors": [c.state["user"] for c in self.connections(tag="editor")],
                    "memory": self.in_memory,
                    "stored": stored,
                    "identity": [self.type, self.key],
                    "stopped_before": self.storage.kv.get("stopped", False),
                }
            )
        )

    async def on_close(self, conn: Connection, code: int, reason: str) -> None:
        Doc.closes.append((conn.state["user"], code))


def make_app() -> App:
    Doc.starts, Doc.stops, Doc.closes = [], 0, []
    app = App()
    app.actor("doc", Doc)
    return app


async def test_idle_actors_hibernate_and_wake_with_connections_intact(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(3600):
        async with running(make_app(), tmp_path, idle_timeout=30) as server:
            async with (
                connect(server, "/doc/d%2F1?role=editor&user=ann") as ann,
                connect(server, "/doc/d%2F1?role=viewer&user=bob") as bob,
            ):
                await ann.send_message("x")
                first = json.loads(await ann.get_message())
                assert first["memory"] == 1 and first["identity"] == ["doc", "d/1"]
                slot = server.registry.slots[("doc", "d/1")]
                await trio.sleep(60)  # no turns: the actor hibernates
                assert slot.state is ActorState.HIBERNATED and slot.actor is None
                assert server.statistics().open_databases == 0
                assert Doc.stops == 1
                # Keep-alives and the auto-response are answered without waking it.
                await ann.ping(b"k")
                await bob.send_message("ping")
                assert await bob.get_message() == "pong"
                assert slot.state is ActorState.HIBERNATED
                # The next real message wakes it: on_start again, same identity and sockets.
                await bob.send_message("y")
                woke = json.loads(await bob.get_message())
                assert slot.state is ActorState.ACTIVE
                assert woke["memory"] == 1  # a fresh instance
                assert woke["stored"] == 2 and woke["stopped_before"] is True
                assert woke["identity"] == ["doc", "d/1"]
                assert woke["me"] == {"user": "bob", "joined": 2}
                assert woke["tags"] == ["viewer"]
                assert woke["editors"] == ["ann"]
                assert Doc.starts == [("doc", "d/1"), ("doc", "d/1")]
                await trio.sleep(60)
                assert slot.state is ActorState.HIBERNATED
            # Closing wakes it too, so on_close runs for each connection.
            await trio.sleep(1)
            assert sorted(Doc.closes) == [("ann", 1000), ("bob", 1000)]
            await trio.sleep(60)
            assert ("doc", "d/1") not in server.registry.slots
            status, _, body = await http(server, "GET", "/_roost/metrics")
            assert status == 200
            assert b"roost_hibernations_total 2.0" in body
            assert b"roost_evictions_total 3.0" in body
            assert b"roost_actors_hibernated 0.0" in body


async def test_max_active_actors_evicts_the_least_recently_used(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with running(make_app(), tmp_path, max_active_actors=3) as server:
            async with AsyncExitStack() as stack:
                clients = []
                for i in range(5):
                    ws = await stack.enter_async_context(
                        connect(server, f"/doc/{i}?role=editor&user=u{i}")
                    )
                    clients.append(ws)
                    await ws.send_message("x")
                    await ws.get_message()
                await trio.testing.wait_all_tasks_blocked()  # background evictions ran
                states = {k: s.state for (_, k), s in server.registry.slots.items()}
                assert states == {
                    "0": ActorState.HIBERNATED,
                    "1": ActorState.HIBERNATED,
                    "2": ActorState.ACTIVE,
                    "3": ActorState.ACTIVE,
                    "4": ActorState.ACTIVE,
                }
                await clients[0].send_message("x")  # wakes 0: the least recent (2) leaves
                assert json.loads(await clients[0].get_message())["stored"] == 2
                await trio.testing.wait_all_tasks_blocked()
                assert len(server.registry.active) == 3
                assert server.registry.slots[("doc", "2")].state is ActorState.HIBERNATED
