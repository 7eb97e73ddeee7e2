"""Per-actor and per-client limits, and slow-loris sockets against a server process.

The in-process tests hold real WebSockets on real sockets; the slow-loris tests run the
server as a subprocess and count its open file descriptors in /proc.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.e2e.exposure import ask, hold_upgrade, make_app
from tests.e2e.test_cli import STARTED
from tests.support import EXAMPLES, running


async def test_an_actor_takes_at_most_max_connections_per_actor(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, max_connections_per_actor=3) as server:
            port = server.port
            assert port is not None
            held = [await hold_upgrade(port, "/room/a") for _ in range(3)]
            assert [status for status, _ in held] == [101, 101, 101]
            status, stream = await hold_upgrade(port, "/room/a")
            await stream.aclose()
            assert status == 503
            other = await hold_upgrade(port, "/room/b")  # other actors are not affected
            assert other[0] == 101
            await held.pop()[1].aclose()  # a place frees up when a connection ends
            while True:
                status, stream = await hold_upgrade(port, "/room/a")
                held.append((status, stream))
                if status == 101:
                    break
                await trio.sleep(0.01)
            for _, stream in [*held, other]:
                await stream.aclose()


async def test_per_ip_limit_counts_sockets_and_requests_of_the_resolved_client(
    tmp_path: Path,
) -> None:
    """With a trusted proxy each forwarded client has its own budget; untrusted XFF is ignored."""
    one = [("x-forwarded-for", "198.51.100.1")]
    two = [("x-forwarded-for", "198.51.100.2")]
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, max_connections_per_ip=1) as server:
            port = server.port
            assert port is not None
            first = await hold_upgrade(port, "/room/a", one)
            assert first[0] == 101
            status, stream = await hold_upgrade(port, "/room/b", one)
            await stream.aclose()
            assert status == 429
            assert (await ask(port, "GET", "/_roost/health", one))[0] == 429  # requests too
            second = await hold_upgrade(port, "/room/a", two)
            assert second[0] == 101
            await first[1].aclose()
            while True:  # the unit comes back once the server has seen the close
                status = (await ask(port, "GET", "/_roost/health", one))[0]
                if status != 429:
                    break
                await trio.sleep(0.01)
            assert status == 200
            await second[1].aclose()
        async with running(
            make_app(), tmp_path, max_connections_per_ip=1, forwarded_allow_ips=[]
        ) as server:
            port = server.port
            assert port is not None
            first = await hold_upgrade(port, "/room/a", one)
            assert first[0] == 101
            status, stream = await hold_upgrade(port, "/room/a", two)  # both are 127.0.0.1
            await stream.aclose()
            assert status == 429
            await first[1].aclose()


async def test_sequential_requests_do_not_use_up_the_budget(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, max_connections_per_ip=1) as server:
            assert server.port is not None
            for _ in range(20):
                assert (await ask(server.port, "GET", "/_roost/health"))[0] == 200


# -- slow-loris sockets against a server process ------------------------------------------------


async def start_server(tmp_path: Path, **env: str) -> tuple[trio.Process, int]:
    """``roost serve examples/relay.py`` on an ephemeral port; its log goes to a file (a
    pipe nobody reads would fill up and stall the server)."""
    log = (tmp_path / "server.log").open("wb")
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "roost", "serve", str(EXAMPLES / "relay.py")],
        stdout=subprocess.PIPE,
        stderr=log,
        env={
            **os.environ,
            "ROOST_HOST": "127.0.0.1",
            "ROOST_PORT": "0",
            "ROOST_DATA_DIR": str(tmp_path / "data"),
            **env,
        },
    )
    log.close()
    STARTED.append(process)
    assert process.stdout is not None
    line = b""
    while b"\n" not in line:
        chunk = await process.stdout.receive_some(1)
        assert chunk, (tmp_path / "server.log").read_text()
        line += chunk
    match = re.search(rb"roost listening on http://127\.0\.0\.1:(\d+)", line)
    assert match, line
    return process, int(match.group(1))


def open_fds(process: trio.Process) -> int:
    return len(os.listdir(f"/proc/{process.pid}/fd"))


async def slow_sockets(port: int, count: int, *, first: bytes = b"") -> list[socket.socket]:
    """``count`` sockets that each send ``first`` (whole requests), then half a request head
    and then nothing."""
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        sockets.append(sock)
    unsent = set(sockets)
    with trio.move_on_after(2):  # the ones the kernel has connected by then
        while unsent:
            for sock in list(unsent):
                try:
                    sock.send(first + b"GET /_roost/health HTTP/1.1\r\nHost: x\r\n")
                    unsent.discard(sock)
                except OSError:
                    pass
            await trio.sleep(0.02)
    return sockets


async def peak_fds(process: trio.Process, seconds: float) -> int:
    """The most descriptors the server held over ``seconds`` (it keeps accepting meanwhile)."""
    peak = open_fds(process)
    with trio.move_on_after(seconds):
        while True:
            await trio.sleep(0.05)
            peak = max(peak, open_fds(process))
    return peak


async def stop(process: trio.Process) -> None:
    process.send_signal(signal.SIGTERM)
    assert await process.wait() == 0


async def test_slow_loris_sockets_cost_at_most_max_pending_handshakes(tmp_path: Path) -> None:
    limit, count = 50, 400
    with trio.fail_after(60):
        process, port = await start_server(
            tmp_path, ROOST_MAX_PENDING_HANDSHAKES=str(limit), ROOST_REQUEST_TIMEOUT="2"
        )
        assert (await ask(port, "GET", "/_roost/health"))[0] == 200
        baseline = open_fds(process)
        sockets = await slow_sockets(port, count)
        try:
            peak = await peak_fds(process, 1.0)
            # Without the gate the server would hold all 400; with it, the limit and no more.
            assert baseline + limit * 0.8 <= peak <= baseline + limit + 3, (baseline, peak)
        finally:
            for sock in sockets:
                sock.close()
        # The slow sockets went away: a normal client is served at once.
        with trio.fail_after(5):
            assert (await ask(port, "GET", "/_roost/health"))[0] == 200
        # Finishing one request and dribbling the next on the same keep-alive connection
        # does not get around the gate: a connection waiting for its next head is pending.
        whole = b"GET /_roost/health HTTP/1.1\r\nHost: x\r\n\r\n"
        sockets = await slow_sockets(port, count, first=whole)
        try:
            peak = await peak_fds(process, 1.0)
            assert peak <= baseline + limit + 3, (baseline, peak)
        finally:
            for sock in sockets:
                sock.close()
        with trio.fail_after(5):
            assert (await ask(port, "GET", "/_roost/health"))[0] == 200
        # Slow sockets that stay are cut at the request timeout; the queue moves on.
        sockets = await slow_sockets(port, limit + 10)
        try:
            started = trio.current_time()
            with trio.fail_after(10):
                assert (await ask(port, "GET", "/_roost/health"))[0] == 200
            assert trio.current_time() - started >= 1.0  # it waited for the 408s
        finally:
            for sock in sockets:
                sock.close()
        await stop(process)


async def test_a_timed_out_slow_loris_socket_holds_its_slot_until_it_is_closed(
    tmp_path: Path,
) -> None:
    """The 408 of a socket that never sends its EOF lingers up to ``close_timeout``: the
    gate must not admit its replacement before the descriptor is gone, or the peak grows
    to a multiple of the limit (one generation per request timeout within the linger)."""
    limit, count = 20, 120
    with trio.fail_after(60):
        process, port = await start_server(
            tmp_path,
            ROOST_MAX_PENDING_HANDSHAKES=str(limit),
            ROOST_REQUEST_TIMEOUT="1",
            ROOST_CLOSE_TIMEOUT="3",
        )
        assert (await ask(port, "GET", "/_roost/health"))[0] == 200
        baseline = open_fds(process)
        sockets = await slow_sockets(port, count)  # they never close on their own
        try:
            peak = await peak_fds(process, 4.5)  # three request timeouts, within lingers
            assert baseline + limit * 0.8 <= peak <= baseline + limit + 3, (baseline, peak)
        finally:
            for sock in sockets:
                sock.close()
        with trio.fail_after(10):
            assert (await ask(port, "GET", "/_roost/health"))[0] == 200
        await stop(process)


@pytest.mark.slow
async def test_ten_thousand_slow_loris_sockets_with_the_default_gate(tmp_path: Path) -> None:
    count = 10_000
    with trio.fail_after(120):
        process, port = await start_server(tmp_path)
        baseline = open_fds(process)
        sockets = await slow_sockets(port, count)
        try:
            peak = await peak_fds(process, 3.0)
            assert peak <= baseline + 1024 + 3, (baseline, peak)
        finally:
            for sock in sockets:
                sock.close()
        with trio.fail_after(15):
            assert (await ask(port, "GET", "/_roost/health"))[0] == 200
        await stop(process)
