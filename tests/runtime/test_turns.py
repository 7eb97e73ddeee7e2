"""G1-G4 over real sockets: one instance per key, one turn at a time, atomic turns, gated output."""

from __future__ import annotations

import json
import os
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, ClassVar

import pytest
import trio
import trio.testing
import trio_websocket

from roost import Actor, App, Connection, Request, rpc
from roost.protocol import FrameDecoder, Opcode, encode_frame
from roost.runtime import ActorState
from tests.support import connect, raw_websocket, refused_upgrade, running


class Counter(Actor):
    """Counts instances and the handlers running at once, and records writes."""

    instances: ClassVar[list[Counter]] = []
    starts: ClassVar[int] = 0
    running_now: ClassVar[int] = 0
    most_at_once: ClassVar[int] = 0

    def __init__(self, host: object) -> None:
        super().__init__(host)  # type: ignore[arg-type]
        Counter.instances.append(self)

    async def on_start(self) -> None:
        Counter.starts += 1
        self.storage.db.execute("CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, v TEXT)")
        # A deferred foreign key lets a test make COMMIT itself fail.
        self.storage.db.execute(
            "CREATE TABLE IF NOT EXISTS child (id INTEGER PRIMARY KEY, parent INTEGER "
            "REFERENCES log(id) DEFERRABLE INITIALLY DEFERRED)"
        )

    async def on_connect(self, conn: Connection, request: Request) -> None:
        await self._slow()

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        await self._slow()
        assert isinstance(message, str)
        command, _, arg = message.partition(" ")
        if command == "write":
            self.storage.kv.put(arg, arg)
            self.storage.db.execute("INSERT INTO log (v) VALUES (?)", [arg])
            conn.send(f"wrote {arg}")
        elif command == "write-then-fail":
            self.storage.kv.put(arg, arg)
            self.storage.db.execute("INSERT INTO log (v) VALUES (?)", [arg])
            self.broadcast(f"leaked {arg}")
            raise RuntimeError("handler failed after writing")
        elif command == "bad-commit":
            self.storage.db.execute("INSERT INTO child (parent) VALUES (999999)")
            self.broadcast("leaked bad-commit")
        elif command == "read":
            rows = self.storage.db.execute("SELECT v FROM log ORDER BY id").fetchall()
            conn.send(json.dumps({"kv": self.storage.kv.get(arg), "log": [r[0] for r in rows]}))
        elif command == "echo":
            conn.send(arg)

    async def _slow(self) -> None:
        Counter.running_now += 1
        Counter.most_at_once = max(Counter.most_at_once, Counter.running_now)
        await trio.sleep(0.001)  # a real await inside the turn: others must wait
        Counter.running_now -= 1


def _reset() -> App:
    Counter.instances = []
    Counter.starts = 0
    Counter.running_now = 0
    Counter.most_at_once = 0
    app = App()
    app.actor("counter", Counter)
    return app


async def test_simultaneous_first_connections_make_one_instance(tmp_path: Path) -> None:
    app = _reset()
    with trio.fail_after(20):
        async with running(app, tmp_path) as server:
            replies: list[str] = []

            async def client(i: int) -> None:
                async with connect(server, "/counter/same-key") as ws:
                    await ws.send_message(f"echo {i}")
                    replies.append(await ws.get_message())

            async with trio.open_nursery() as nursery:
                for i in range(40):
                    nursery.start_soon(client, i)
    assert sorted(replies) == sorted(str(i) for i in range(40))
    assert len(Counter.instances) == 1
    assert Counter.starts == 1
    assert Counter.most_at_once == 1


async def test_handlers_never_interleave_and_keep_order(tmp_path: Path) -> None:
    app = _reset()
    with trio.fail_after(20):
        async with running(app, tmp_path) as server:

            async def client(name: str) -> list[str]:
                async with connect(server, "/counter/k") as ws:
                    for i in range(30):
                        await ws.send_message(f"echo {name}{i}")
                    return [await ws.get_message() for _ in range(30)]

            results: dict[str, list[str]] = {}

            async def run(name: str) -> None:
                results[name] = await client(name)

            async with trio.open_nursery() as nursery:
                for name in "abcd":
                    nursery.start_soon(run, name)
    assert Counter.most_at_once == 1
    for name, got in results.items():
        assert got == [f"{name}{i}" for i in range(30)]


async def test_an_exception_rolls_the_turn_back_and_nothing_leaves(tmp_path: Path) -> None:
    app = _reset()
    with trio.fail_after(10):
        async with running(app, tmp_path) as server, connect(server, "/counter/k") as ws:
            await ws.send_message("write kept")
            assert await ws.get_message() == "wrote kept"
            await ws.send_message("write-then-fail lost")
            await ws.send_message("read lost")
            state = json.loads(await ws.get_message())  # the broadcast never came
            assert state == {"kv": None, "log": ["kept"]}
            await ws.send_message("write again")  # the actor stays usable
            assert await ws.get_message() == "wrote again"
    assert Counter.starts == 1


