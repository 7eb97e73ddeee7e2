"""Envelope mode against a real server: calls, error replies, events, concurrency; JSON and CBOR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from roost import App, ConnectionClosed, HandshakeError, RpcError
from roost.client import CallTimeout, ClientState, Disconnected, Event, Unavailable, connect
from roost.protocol import UnencodableValue

from .conftest import Probe, serving, url

pytestmark = pytest.mark.parametrize("encoding", ["cbor", "json"])


async def test_chat_calls_return_values(tmp_path: Path, chat_app: App, encoding: Any) -> None:
    with trio.fail_after(10):
        async with serving(chat_app, tmp_path) as server:
            async with connect(url(server, "/chat/lobby?user=ann"), encoding=encoding) as ann:
                assert ann.state is ClientState.OPEN
                assert ann.subprotocol == f"roost.v1.{encoding}"
                first = await ann.call("say", text="hi ☃")
                second = await ann.call("say", text="again")
                assert isinstance(first, int) and second > first
                history = await ann.call("history", limit=2)
                assert [(m["id"], m["user"], m["text"]) for m in history] == [
                    (first, "ann", "hi ☃"),
                    (second, "ann", "again"),
                ]
                assert await ann.call("who") == ["ann"]
            assert ann.state is ClientState.CLOSED
            with pytest.raises(ConnectionClosed) as closed:
                await ann.call("who")
            assert closed.value.code == 1000


async def test_error_replies_raise_rpc_errors(
    tmp_path: Path, chat_app: App, probe_app: App, encoding: Any
) -> None:
    with trio.fail_after(10):
        async with serving(chat_app, tmp_path / "chat") as chat:
            async with connect(url(chat, "/chat/lobby?user=ann"), encoding=encoding) as ann:
                with pytest.raises(RpcError) as error:
                    await ann.call("fly")
                assert error.value.code == "not_found" and "fly" in error.value.message
                with pytest.raises(RpcError) as error:
                    await ann.call("history", limit="ten")
                assert error.value.code == "bad_request"
                with pytest.raises(RpcError) as error:
                    await ann.call("say", text="hi", mood="happy")  # no such argument
                assert error.value.code == "bad_request"
                assert not isinstance(error.value, Unavailable)
                assert await ann.call("who") == ["ann"]  # the connection stays usable
        async with serving(probe_app, tmp_path / "probe") as server:
            async with connect(url(server, "/probe/p"), encoding=encoding) as actor:
                with pytest.raises(RpcError) as error:
                    await actor.call("fail")
                assert error.value.code == "internal" and "secret" not in error.value.message
                with pytest.raises(Unavailable) as unavailable:
                    await actor.call("refuse", code="unavailable")
                assert unavailable.value.code == "unavailable" and unavailable.value.retryable
                with pytest.raises(RpcError) as error:
                    await actor.call("refuse", code="teapot")  # codes we do not know pass through
                assert error.value.code == "teapot"
                with pytest.raises(UnencodableValue):
                    await actor.call("echo", value={1, 2})  # refused before anything is sent
                assert await actor.call("echo", value=[1, 2.5, None, "x"]) == [1, 2.5, None, "x"]
                assert actor.statistics().calls_in_flight == 0


async def test_events_reach_every_member(tmp_path: Path, chat_app: App, encoding: Any) -> None:
    with trio.fail_after(10):
        async with serving(chat_app, tmp_path) as server:
            async with (
                connect(url(server, "/chat/lobby?user=ann"), encoding=encoding) as ann,
                connect(url(server, "/chat/lobby?user=bob"), encoding="cbor") as bob,
            ):
                # Chat tracks presence: bob's join reached ann as an event first.
                joined = await ann.receive_event()
                assert joined.name == "presence_diff" and set(joined.data["joins"]) == {"bob"}
                message_id = await ann.call("say", text="hello bob")
                for member in (ann, bob):
                    event = await member.receive_event()
                    assert isinstance(event, Event) and event.name == "message"
                    assert event.data["id"] == message_id
                    assert (event.data["user"], event.data["text"]) == ("ann", "hello bob")
                await bob.call("say", text="hi ann")
                async for event in ann.events():
                    assert event.data["text"] == "hi ann"
                    break


async def test_concurrent_calls_from_several_tasks(
    tmp_path: Path, probe_app: App, encoding: Any
) -> None:
    results: dict[tuple[int, int], Any] = {}

    with trio.fail_after(10):
        async with serving(probe_app, tmp_path) as server:
            async with connect(url(server, "/probe/p"), encoding=encoding) as actor:

                async def caller(task: int) -> None:
                    for i in range(25):
                        results[task, i] = await actor.call("echo", value=[task, i])

                async with trio.open_nursery() as nursery:
                    for task in range(8):
                        nursery.start_soon(caller, task)
                assert actor.statistics().calls_in_flight == 0
    assert results == {(t, i): [t, i] for t in range(8) for i in range(25)}


async def test_event_buffer_drops_the_oldest(tmp_path: Path, probe_app: App, encoding: Any) -> None:
    with trio.fail_after(10):
        async with serving(probe_app, tmp_path) as server:
            async with connect(
                url(server, "/probe/p"), encoding=encoding, max_pending_events=3
            ) as actor:
                assert await actor.call("shout", count=10) == 10  # events come before the reply
                stats = actor.statistics()
                assert (stats.events_buffered, stats.events_dropped) == (3, 7)
                received = [await actor.receive_event() for _ in range(3)]
                assert received == [Event("tick", 7), Event("tick", 8), Event("tick", 9)]


async def test_a_call_without_reply_times_out(
    tmp_path: Path, probe_app: App, encoding: Any, threaded_autojump_clock: trio.testing.MockClock
) -> None:
    with trio.fail_after(60):
        async with serving(probe_app, tmp_path) as server:
            async with connect(url(server, "/probe/p"), encoding=encoding, call_timeout=5) as actor:
                start = trio.current_time()
                with pytest.raises(CallTimeout) as timeout:
                    await actor.call("hang")
                assert trio.current_time() - start == pytest.approx(5)
                assert timeout.value.code == "unavailable" and timeout.value.retryable
                assert not isinstance(timeout.value, Disconnected)
                Probe.release.set()  # its late reply is dropped; the actor serves the next call
                assert await actor.call("echo", value=1) == 1


async def test_leaving_the_block_ends_iteration_and_fails_waiting_calls(
    tmp_path: Path, probe_app: App, encoding: Any
) -> None:
    outcomes: list[str] = []
    with trio.fail_after(10):
        async with serving(probe_app, tmp_path) as server:
            async with trio.open_nursery() as nursery:
                # The server reads nothing of a connection while one of its calls runs, so
                # our close frame waits behind hang(): close_timeout cuts it short.
                async with connect(
                    url(server, "/probe/p"), encoding=encoding, close_timeout=0.2
                ) as actor:

                    async def listen() -> None:
                        async for _ in actor.events():
                            pass
                        outcomes.append("events ended")

                    async def hang() -> None:
                        with pytest.raises(ConnectionClosed) as closed:
                            await actor.call("hang")
                        outcomes.append(f"call failed {closed.value.code}")

                    nursery.start_soon(listen)
                    nursery.start_soon(hang)
                    await Probe.entered.wait()
                    await trio.testing.wait_all_tasks_blocked()
                Probe.release.set()
    assert sorted(outcomes) == ["call failed 1000", "events ended"]


async def test_the_first_connection_fails_fast(
    tmp_path: Path, chat_app: App, encoding: Any
) -> None:
    with trio.fail_after(10):
        async with serving(chat_app, tmp_path) as server:
            with pytest.raises(HandshakeError) as refused:
                async with connect(url(server, "/nope/x"), encoding=encoding):
                    pass
            assert refused.value.status == 404
            with pytest.raises(HandshakeError) as refused:
                async with connect(url(server, "/chat/lobby"), encoding=encoding):  # no ?user=
                    pass
            assert refused.value.status == 400 and "user" in str(refused.value)
            port = server.port
        with pytest.raises(Disconnected) as error:
            async with connect(f"ws://127.0.0.1:{port}/chat/lobby?user=a", encoding=encoding):
                pass
        assert isinstance(error.value.__cause__, OSError)


async def test_errors_in_the_block_come_out_unwrapped(
    tmp_path: Path, probe_app: App, encoding: Any
) -> None:
    with trio.fail_after(10):
        async with serving(probe_app, tmp_path) as server:
            with pytest.raises(KeyError):
                async with connect(url(server, "/probe/p"), encoding=encoding) as actor:
                    await actor.call("echo")
                    raise KeyError("mine")
            with pytest.raises(RuntimeError, match="raw"):
                await actor.send("x")


async def test_aclose_from_several_tasks(tmp_path: Path, probe_app: App, encoding: Any) -> None:
    with trio.fail_after(10):
        async with serving(probe_app, tmp_path) as server:
            async with connect(url(server, "/probe/p"), encoding=encoding) as actor:
                async with trio.open_nursery() as nursery:
                    for _ in range(3):
                        nursery.start_soon(actor.aclose)
                assert actor.state is ClientState.CLOSED
                await actor.aclose()
                with pytest.raises(ConnectionClosed) as closed:
                    await actor.receive_event()
                assert closed.value.code == 1000
