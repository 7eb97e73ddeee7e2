"""Resumable event streams (issue 15, point 3) over real sockets: every event carries a seq
growing by one per actor; a reconnection with ``?resume=<seq>`` gets exactly the events it
missed that it may see, or ``resync`` when they are gone; the Python client does it itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_websocket

import roost.client
from roost import Actor, App, Connection, Request, rpc
from roost.runtime import Server
from tests.client.conftest import serving
from tests.support import connect, refused_upgrade, running, ws_url


class Feed(Actor):
    """Emits what it is told: to everyone, to a tag, to the caller, to all but the caller."""

    async def on_connect(self, conn: Connection, request: Request) -> None:
        if "tag" in request.query:
            conn.tags = {request.query["tag"]}

    @rpc
    async def say(self, conn: Any, text: str, tag: str | None = None) -> None:
        self.emit("said", text, tag=tag)

    @rpc
    async def whisper(self, conn: Any, text: str) -> None:
        self.emit("whisper", text, to=conn)

    @rpc
    async def others(self, conn: Any, text: str) -> None:
        self.emit("others", text, exclude=[conn])

    @rpc
    async def say_then_fail(self, conn: Any, text: str) -> None:
        self.emit("said", text)
        raise RuntimeError("the turn fails: its event never leaves")

    @rpc
    async def burst(self, conn: Any, count: int) -> None:
        for i in range(count):
            self.emit("n", i)

    @rpc
    async def kick_then_say(self, conn: Any, code: int, text: str) -> None:
        """Close the caller's connection, then emit what it can only get by resuming."""
        conn.close(code, "kicked")
        self.emit("said", text)

    @rpc
    async def reserved(self, conn: Any) -> None:
        self.emit("resync", None)


class SmallFeed(Feed):
    replay_events = 3


class ByteFeed(Feed):
    replay_bytes = 200


def make_app() -> App:
    app = App()
    app.actor("feed", Feed)
    app.actor("small", SmallFeed)
    app.actor("bytes", ByteFeed)
    return app


JSON = ["roost.v1.json"]