async def test_a_failed_commit_drops_output_and_restarts_the_actor(tmp_path: Path) -> None:
    app = _reset()
    with trio.fail_after(10):
        async with running(app, tmp_path) as server:
            async with connect(server, "/counter/k") as ws, connect(server, "/counter/k") as other:
                await ws.send_message("write first")
                assert await ws.get_message() == "wrote first"
                await ws.send_message("bad-commit")
                # The failed commit drops everything of its group, including any turn that
                # ran after it in the same pass (it may have seen the failed writes): wait
                # for the restart before reading.
                slot = server.registry.slots[("counter", "k")]
                while Counter.starts < 2 and slot.state is not ActorState.STOPPED:  # noqa: ASYNC110
                    await trio.sleep(0.005)
                await ws.send_message("read first")
                state = json.loads(await ws.get_message())
                assert state == {"kv": "first", "log": ["first"]}
                # The other member never saw the frame of the failed turn either.
                await other.send_message("echo still-here")
                assert await other.get_message() == "still-here"
    assert Counter.starts == 2  # restarted after the failed commit
    assert len(Counter.instances) == 2


async def test_writes_survive_a_restart_of_the_server(tmp_path: Path) -> None:
    app = _reset()
    with trio.fail_after(10):
        async with running(app, tmp_path) as server, connect(server, "/counter/k") as ws:
            await ws.send_message("write durable")
            assert await ws.get_message() == "wrote durable"
        async with running(app, tmp_path) as server, connect(server, "/counter/k") as ws:
            await ws.send_message("read durable")
            assert json.loads(await ws.get_message()) == {"kv": "durable", "log": ["durable"]}


async def test_refused_by_on_connect_gets_the_actors_status(tmp_path: Path) -> None:
    from roost import ConnectionRefused

    class Door(Actor):
        async def on_connect(self, conn: Connection, request: Request) -> None:
            if request.query.get("password") != "open":
                raise ConnectionRefused("wrong password", status=401)
            conn.send("welcome")

    app = App()
    app.actor("door", Door)
    with trio.fail_after(10):
        async with running(app, tmp_path) as server:
            assert await refused_upgrade(server, "/door/1?password=no") == (
                401,
                b"wrong password\n",
            )
            async with connect(server, "/door/1?password=open") as ws:
                assert await ws.get_message() == "welcome"


class Farewell(Actor):
    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send("last words")
        conn.close(4000, "bye")
        if message == "fail":
            raise RuntimeError("the turn fails after closing")


async def test_a_close_leaves_after_the_commit_and_after_the_turns_frames(tmp_path: Path) -> None:
    app = App()
    app.actor("farewell", Farewell)
    with trio.fail_after(10):
        async with running(app, tmp_path) as server:
            async with connect(server, "/farewell/k") as ws:
                await ws.send_message("fail")  # rolled back: neither the frame nor the close
                await ws.send_message("bye")
                assert await ws.get_message() == "last words"
                with pytest.raises(trio_websocket.ConnectionClosed) as info:
                    await ws.get_message()
                assert (info.value.reason.code, info.value.reason.reason) == (4000, "bye")


class Bank(Actor):
    """Deposits through rpc; one call can hold the actor until others queue behind it."""

    release: ClassVar[trio.Event]

    async def on_start(self) -> None:
        self.storage.db.execute("CREATE TABLE IF NOT EXISTS p (id INTEGER PRIMARY KEY)")
        self.storage.db.execute(
            "CREATE TABLE IF NOT EXISTS c (id INTEGER PRIMARY KEY,"
            " p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)"
        )

    @rpc
    async def hold(self, conn: Connection | None) -> str:
        await Bank.release.wait()
        return "released"

    @rpc
    async def deposit(self, conn: Connection | None, name: str, amount: int) -> int:
        total = self.storage.kv.get(name, 0) + amount
        self.storage.kv.put(name, total)
        self.broadcast(f"{name}={total}")
        if amount < 0:
            raise ValueError("no negative deposits")
        if amount == 0:
            self.storage.db.execute("INSERT INTO c (p) VALUES (7)")  # fails at COMMIT
        return int(total)

    @rpc
    async def read(self, conn: Connection | None, name: str) -> int:
        return int(self.storage.kv.get(name, 0))


