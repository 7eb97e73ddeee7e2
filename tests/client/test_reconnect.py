"""Reconnection: server restarts, servers that never come back, backoff, close-code policy.

These run on a mock clock that jumps only after 50 ms of real idleness
(``threaded_autojump_clock``): the server works in threads, and backoff delays and call
timeouts then cost no real time.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from roost import App, ConnectionClosed, Server, ServerConfig
from roost.client import RETRIED_CLOSE_CODES, ClientState, Disconnected, connect

from .conftest import Probe, serving, url


async def test_restart_on_the_same_port_fails_the_call_in_flight_then_reconnects(
    tmp_path: Path, probe_app: App, threaded_autojump_clock: MockClock
) -> None:
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            first = Server(probe_app, ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path))
            await nursery.start(first.serve)
            port = first.port
            async with connect(f"ws://127.0.0.1:{port}/probe/p") as actor:
                assert await actor.call("bump") == 1

                async def in_flight() -> None:
                    with pytest.raises(Disconnected) as lost:
                        await actor.call("hang")
                    assert lost.value.code == "unavailable" and lost.value.retryable
                    assert "1001" in lost.value.message
                    Probe.release.set()  # the old server's last turn may end now

                async with trio.open_nursery() as calls:
                    calls.start_soon(in_flight)
                    await Probe.entered.wait()
                    await first.shutdown()  # graceful: close 1001 "server shutting down"
                assert actor.state is ClientState.RECONNECTING
                async with serving(probe_app, tmp_path, port=port):  # same port and data
                    assert await actor.call("bump") == 2  # waits for the reconnection
                    assert actor.state is ClientState.OPEN
                    assert actor.statistics().connects == 2


async def test_a_server_that_never_comes_back(
    tmp_path: Path, probe_app: App, threaded_autojump_clock: MockClock
) -> None:
    with trio.fail_after(120):
        async with serving(probe_app, tmp_path) as server:
            async with connect(url(server, "/probe/p"), call_timeout=7, backoff_max=1) as actor:
                assert await actor.call("echo", value=1) == 1
                await server.shutdown()
                start = trio.current_time()
                with pytest.raises(Disconnected, match="call_timeout"):
                    await actor.call("echo", value=2)
                assert trio.current_time() - start == pytest.approx(7)
                assert actor.state is ClientState.RECONNECTING
            assert actor.state is ClientState.CLOSED


async def test_backoff_grows_is_jittered_and_capped(
    tmp_path: Path, probe_app: App, threaded_autojump_clock: MockClock
) -> None:
    attempts: list[float] = []
    enough = trio.Event()

    async def hang_up(stream: trio.SocketStream) -> None:
        attempts.append(trio.current_time())
        await stream.aclose()
        if len(attempts) == 9:
            enough.set()

    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            server = Server(probe_app, ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path))
            await nursery.start(server.serve)
            async with connect(url(server, "/probe/p"), backoff_initial=1, backoff_max=8):
                await server.shutdown()
                lost = trio.current_time()
                # Whatever listens on the port now accepts connections and hangs up at once.
                listeners = await trio.open_tcp_listeners(server.port, host="127.0.0.1")
                nursery.start_soon(trio.serve_listeners, hang_up, listeners)
                await enough.wait()
            nursery.cancel_scope.cancel()
    delays = [b - a for a, b in zip([lost, *attempts], attempts, strict=False)]
    ceilings = [1, 2, 4, 8, 8, 8, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 - 1e-9 <= delay <= ceiling + 1e-9
    assert len({round(d, 6) for d in delays[3:]}) > 1  # jittered: not all at the cap
    assert not any(math.isclose(d, c) for d, c in zip(delays, ceilings, strict=True))


@pytest.mark.parametrize("code", [1008, 4000])
async def test_close_codes_that_end_the_client(
    tmp_path: Path, probe_app: App, code: int, threaded_autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        async with serving(probe_app, tmp_path) as server:
            async with connect(url(server, "/probe/p")) as actor:
                with pytest.raises(ConnectionClosed) as closed:
                    await actor.call("kick", code=code)
                assert (closed.value.code, closed.value.reason) == (code, "kicked")
                assert actor.state is ClientState.CLOSED
                with pytest.raises(ConnectionClosed):
                    async for _ in actor.events():
                        pass
                with pytest.raises(ConnectionClosed):
                    await actor.call("echo")
                assert actor.statistics().connects == 1


@pytest.mark.parametrize("code", sorted(RETRIED_CLOSE_CODES - {1006}))
async def test_close_codes_that_reconnect(
    tmp_path: Path, probe_app: App, code: int, threaded_autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        async with serving(probe_app, tmp_path) as server:
            async with connect(url(server, "/probe/p")) as actor:
                with pytest.raises(Disconnected):
                    await actor.call("kick", code=code)
                assert await actor.call("echo", value="back") == "back"
                assert actor.statistics().connects == 2


async def test_normal_closure_by_the_server_ends_iteration_quietly(
    tmp_path: Path, probe_app: App, threaded_autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        async with serving(probe_app, tmp_path) as server:
            async with connect(url(server, "/probe/p"), encoding="json") as actor:
                assert await actor.call("shout", count=2) == 2
                with pytest.raises(ConnectionClosed) as closed:
                    await actor.call("kick", code=1000)
                assert closed.value.code == 1000 and actor.state is ClientState.CLOSED
                # What was buffered is still received, then the iteration just ends.
                assert [event.data async for event in actor.events()] == [0, 1]
                with pytest.raises(ConnectionClosed):
                    await actor.receive_event()


async def test_without_reconnect_the_first_drop_ends_the_client(
    tmp_path: Path, probe_app: App, threaded_autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        async with serving(probe_app, tmp_path) as server:
            async with connect(url(server, "/probe/p"), reconnect=False) as actor:
                with pytest.raises(Disconnected):
                    await actor.call("kick", code=1012)
                assert actor.state is ClientState.CLOSED
                with pytest.raises(ConnectionClosed) as closed:
                    await actor.call("echo")
                assert closed.value.code == 1012


async def test_a_refused_reconnection_ends_the_client(
    tmp_path: Path, probe_app: App, threaded_autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        async with serving(probe_app, tmp_path) as server:
            port = server.port
            async with connect(url(server, "/probe/p")) as actor:
                await server.shutdown()
                async with serving(App(), tmp_path / "other", port=port):  # no actor types
                    with pytest.raises(ConnectionClosed) as closed:
                        await actor.call("echo")
                assert "404" in closed.value.reason
                assert actor.state is ClientState.CLOSED