class Peer:
    """A JSON envelope connection: calls, and events read in order."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self.ws = ws
        self.next_id = 1
        self.events: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        message = json.loads(await self.ws.get_message())
        assert isinstance(message, dict)
        return message

    async def call(self, method: str, **args: Any) -> dict[str, Any]:
        call_id, self.next_id = self.next_id, self.next_id + 1
        await self.ws.send_message(
            json.dumps({"type": "call", "id": call_id, "method": method, "args": args})
        )
        while True:
            message = await self.receive()
            if message["type"] == "event":
                self.events.append(message)
            elif message.get("id") == call_id:
                return message

    async def event(self) -> dict[str, Any]:
        if self.events:
            return self.events.pop(0)
        message = await self.receive()
        assert message["type"] == "event", message
        return message


async def last_seq(server: Server, path: str) -> int:
    """Emit one event and return its seq, as a client that stays connected sees it."""
    async with connect(server, path, subprotocols=JSON) as ws:
        peer = Peer(ws)
        await peer.call("say", text="mark")
        event = await peer.event()
        seq = event["seq"]
        assert type(seq) is int
        return seq


async def test_every_event_carries_a_seq_growing_by_one(tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/feed/a", subprotocols=JSON) as ws:
                peer = Peer(ws)
                await peer.call("say", text="one")
                assert (await peer.call("say_then_fail", text="lost"))["code"] == "internal"
                await peer.call("whisper", text="two")
                await peer.call("burst", count=3)
                events = [await peer.event() for _ in range(5)]
            seqs = [event["seq"] for event in events]
            assert [event["data"] for event in events] == ["one", "two", 0, 1, 2]
            # The failed turn's event never left, and its seq went to the next event.
            assert seqs == list(range(seqs[0], seqs[0] + 5))
            # A buffer that starts empty starts after the clock's time in microseconds.
            assert abs(seqs[0] / 1e6 - server.registry.clock.now()) < 60
            assert seqs[0] < 2**53
            async with connect(server, "/feed/b", subprotocols=JSON) as ws:
                peer = Peer(ws)
                await peer.call("say", text="other actor")
                assert (await peer.event())["seq"] != seqs[-1] + 1  # a stream per actor


async def test_a_resuming_connection_gets_exactly_what_it_missed(tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with running(make_app(), tmp_path) as server:
            position = await last_seq(server, "/feed/r?tag=red")
            async with connect(server, "/feed/r?tag=blue", subprotocols=JSON) as ws:
                other = Peer(ws)
                await other.call("say", text="for everyone")
                await other.call("say", text="for red", tag="red")
                await other.call("say", text="for blue", tag="blue")
                await other.call("whisper", text="for the caller only")
                await other.call("others", text="for all but the caller")
                await other.call("burst", count=2)
                path = f"/feed/r?tag=red&resume={position}"
                async with connect(server, path, subprotocols=JSON) as ws2:
                    peer = Peer(ws2)
                    replayed = [await peer.event() for _ in range(4)]
                    await other.call("say", text="new")
                    new = await peer.event()
            assert [e["data"] for e in replayed] == ["for everyone", "for red", 0, 1]
            assert [e["name"] for e in replayed] == ["said", "said", "n", "n"]
            seqs = [e["seq"] for e in replayed]
            assert seqs == sorted(seqs) and seqs[0] == position + 1
            # The events for chosen connections took seqs but are not replayed.
            assert seqs[2] == position + 6
            assert (new["data"], new["seq"]) == ("new", seqs[-1] + 1)


async def test_resuming_at_the_last_event_replays_nothing(tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with running(make_app(), tmp_path) as server:
            position = await last_seq(server, "/feed/n")
            async with connect(server, f"/feed/n?resume={position}", subprotocols=JSON) as ws:
                peer = Peer(ws)
                await peer.call("say", text="next")
                assert await peer.event() == {
                    "type": "event",
                    "name": "said",
                    "data": "next",
                    "seq": position + 1,
                }


@pytest.mark.parametrize("actor", ["small", "bytes"])
async def test_a_position_older_than_the_buffer_gets_resync(tmp_path: Path, actor: str) -> None:
    with trio.fail_after(15):
        async with running(make_app(), tmp_path) as server:
            position = await last_seq(server, f"/{actor}/old")
            async with connect(server, f"/{actor}/old", subprotocols=JSON) as ws:
                await Peer(ws).call("burst", count=10)  # more than 3 events, or 200 bytes
            path = f"/{actor}/old?resume={position}"
            async with connect(server, path, subprotocols=JSON) as ws:
                peer = Peer(ws)
                resync = await peer.event()
                await peer.call("say", text="after")
                after = await peer.event()
            assert resync == {"type": "event", "name": "resync", "data": None, "seq": position + 10}
            assert (after["data"], after["seq"]) == ("after", position + 11)
            # Within the buffer it still resumes.
            async with connect(
                server, f"/{actor}/old?resume={position + 9}", subprotocols=JSON
            ) as ws:
                peer = Peer(ws)
                assert (await peer.event())["seq"] == position + 10


@pytest.mark.parametrize("how", ["ahead", "zero", "earlier life"])
async def test_an_unknown_position_gets_resync(tmp_path: Path, how: str) -> None:
    with trio.fail_after(15):
        async with running(make_app(), tmp_path) as server:
            position = await last_seq(server, "/feed/u")
            resume = {"ahead": position + 5, "zero": 0, "earlier life": position - 10**9}[how]
            async with connect(server, f"/feed/u?resume={resume}", subprotocols=JSON) as ws:
                assert await Peer(ws).event() == {
                    "type": "event",
                    "name": "resync",
                    "data": None,
                    "seq": position,
                }


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "9007199254740992", "", "1" * 20])
async def test_a_malformed_resume_is_refused_with_400(tmp_path: Path, value: str) -> None:
    with trio.fail_after(15):
        async with running(make_app(), tmp_path) as server:
            status, body = await refused_upgrade(server, f"/feed/m?resume={value}")
            assert status == 400 and b"resume" in body
            assert not (tmp_path / "actors").exists()  # nothing activated


async def test_raw_connections_ignore_resume_and_actors_cannot_emit_resync(
    tmp_path: Path,
) -> None:
    with trio.fail_after(15):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/feed/raw?resume=5"):
                pass  # accepted, nothing replayed to a raw connection
            async with connect(server, "/feed/raw", subprotocols=JSON) as ws:
                reply = await Peer(ws).call("reserved")
                assert reply["code"] == "internal"


async def test_the_python_client_resumes_by_itself(tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with running(make_app(), tmp_path) as server:
            url = ws_url(server, "/feed/py")
            async with roost.client.connect(url, encoding="json") as client:
                await client.call("say", text="before")
                before = await client.receive_event()
                assert client.last_seq == before.seq is not None
                # 1012: the client reconnects at once; "missed" left after the close.
                with pytest.raises(roost.client.Disconnected):
                    await client.call("kick_then_say", code=1012, text="missed")
                await client.call("say", text="after")
                missed = await client.receive_event()
                after = await client.receive_event()
                assert client.statistics().connects == 2
            assert (missed.name, missed.data, missed.seq) == ("said", "missed", before.seq + 1)
            assert (after.data, after.seq) == ("after", before.seq + 2)


async def test_the_python_client_surfaces_resync_after_a_restart(tmp_path: Path) -> None:
    """An ordinary actor's buffer is in memory: a restarted server has a new stream."""
    with trio.fail_after(30):
        async with running(make_app(), tmp_path) as first:
            port = first.port
            url = ws_url(first, "/feed/restart")
            async with roost.client.connect(url, encoding="cbor") as client:
                await client.call("say", text="before")
                before = await client.receive_event()
                await first.shutdown()  # 1001: the client reconnects at once, and keeps trying
                async with serving(make_app(), tmp_path, port):
                    await client.call("say", text="after")
                    resync = await client.receive_event()
                    after = await client.receive_event()
            assert before.seq is not None and resync.seq is not None
            assert resync.name == "resync" and resync.data is None
            assert resync.seq > before.seq  # the new stream starts after the old one
            assert (after.data, after.seq) == ("after", resync.seq + 1)