async def _grouped(
    tmp_path: Path, calls: list[tuple[str, dict[str, Any]]], **settings: Any
) -> tuple[list[tuple[str, Any]], list[str], Any]:
    """Queue ``calls`` (one envelope connection each) behind a held turn, so they run as one
    group; return each reply as ("result", value) / ("error", code) / ("none", None), the
    frames a raw member saw, and the server's stats."""
    Bank.release = trio.Event()
    app = App()
    app.actor("bank", Bank)
    replies: list[tuple[str, Any]] = []
    async with running(app, tmp_path, **settings) as server, AsyncExitStack() as stack:
        member = await stack.enter_async_context(connect(server, "/bank/b"))
        clients = [
            await stack.enter_async_context(
                connect(server, "/bank/b", subprotocols=["roost.v1.json"])
            )
            for _ in range(len(calls) + 2)
        ]
        slot = server.registry.slots[("bank", "b")]
        holder, reader, *callers = clients
        await holder.send_message(json.dumps({"type": "call", "id": 0, "method": "hold"}))
        await trio.testing.wait_all_tasks_blocked()
        assert slot.lock.locked()
        for i, (client, (method, args)) in enumerate(zip(callers, calls, strict=True)):
            call = {"type": "call", "id": i + 1, "method": method, "args": args}
            await client.send_message(json.dumps(call))
            await trio.testing.wait_all_tasks_blocked()
            assert slot.waiting == i + 2  # queued, in order, behind the held turn
        Bank.release.set()
        for client in [holder, *callers]:
            with trio.move_on_after(0.5):
                reply = json.loads(await client.get_message())
                replies.append(
                    ("result", reply["value"])
                    if reply["type"] == "result"
                    else ("error", reply["code"])
                )
                continue
            replies.append(("none", None))
        frames = []
        with trio.move_on_after(0.2):
            while True:
                frames.append(await member.get_message())
        call = {"type": "call", "id": 99, "method": "read", "args": {"name": "x"}}
        await reader.send_message(json.dumps(call))
        replies.append(("result", json.loads(await reader.get_message())["value"]))
        stats = server.stats
    return replies, frames, stats


async def test_group_commit_shares_a_commit_and_a_failing_turn_rolls_back_alone(
    tmp_path: Path,
) -> None:
    calls = [
        ("deposit", {"name": "x", "amount": 1}),
        ("deposit", {"name": "x", "amount": -5}),  # raises: only this turn is undone
        ("deposit", {"name": "x", "amount": 10}),
        ("read", {"name": "x"}),
    ]
    with trio.fail_after(20):
        replies, frames, stats = await _grouped(tmp_path, calls)
    assert replies == [
        ("result", "released"),
        ("result", 1),
        ("error", "internal"),  # only this turn was undone
        ("result", 11),
        ("result", 11),
        ("result", 11),  # read afterwards
    ]
    assert frames == ["x=1", "x=11"]  # the failed turn's frame never left
    assert stats.turns_grouped_total >= 3


async def test_a_failed_group_commit_drops_everything_and_restarts(tmp_path: Path) -> None:
    calls = [
        ("deposit", {"name": "x", "amount": 1}),
        ("deposit", {"name": "x", "amount": 0}),  # violates a deferred key: COMMIT fails
    ]
    with trio.fail_after(20):
        replies, frames, _ = await _grouped(tmp_path, calls)
    # No result of the group was released: they waited for its COMMIT, which failed, and
    # every caller was told to retry instead of waiting forever.
    assert replies[:3] == [("error", "unavailable")] * 3
    assert frames == []
    assert replies[-1] == ("result", 0)  # nothing of the group was committed


async def test_group_commit_can_be_turned_off(tmp_path: Path) -> None:
    calls = [("deposit", {"name": "x", "amount": 1}), ("deposit", {"name": "x", "amount": 2})]
    with trio.fail_after(20):
        replies, frames, stats = await _grouped(tmp_path, calls, max_group_turns=0)
    assert replies == [("result", "released"), ("result", 1), ("result", 3), ("result", 3)]
    assert frames == ["x=1", "x=3"] and stats.turns_grouped_total == 0


async def test_a_group_left_open_by_a_waiting_turn_still_commits(tmp_path: Path) -> None:
    """A deferred call, then in the same scheduler pass a call that holds the actor across
    passes: the committer must not spin meanwhile, and once the second call ends the group
    (both) commits and both replies arrive."""
    Bank.release = trio.Event()
    app = App()
    app.actor("bank", Bank)
    calls = [
        {"type": "call", "id": 1, "method": "deposit", "args": {"name": "x", "amount": 5}},
        {"type": "call", "id": 2, "method": "hold"},
    ]
    # Both frames in one TCP write: the server reads them in one recv, in one pass.
    frames = b"".join(
        encode_frame(Opcode.TEXT, json.dumps(call).encode(), mask=os.urandom(4)) for call in calls
    )
    with trio.fail_after(10):
        async with running(app, tmp_path) as server:
            stream = await raw_websocket(server, "/bank/b", subprotocol="roost.v1.json")
            async with stream:
                await stream.send_all(frames)
                # With the group open and the lock held, every task must come to rest: a
                # committer that kept rescheduling itself would never let this return.
                await trio.testing.wait_all_tasks_blocked()
                assert server.registry.slots[("bank", "b")].group_open
                Bank.release.set()
                decoder, replies = FrameDecoder(client=True), []
                while len(replies) < 2:
                    for event in decoder.receive_data(await stream.receive_some(65536)):
                        replies.append(json.loads(event.data))  # type: ignore[union-attr]
                assert sorted((r["id"], r["value"]) for r in replies) == [(1, 5), (2, "released")]
