"""examples/presence.py speaks its documented protocol; presence expires without heartbeats,
also while the actor hibernates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio_websocket

import roost.client
from roost import App
from roost.cli import load_app
from roost.client import ClientState, Event
from roost.protocol import EnvelopeCodec
from roost.runtime import ActorState
from tests.protocol.test_envelope import EXAMPLES as ENVELOPES
from tests.support import EXAMPLES, connect, refused_upgrade, running, ws_url


@pytest.fixture(scope="module")
def app() -> App:
    return load_app(str(EXAMPLES / "presence.py"))


async def receive(ws: trio_websocket.WebSocketConnection) -> dict[str, Any]:
    data = json.loads(await ws.get_message())
    assert isinstance(data, dict)
    return data


async def send(ws: trio_websocket.WebSocketConnection, **message: Any) -> None:
    await ws.send_message(json.dumps(message))


def metas(presences: dict[str, Any], user: str) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in m.items() if k not in ("ref", "ref_prev")}
        for m in presences[user]["metas"]
    ]


async def test_state_joins_updates_and_leaves(tmp_path: Path, app: App) -> None:
    with trio.fail_after(10):
        async with running(app, tmp_path) as server:
            async with connect(server, "/presence/doc?user=ann") as ann:
                assert await receive(ann) == {"type": "presence_state", "presences": {}}
                await send(ann, type="track", meta={"name": "Ann", "cursor": 3})
                async with connect(server, "/presence/doc?user=bob") as bob:
                    state = await receive(bob)
                    assert state["type"] == "presence_state"
                    assert metas(state["presences"], "ann") == [{"name": "Ann", "cursor": 3}]
                    await send(bob, type="track", meta={"name": "Bob"})
                    diff = await receive(ann)
                    assert diff["type"] == "presence_diff" and diff["leaves"] == {}
                    assert metas(diff["joins"], "bob") == [{"name": "Bob"}]
                    # A second tab of ann: two metas under one user.
                    async with connect(server, "/presence/doc?user=ann") as tab:
                        await receive(tab)
                        await send(tab, type="track", meta={"name": "Ann", "cursor": 9})
                        assert metas((await receive(bob))["joins"], "ann") == [
                            {"name": "Ann", "cursor": 9}
                        ]
                        await receive(ann)
                    left = await receive(bob)
                    assert metas(left["leaves"], "ann") == [{"name": "Ann", "cursor": 9}]
                    await receive(ann)
                    # Tracking again updates: a leave of the old meta and a join of the new.
                    await send(ann, type="track", meta={"name": "Ann", "cursor": 4})
                    update = await receive(bob)
                    assert metas(update["leaves"], "ann") == [{"name": "Ann", "cursor": 3}]
                    joined = update["joins"]["ann"]["metas"][0]
                    assert joined["cursor"] == 4 and "ref_prev" in joined
                bye = await receive(ann)
                assert set(bye["leaves"]) == {"bob"} and bye["joins"] == {}


async def test_no_heartbeat_for_ttl_is_a_leave_even_while_hibernated(
    tmp_path: Path, app: App, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(3600):
        async with running(app, tmp_path, idle_timeout=5) as server:
            async with (
                connect(server, "/presence/d?user=ann") as ann,
                connect(server, "/presence/d?user=bob") as bob,
            ):
                await receive(ann)
                await receive(bob)
                await send(ann, type="track", meta={})
                await send(bob, type="track", meta={})
                await receive(bob)  # ann joined
                await receive(ann)  # bob joined
                start = trio.current_time()
                arrived: list[tuple[float, dict[str, Any]]] = []
                hibernated = False

                async def read_bob() -> None:
                    while True:
                        message = await receive(bob)
                        arrived.append((trio.current_time() - start, message))

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(read_bob)
                    for _ in range(6):  # bob keeps beating, ann goes quiet
                        await trio.sleep(10)
                        slot = server.registry.slots[("presence", "d")]
                        hibernated = hibernated or slot.state is ActorState.HIBERNATED
                        await send(bob, type="heartbeat")
                    nursery.cancel_scope.cancel()
                assert hibernated, "the actor hibernated between heartbeats"
                leaves = [(t, m) for t, m in arrived if m.get("leaves")]
                assert [set(m["leaves"]) for _, m in leaves] == [{"ann"}]
                assert 30 <= leaves[0][0] <= 45  # ttl 30 s, checked by the expiry alarm
                # bob, who kept beating, is still there for a newcomer.
                async with connect(server, "/presence/d?user=cy") as cy:
                    assert set((await receive(cy))["presences"]) == {"bob"}


async def test_hibernation_keeps_presence(
    tmp_path: Path, app: App, threaded_autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(3600):
        async with running(app, tmp_path, idle_timeout=5) as server:
            async with connect(server, "/presence/d?user=ann") as ann:
                await receive(ann)
                await send(ann, type="track", meta={"c": 1})
                await trio.sleep(7)
                assert server.registry.slots[("presence", "d")].state is ActorState.HIBERNATED
                async with connect(server, "/presence/d?user=bob") as bob:
                    assert metas((await receive(bob))["presences"], "ann") == [{"c": 1}]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("nope", "malformed JSON"),
        ('{"type": "dance"}', "unknown message type"),
        ('{"type": "track", "meta": [1]}', "meta must be an object"),
        ('{"type": "track", "meta": {"ref": 1}}', None),  # a reserved key: refused with a reason
    ],
)
async def test_bad_input_gets_an_error(
    tmp_path: Path, app: App, frame: str, reason: str | None
) -> None:
    with trio.fail_after(10):
        async with running(app, tmp_path) as server:
            async with connect(server, "/presence/d?user=ann") as ann:
                await receive(ann)
                await ann.send_message(frame)
                error = await receive(ann)
                assert error["type"] == "error"
                if reason is not None:
                    assert error["error"] == reason
                await send(ann, type="track", meta={"ok": True})
            assert (await refused_upgrade(server, "/presence/d"))[0] == 400


@pytest.mark.parametrize("encoding", ["cbor", "json"])
async def test_envelope_clients_get_presence_as_events(
    tmp_path: Path, app: App, encoding: str
) -> None:
    """presence_state and presence_diff reach an envelope client as events whose data is the
    raw-mode message without its type, and the connection stays open (no 1003/1007)."""
    with trio.fail_after(10):
        async with running(app, tmp_path) as server:
            url = ws_url(server, "/presence/doc?user=ann")
            async with roost.client.connect(url, encoding=encoding) as ann:  # type: ignore[arg-type]
                assert await ann.receive_event() == Event("presence_state", {"presences": {}})
                async with connect(server, "/presence/doc?user=bob") as bob:  # raw mode
                    assert await receive(bob) == {"type": "presence_state", "presences": {}}
                    await send(bob, type="track", meta={"name": "Bob"})
                    joined = await ann.receive_event()
                    assert joined.name == "presence_diff"
                    assert set(joined.data) == {"joins", "leaves"}
                    assert metas(joined.data["joins"], "bob") == [{"name": "Bob"}]
                    assert joined.data["leaves"] == {}
                    # An envelope client tracks by rpc; the raw client gets a JSON frame.
                    await ann.call("track", meta={"name": "Ann"})
                    diff = await receive(bob)
                    assert diff["type"] == "presence_diff"
                    assert metas(diff["joins"], "ann") == [{"name": "Ann"}]
                    url = ws_url(server, "/presence/doc?user=cy")
                    async with roost.client.connect(url, encoding="json") as cy:
                        state = await cy.receive_event()
                        assert state.name == "presence_state"
                        assert sorted(state.data["presences"]) == ["ann", "bob"]
                        assert metas(state.data["presences"], "ann") == [{"name": "Ann"}]
                        await cy.call("track", meta={"name": "Cy"})
                        assert set((await ann.receive_event()).data["joins"]) == {"cy"}
                        assert set((await receive(bob))["joins"]) == {"cy"}
                    assert set((await ann.receive_event()).data["leaves"]) == {"cy"}
                left = await ann.receive_event()
                assert left == Event("presence_diff", {"joins": {}, "leaves": left.data["leaves"]})
                assert set(left.data["leaves"]) == {"bob"}
                assert ann.state is ClientState.OPEN
                assert await ann.call("who") == ["ann"]


@pytest.mark.parametrize("kind", ["json", "cbor"])
async def test_the_documented_presence_event_bytes(tmp_path: Path, app: App, kind: str) -> None:
    """docs/protocol.md's presence_diff example is byte for byte what the server sends."""
    record, text, hexa = ENVELOPES["presence_diff event"]
    documented = text if kind == "json" else bytes.fromhex(hexa)
    assert EnvelopeCodec(kind).encode(record) == documented  # type: ignore[arg-type]
    with trio.fail_after(10):
        async with running(app, tmp_path) as server:
            path = "/presence/doc?user=bob"
            async with connect(server, path, subprotocols=[f"roost.v1.{kind}"]) as bob:
                state = await bob.get_message()
                if kind == "json":
                    assert state.startswith(
                        '{"type":"event","name":"presence_state","data":{"presences":{}},"seq":'
                    )
                async with connect(server, "/presence/doc?user=ada") as ada:
                    await receive(ada)
                    await send(ada, type="track", meta={"name": "Ada"})
                    # The documented bytes but for the seq, each actor's own (runtime/_replay.py).
                    received = await bob.get_message()
                    seq = getattr(EnvelopeCodec(kind, client=True).decode(received), "seq", None)  # type: ignore[arg-type]
                    assert seq is not None
                    assert received == EnvelopeCodec(kind).encode(attrs.evolve(record, seq=seq))  # type: ignore[arg-type]