class DurableFeed(Feed):
    durable = True


async def test_a_durable_actor_s_buffer_survives_the_loss_of_its_machine(
    tmp_path: Path, pg_store_url: str
) -> None:
    """The buffer is in the actor's file, shipped with each commit: a node with an empty data
    dir rebuilds it from the store, and a client resumes there without a resync."""
    app = App()
    app.actor("feed", DurableFeed)
    with trio.fail_after(60):
        async with running(app, tmp_path / "a", store=pg_store_url) as a:
            position = await last_seq(a, "/feed/d")
            async with connect(a, "/feed/d", subprotocols=JSON) as ws:
                peer = Peer(ws)
                await peer.call("burst", count=3)
                await peer.call("whisper", text="for that connection only")
        async with running(app, tmp_path / "b", store=pg_store_url) as b:
            path = f"/feed/d?resume={position}"
            async with connect(b, path, subprotocols=JSON) as ws:
                peer = Peer(ws)
                replayed = [await peer.event() for _ in range(3)]
                await peer.call("say", text="new")
                new = await peer.event()
            async with connect(b, "/feed/d?resume=1", subprotocols=JSON) as ws:
                too_old = await Peer(ws).event()
    assert [(e["data"], e["seq"]) for e in replayed] == [(i, position + 1 + i) for i in range(3)]
    assert (new["data"], new["seq"]) == ("new", position + 5)  # the whisper's seq is not reused
    assert too_old == {"type": "event", "name": "resync", "data": None, "seq": position + 5}
