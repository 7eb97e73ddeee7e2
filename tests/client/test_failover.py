"""One client, several servers: the client is given the actor's URL on each node and rotates
through them when a connection is lost (issue 14, failover).

The in-process tests run two real servers with their own data dirs on a mock clock that jumps
only after 50 ms of real idleness, so backoff delays are measurable and cost no real time;
the kill -9 tests run ``roost serve`` processes, in real time.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import pytest
import trio
from trio.testing import MockClock

from roost import App, HandshakeError, Server
from roost.client import ClientState, Disconnected, connect
from roost.protocol import ConnectionState

from .conftest import Probe, serving, url

WHOAMI = Path(__file__).with_name("whoami_app.py")


@asynccontextmanager
async def two_servers(app: App, tmp_path: Path) -> AsyncIterator[tuple[Server, list[str]]]:
    """Two servers of ``app``, each with its own data dir: the first, and ``/probe/p`` on each."""
    async with serving(app, tmp_path / "a") as a, serving(app, tmp_path / "b") as b:
        yield a, [url(a, "/probe/p"), url(b, "/probe/p")]


def refused_url(path: str) -> str:
    """A URL on a port of 127.0.0.1 where nothing listens: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"ws://127.0.0.1:{port}{path}"


async def test_graceful_stop_of_one_server_moves_the_client_to_the_next_at_once(
    tmp_path: Path, probe_app: App, threaded_autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        async with two_servers(probe_app, tmp_path) as (a, urls):
            async with connect(urls, backoff_initial=5, backoff_max=60) as actor:
                assert (actor.urls, actor.url) == (tuple(urls), urls[0])
                assert await actor.call("bump") == 1

                async def in_flight() -> None:
                    with pytest.raises(Disconnected, match="1001"):
                        await actor.call("hang")  # not retried: it may have run
                    Probe.release.set()

                async with trio.open_nursery() as calls:
                    calls.start_soon(in_flight)
                    await Probe.entered.wait()
                    stopped = trio.current_time()
                    await a.shutdown()  # closes with 1001: no backoff delay
                assert await actor.call("bump") == 1  # b's own data dir: its own counter
                assert trio.current_time() - stopped < 1
                assert actor.url == urls[1] and actor.state is ClientState.OPEN
                assert actor.statistics().connects == 2


async def test_1012_reconnects_without_the_backoff_other_closes_and_a_repeated_one_wait_it(
    tmp_path: Path, probe_app: App, threaded_autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        async with two_servers(probe_app, tmp_path) as (_, urls):
            async with connect(urls, backoff_initial=5, backoff_max=60) as actor:

                async def lost_for(code: int) -> float:
                    with pytest.raises(Disconnected):
                        await actor.call("kick", code=code)
                    lost = trio.current_time()
                    assert await actor.call("echo", value=code) == code
                    return trio.current_time() - lost

                assert 2.5 <= await lost_for(1011) <= 5  # the first backoff delay, then b
                assert actor.url == urls[1]
                assert await lost_for(1012) < 1  # a node handing over: at once, to a
                assert actor.url == urls[0]
                # Another 1012 within backoff_max: a server that keeps restarting clients
                # gets the backoff (the second delay, 5-10 s here), like any other close.
                assert 5 <= await lost_for(1012) <= 10
                assert actor.url == urls[1]
                assert actor.statistics().connects == 4


async def test_a_call_made_while_the_lost_connection_winds_down_waits_for_the_next(
    tmp_path: Path, probe_app: App, threaded_autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        async with two_servers(probe_app, tmp_path) as (_, urls):
            async with connect(urls) as actor, trio.open_nursery() as nursery:
                conn = actor._conn
                assert conn is not None

                async def kicked() -> None:
                    with pytest.raises(Disconnected):
                        await actor.call("kick", code=1012)

                nursery.start_soon(kicked)
                # The reader has seen the close but still writes its echo and closes the
                # socket: the client is OPEN a little longer. A call made now was never sent.
                while conn.ws.state is ConnectionState.OPEN:
                    await trio.lowlevel.checkpoint()
                assert actor.state is ClientState.OPEN
                assert await actor.call("echo", value="next") == "next"
                assert actor.url == urls[1]


async def test_a_url_that_refuses_connections_is_skipped_first_and_on_each_round(
    tmp_path: Path, probe_app: App, threaded_autojump_clock: MockClock
) -> None:
    with trio.fail_after(60):
        async with two_servers(probe_app, tmp_path) as (_, live):
            urls = [refused_url("/probe/p"), *live]
            async with connect(urls, backoff_initial=0.1) as actor:
                seen = [actor.url]
                for _ in range(4):  # each loss: the next URL that answers
                    with pytest.raises(Disconnected):
                        await actor.call("kick", code=1011)
                    assert await actor.call("echo", value=1) == 1
                    seen.append(actor.url)
                assert seen == [urls[1], urls[2], urls[1], urls[2], urls[1]]
                assert actor.statistics().connects == 5


async def test_when_every_url_refuses_the_first_connection_raises_naming_each(
    tmp_path: Path,
) -> None:
    dead = [refused_url("/probe/p?token=secret"), refused_url("/probe/q")]
    with trio.fail_after(10), pytest.raises(Disconnected) as failed:
        async with connect(dead):
            pass
    message = failed.value.message
    assert dead[0].split("?")[0] in message and dead[1] in message
    assert "secret" not in message  # the query may hold a credential


async def test_a_refusal_that_is_not_retried_fails_at_once_a_retried_one_moves_on(
    tmp_path: Path, probe_app: App, threaded_autojump_clock: MockClock
) -> None:
    async def busy(stream: trio.SocketStream) -> None:
        await stream.receive_some(4096)
        await stream.send_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy")
        await stream.aclose()

    with trio.fail_after(60):
        async with (
            serving(App(), tmp_path / "empty") as empty,  # no actor types: 404
            serving(probe_app, tmp_path / "a") as a,
            trio.open_nursery() as nursery,
        ):
            with pytest.raises(HandshakeError) as refused:
                async with connect([url(empty, "/probe/p"), url(a, "/probe/p")]):
                    pass
            assert refused.value.status == 404  # a wrong URL fails loudly

            listeners = await nursery.start(partial(trio.serve_tcp, busy, 0, host="127.0.0.1"))
            busy_port = listeners[0].socket.getsockname()[1]
            urls = [f"ws://127.0.0.1:{busy_port}/probe/p", url(a, "/probe/p")]
            async with connect(urls) as actor:
                assert actor.url == urls[1]
                assert await actor.call("echo", value="ok") == "ok"
            with pytest.raises(HandshakeError) as last:  # the last URL's own refusal
                async with connect(urls[:1]):
                    pass
            assert last.value.status == 503
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("urls", "error"),
    [
        ([], ValueError),
        (["ws://127.0.0.1:1/probe/p", "http://127.0.0.1:1/probe/p"], ValueError),
        (["ws://127.0.0.1:1/probe/p", b"ws://127.0.0.1:2/probe/p"], TypeError),
    ],
)
async def test_bad_url_lists_are_refused_before_connecting(
    urls: list[object], error: type[Exception]
) -> None:
    with trio.fail_after(10), pytest.raises(error):
        async with connect(urls):  # type: ignore[arg-type]
            pass


# -- real processes: kill -9 and SIGTERM -------------------------------------------------------


@asynccontextmanager
async def roost_serve(data_dir: Path) -> AsyncIterator[tuple[trio.Process, int]]:
    """``roost serve tests/client/whoami_app.py`` on a free port; killed on exit if alive."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ROOST_")}
    serve = ["serve", str(WHOAMI), "--host", "127.0.0.1", "--port", "0"]
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "roost", *serve, "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = b""
        while b"\n" not in line:
            chunk = await process.stdout.receive_some(1)
            assert chunk, f"the server exited before its start line: {line!r}"
            line += chunk
        match = re.search(rb"roost listening on http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        yield process, int(match.group(1))
    finally:
        if process.returncode is None:
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
            await process.stdout.aclose()  # type: ignore[union-attr]


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
async def test_a_stopped_server_process_is_left_for_the_next(
    tmp_path: Path, stop: signal.Signals
) -> None:
    with trio.fail_after(60):
        async with (
            roost_serve(tmp_path / "a") as (a, a_port),
            roost_serve(tmp_path / "b") as (_, b_port),
        ):
            urls = [f"ws://127.0.0.1:{port}/whoami/k" for port in (a_port, b_port)]
            async with connect(urls, backoff_initial=0.05, backoff_max=1) as actor:
                assert (await actor.call("whoami"))["key"] == "k"
                a.send_signal(stop)
                lost = trio.current_time()
                while True:  # until b answers: a may answer or fail a call before it goes
                    try:
                        seen = await actor.call("whoami")
                    except Disconnected:  # in flight as a went: idempotent, so again
                        continue
                    if actor.url == urls[1]:
                        break
                took = trio.current_time() - lost
                await a.wait()
                assert seen["key"] == "k"
                assert actor.url == urls[1] and actor.statistics().connects == 2
        # kill -9: 1006, then one backoff delay (50-100 ms); SIGTERM: 1001, at once.
        assert took < (1 if stop == signal.SIGTERM else 2)
