"""TestClient in envelope mode: call(), events and the presence helpers, as roost.client has them.

The presence tests keep trio's real clock: the example syncs to the shared store in worker
threads, which the autojump clock cannot see.
"""

from __future__ import annotations

import json

import pytest
import trio

from roost import App, ConnectionClosed, RpcError
from roost.cli import load_app
from roost.client import Event, Unavailable
from roost.protocol import UnencodableValue
from roost.testing import TestServer
from tests.client.conftest import Probe  # the client tests' actor: the same outcomes
from tests.support import EXAMPLES

ENCODINGS = pytest.mark.parametrize("subprotocol", ["roost.v1.json", "roost.v1.cbor"])


def probe_app() -> App:
    app = App()
    app.actor("probe", Probe)
    return app


@ENCODINGS
async def test_call_returns_values_and_raises_the_clients_errors(
    subprotocol: str, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(10):
        async with (
            TestServer(probe_app()) as t,
            t.connect("/probe/p", subprotocols=[subprotocol]) as client,
        ):
            assert client.subprotocol == subprotocol
            assert await client.call("echo", value=[1, 2.5, None, "☃"]) == [1, 2.5, None, "☃"]
            with pytest.raises(RpcError) as error:
                await client.call("fly")
            assert error.value.code == "not_found" and not isinstance(error.value, Unavailable)
            with pytest.raises(RpcError) as error:
                await client.call("echo", value=1, mood="happy")  # no such argument
            assert error.value.code == "bad_request"
            with pytest.raises(RpcError) as error:
                await client.call("fail")
            assert error.value.code == "internal" and "secret" not in error.value.message
            with pytest.raises(Unavailable) as unavailable:
                await client.call("refuse", code="unavailable")
            assert unavailable.value.retryable
            with pytest.raises(RpcError) as error:
                await client.call("refuse", code="teapot")  # unknown codes pass through
            assert error.value.code == "teapot"
            with pytest.raises(UnencodableValue):
                await client.call("echo", value={1, 2})  # refused before anything is sent
            assert await client.call("echo", value="still open") == "still open"


@ENCODINGS
async def test_events_come_in_order_and_replies_skip_the_queue(
    subprotocol: str, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(10):
        async with TestServer(probe_app()) as t:
            async with t.connect("/probe/p", subprotocols=[subprotocol]) as client:
                # The events were emitted before the reply; the reply still goes to the call.
                assert await client.call("shout", count=3) == 3
                assert await client.receive_event() == Event("tick", 0)
                ticks = []
                async for event in client.events():
                    ticks.append(event.data)
                    if event.data == 2:
                        break
                assert ticks == [1, 2]
                await client.call("shout", count=1)
                with pytest.raises(ConnectionClosed) as closed:
                    await client.call("kick", code=1000)  # as roost.client: no reply came
                assert closed.value.code == 1000
                # What arrived before the close is still received, then iteration just ends.
                assert [event.data async for event in client.events()] == [0]
            async with t.connect("/probe/q", subprotocols=[subprotocol]) as client:
                await client.call("shout", count=1)
                with pytest.raises(ConnectionClosed):
                    await client.call("kick", code=4001)
                assert await client.receive_event() == Event("tick", 0)
                with pytest.raises(ConnectionClosed) as closed:
                    async for _ in client.events():
                        pass
                assert (closed.value.code, closed.value.reason) == (4001, "kicked")
                with pytest.raises(ConnectionClosed):
                    await client.call("echo")


async def test_a_call_in_flight_fails_when_we_close(autojump_clock: trio.abc.Clock) -> None:
    Probe.entered, Probe.release = trio.Event(), trio.Event()
    with trio.fail_after(10):
        async with (
            TestServer(probe_app()) as t,
            t.connect("/probe/p", subprotocols=["roost.v1.json"]) as client,
        ):

            async def close_when_entered() -> None:
                await Probe.entered.wait()
                await client.close(1000)
                Probe.release.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(close_when_entered)
                with pytest.raises(ConnectionClosed):
                    await client.call("hang")
            assert client.closed


async def test_the_raw_api_keeps_working_in_envelope_mode(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with (
            TestServer(probe_app()) as t,
            t.connect("/probe/p", subprotocols=["roost.v1.json"]) as client,
        ):
            await client.send_json(
                {"type": "call", "id": 7, "method": "echo", "args": {"value": 2}}
            )
            assert await client.receive_json() == {"type": "result", "id": 7, "value": 2}
            await client.send("not json")
            await client.wait_closed()
            assert client.closed_code == 1007


async def test_envelope_helpers_need_an_envelope_subprotocol() -> None:
    with trio.fail_after(10):
        async with TestServer(probe_app()) as t, t.connect("/probe/p") as client:
            with pytest.raises(RuntimeError, match="subprotocol"):
                await client.call("echo")
            with pytest.raises(RuntimeError, match="subprotocol"):
                await client.receive_event()


@pytest.fixture
def presence() -> App:
    return load_app(str(EXAMPLES / "presence.py"))


async def test_presence_helpers_in_raw_mode(presence: App) -> None:
    with trio.fail_after(10):
        async with TestServer(presence) as t, t.connect("/presence/doc?user=ann") as ann:
            assert await ann.wait_presence_state() == {}
            await ann.send_json({"type": "track", "meta": {"cursor": 1}})
            async with t.connect("/presence/doc?user=bob") as bob:
                state = await bob.wait_presence_state()
                assert [m["cursor"] for m in state["ann"]["metas"]] == [1]
                await bob.send_json({"type": "track", "meta": {"cursor": 2}})
                diff = await ann.wait_presence_diff()
                assert set(diff["joins"]) == {"bob"} and diff["leaves"] == {}
            diff = await ann.wait_presence_diff()
            assert diff["joins"] == {} and set(diff["leaves"]) == {"bob"}


@ENCODINGS
async def test_presence_helpers_in_envelope_mode(presence: App, subprotocol: str) -> None:
    with trio.fail_after(10):
        async with (
            TestServer(presence) as t,
            t.connect("/presence/doc?user=ann", subprotocols=[subprotocol]) as ann,
        ):
            assert await ann.wait_presence_state() == {}
            await ann.call("track", meta={"cursor": 1})
            async with t.connect("/presence/doc?user=bob", subprotocols=[subprotocol]) as bob:
                assert set(await bob.wait_presence_state()) == {"ann"}
                await bob.call("track", meta={"cursor": 2})
                diff = await ann.wait_presence_diff()
                assert set(diff["joins"]) == {"bob"}
                assert await bob.call("who") == ["ann", "bob"]
            diff = await ann.wait_presence_diff()
            assert set(diff["leaves"]) == {"bob"}


async def test_presence_helpers_skip_other_messages(presence: App) -> None:
    with trio.fail_after(10):
        async with TestServer(presence) as t, t.connect("/presence/doc?user=ann") as ann:
            await ann.send_json({"type": "nonsense"})  # answered with an error frame
            await ann.send("{not json")  # and another
            async with t.connect("/presence/doc?user=bob") as bob:
                await bob.send_json({"type": "track", "meta": {}})
                assert await ann.wait_presence_state() == {}  # was first
                diff = await ann.wait_presence_diff()  # after both errors
                assert set(diff["joins"]) == {"bob"}
                await bob.send_json({"type": "track", "meta": {"cursor": 3}})
                assert json.loads(await ann.receive())["type"] == "presence_diff"
