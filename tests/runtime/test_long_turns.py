"""A turn that lasts longer than the keep-alive (a call to another actor, a fetch, a model's
answer): the connection stays. The node reads for a connection whose reader waits in a turn,
answers its pings, counts its pongs, and keeps its other messages, in order, for after the
turn (G2: calls on one connection still run one after another). Real server, real sockets,
real clients; mock time.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, ClassVar

import trio

import roost.client
from roost import Actor, App, Connection, rpc
from roost.protocol import Opcode
from tests.runtime.test_websocket import masked
from tests.runtime.wire import read_until_close
from tests.support import connect, raw_websocket, running


class Slow(Actor):
    """``sleep N`` sleeps N seconds in its turn, then says so; anything else is echoed."""

    closes: ClassVar[list[int]] = []

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if isinstance(message, str) and message.startswith("sleep "):
            await trio.sleep(float(message.split()[1]))
            conn.send("slept")
        else:
            conn.send(message)

    @rpc
    async def think(self, conn: Any, seconds: float) -> str:
        await trio.sleep(seconds)
        return "thought"

    async def on_close(self, conn: Connection, code: int, reason: str) -> None:
        Slow.closes.append(code)


def make_app() -> App:
    Slow.closes = []
    app = App()
    app.actor("slow", Slow)
    return app


async def test_a_turn_longer_than_the_servers_keepalive_keeps_its_connection(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """The server pings after 20 s of silence and cuts a peer that has not answered 10 s
    later; the client answers at once, but before, its pong waited unread behind the turn."""
    with trio.fail_after(600):
        async with running(make_app(), tmp_path, ping_interval=20, ping_timeout=10) as server:
            async with connect(server, "/slow/s") as ws:  # trio-websocket answers pings
                started = trio.current_time()
                await ws.send_message("sleep 120")
                assert await ws.get_message() == "slept"
                assert trio.current_time() - started >= 120
                await ws.send_message("still here")
                assert await ws.get_message() == "still here"
    assert Slow.closes == [1000]


async def test_a_ping_is_answered_during_a_turn_and_messages_wait_for_it_in_order(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/slow/s") as ws:
                await ws.send_message("sleep 60")
                await trio.sleep(1)
                for text in ("one", "two", "three"):
                    await ws.send_message(text)
                started = trio.current_time()
                with trio.fail_after(5):
                    await ws.ping()  # its pong comes while the turn still runs
                assert trio.current_time() - started < 5
                got = [await ws.get_message() for _ in range(4)]
                assert got == ["slept", "one", "two", "three"]


async def test_an_rpc_longer_than_the_clients_keepalive_is_answered(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """roost's client pings a quiet server after ``ping_interval`` and gives the connection
    up ``ping_timeout`` later; a call whose turn takes longer must still get its answer."""
    with trio.fail_after(600):
        async with running(make_app(), tmp_path) as server:
            url = f"ws://127.0.0.1:{server.port}/slow/s"
            async with roost.client.connect(
                url, ping_interval=5, ping_timeout=5, call_timeout=300, reconnect=False
            ) as client:
                assert await client.call("think", seconds=90) == "thought"
                assert await client.call("think", seconds=0) == "thought"


async def test_what_comes_during_a_turn_is_bounded_and_kept_in_order(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """A client that keeps sending while its turn runs: the node keeps at most about
    ``max_message_size`` of it (plus one read), the rest waits in the socket, and every
    message is handled after the turn, in the order sent."""
    limit = 1024
    texts = [f"{i:04d}" + "x" * 496 for i in range(400)]  # 200 KB, far over the limit
    with trio.fail_after(600):
        async with running(make_app(), tmp_path, max_message_size=limit) as server:
            async with connect(server, "/slow/s") as ws:
                await ws.send_message("sleep 60")
                for text in texts:
                    await ws.send_message(text)
                await trio.sleep(10)  # several keep-alive ticks into the turn
                (session,) = server.sessions
                kept = session.read_ahead or []
                assert sum(len(getattr(e, "data", b"")) for e in kept) <= limit + 65536
                assert await ws.get_message() == "slept"
                got = [await ws.get_message() for _ in texts]
                assert got == texts


async def test_a_close_during_a_turn_waits_for_the_turn(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """The peer's close frame, read while a turn runs, is handled after it (its output
    first), and on_close runs once."""
    with trio.fail_after(600):
        async with running(make_app(), tmp_path) as server:
            stream = await raw_websocket(server, "/slow/s")
            await stream.send_all(masked(Opcode.TEXT, b"sleep 30"))
            await trio.sleep(5)  # the turn runs
            await stream.send_all(masked(Opcode.CLOSE, struct.pack("!H", 1000)))
            await trio.sleep(5)  # read during the turn, kept for after it
            assert Slow.closes == []
            received, close, ended = await read_until_close(stream)
            assert received == ["slept"]
            assert close.code == 1000 and ended
            await stream.aclose()
    assert Slow.closes == [1000]
