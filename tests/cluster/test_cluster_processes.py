"""Cluster nodes as users run them: real ``roost serve`` processes on 127.0.0.1 sharing one
real PostgreSQL store, with kill -9, SIGSTOP past the lease and graceful handoffs (issue 14).

Each test checks what clients saw (the history of acknowledged values), not only the end.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
import pytest
import trio
import trio_websocket

from roost.storage import open_shared_store
from tests.support import http, open_client

APP = str(Path(__file__).with_name("cluster_app.py"))
SECRET = "a secret only the cluster knows"
TTL = 3.0


@attrs.define
class Node:
    process: trio.Process
    port: int
    data_dir: Path

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


async def start_node(
    data_dir: Path, store: str, *flags: str, secret: str | None = SECRET, app: str = APP
) -> Node:
    args = [
        sys.executable, "-m", "roost", "serve", app, "--host", "127.0.0.1", "--port", "0",
        "--data-dir", str(data_dir), "--store", store, "--lease-ttl", str(TTL),
        "--sync-interval", "0.2", "--shutdown-timeout", "5", *flags,
    ]  # fmt: skip
    env = {**os.environ}
    if secret is not None:
        env["ROOST_CLUSTER_SECRET"] = secret
    process = await trio.lowlevel.open_process(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert process.stdout is not None
    line = b""
    while b"\n" not in line:
        chunk = await process.stdout.receive_some(1)
        if not chunk:
            assert process.stderr is not None
            err = await process.stderr.receive_some(65536)
            raise AssertionError(f"node exited before listening: {err.decode()}")
        line += chunk
    match = re.search(rb"roost listening on http://127\.0\.0\.1:(\d+)", line)
    assert match, line
    return Node(process, int(match.group(1)), data_dir)


@asynccontextmanager
async def nodes(
    tmp_path: Path, store: str, count: int, app: str = APP
) -> AsyncIterator[list[Node]]:
    started: list[Node] = []
    try:
        for index in range(count):
            started.append(await start_node(tmp_path / f"n{index}", store, app=app))
        yield started
    finally:
        for node in started:
            if node.process.returncode is None:
                node.process.kill()
                await node.process.wait()


async def call(node: Node, actor: str, method: str, **args: Any) -> tuple[int, Any]:
    status, _headers, body = await http(
        SimpleNamespace(port=node.port),  # type: ignore[arg-type]
        "POST",
        f"/{actor}/rpc/{method}",
        body=json.dumps(args).encode(),
        headers=[("content-type", "application/json")],
    )
    return status, json.loads(body) if body else None


async def ok(node: Node, actor: str, method: str, **args: Any) -> Any:
    status, body = await call(node, actor, method, **args)
    assert status == 200, (status, body)
    return body["value"]


async def served_within(seconds: float, node: Node, actor: str, method: str, **args: Any) -> Any:
    """Call until it succeeds (the owner died: its lease must expire first)."""
    with trio.fail_after(seconds):
        while True:
            try:
                status, body = await call(node, actor, method, **args)
            except (OSError, trio.BrokenResourceError):
                status, body = 0, None
            if status == 200:
                return body["value"]
            await trio.sleep(0.05)


async def test_one_instance_under_concurrent_first_access_from_three_nodes(
    tmp_path: Path, pg_store_url: str
) -> None:
    with trio.fail_after(60):
        async with nodes(tmp_path, pg_store_url, 3) as three:
            answers: list[int] = []

            async def ask(node: Node) -> None:
                for _ in range(5):
                    answers.append((await ok(node, "counter/k", "whoami"))["pid"])

            async with trio.open_nursery() as nursery:
                for node in three:
                    nursery.start_soon(ask, node)
            assert len(answers) == 15
            assert len(set(answers)) == 1
            assert answers[0] in {node.pid for node in three}


async def test_clients_on_different_nodes_share_one_room(tmp_path: Path, pg_store_url: str) -> None:
    with trio.fail_after(60):
        async with nodes(tmp_path, pg_store_url, 2) as (a, b):
            async with (
                open_client(f"{a.url}/counter/room") as on_a,
                open_client(f"{b.url}/counter/room") as on_b,
            ):
                await on_a.send_message("+")
                assert await on_a.get_message() == "1"
                assert await on_b.get_message() == "1"  # the broadcast crossed nodes
                await on_b.send_message("+")
                assert await on_a.get_message() == "2"
                assert await on_b.get_message() == "2"
            # Actor-to-actor calls reach the owner of the other actor, wherever it lives.
            assert await ok(b, "counter/other", "add", by=1) == 1
            assert await ok(a, "counter/room", "add_via", other="other", by=5) == 6


async def test_kill_9_of_the_owner_mid_traffic(tmp_path: Path, pg_store_url: str) -> None:
    with trio.fail_after(90):
        async with nodes(tmp_path, pg_store_url, 3) as three:
            owner_pid = (await ok(three[1], "counter/k", "whoami"))["pid"]
            owner = next(n for n in three if n.pid == owner_pid)
            others = [n for n in three if n is not owner]
            acknowledged = [await ok(others[i % 2], "counter/k", "add", by=1) for i in range(20)]
            assert acknowledged == list(range(1, 21))
            await trio.sleep(1.0)  # five sync intervals: everything acknowledged is stored
            owner.process.kill()
            killed_at = trio.current_time()
            after = await served_within(TTL + 2 + 3, others[0], "counter/k", "whoami")
            failover = trio.current_time() - killed_at
            assert after["pid"] in {n.pid for n in others}
            assert after["n"] == 20  # nothing acknowledged and synced was lost
            assert failover <= TTL + 2 + 1, failover
            assert await ok(others[1], "counter/k", "add", by=1) == 21


async def test_a_node_frozen_past_its_lease_never_writes_again(
    tmp_path: Path, pg_store_url: str
) -> None:
    with trio.fail_after(90):
        async with nodes(tmp_path, pg_store_url, 2) as (a, b):
            async with open_client(f"{a.url}/counter/f") as on_a:
                await on_a.send_message("+")
                assert await on_a.get_message() == "1"
                await on_a.send_message("pid")
                assert await on_a.get_message() == str(a.pid)  # A owns it
                await trio.sleep(0.6)  # synced
                a.process.send_signal(signal.SIGSTOP)
                try:
                    result = await served_within(TTL + 2 + 3, b, "counter/f", "add", by=100)
                    assert result == 101  # B restored A's synced 1
                    on_a_sent = "+"
                    await on_a.send_message(on_a_sent)  # queued while A sleeps
                finally:
                    a.process.send_signal(signal.SIGCONT)
                # A wakes: its lease is gone, so it serves no turn and closes with 1012.
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    while True:
                        message = await on_a.get_message()
                        assert message != "2", "the frozen node ran a turn after its lease"
                assert closed.value.reason.code == 1012
            await trio.sleep(1.0)  # A had every chance to sync a stale write
            assert (await ok(b, "counter/f", "whoami"))["n"] == 101
            async with open_shared_store(pg_store_url, data_dir=tmp_path) as store:
                state = await store.read_state("counter", "f")
                assert state is not None and state.state == {"n": 101}
                lease = await store.lease_owner("counter", "f")
                assert lease is not None and state.fence == lease.fence


async def test_an_actor_moving_a_b_a_keeps_every_synced_write(
    tmp_path: Path, pg_store_url: str
) -> None:
    with trio.fail_after(90):
        a = await start_node(tmp_path / "a", pg_store_url)
        b = await start_node(tmp_path / "b", pg_store_url)
        try:
            assert await ok(a, "counter/m", "add", by=1) == 1  # A owns it, its file says 1
            a.process.send_signal(signal.SIGTERM)  # graceful handoff: synced, released
            assert await a.process.wait() == 0
            assert await ok(b, "counter/m", "add", by=2) == 3  # B restored 1
            a = await start_node(tmp_path / "a", pg_store_url)  # A's old file still says 1
            b.process.send_signal(signal.SIGTERM)
            assert await b.process.wait() == 0
            # A's file is older than the store (fence): A restores 3, never its stale 1.
            assert await ok(a, "counter/m", "add", by=4) == 7
        finally:
            for node in (a, b):
                if node.process.returncode is None:
                    node.process.kill()
                    await node.process.wait()


async def test_alarms_of_a_dead_node_fire_on_another(tmp_path: Path, pg_store_url: str) -> None:
    with trio.fail_after(90):
        async with nodes(tmp_path, pg_store_url, 2) as (a, b):
            due = await ok(a, "timer/t", "arm", after=4.0)
            owner = (await ok(a, "counter/t", "whoami"))["pid"]  # a neighbour, to learn pids
            assert owner == a.pid
            await trio.sleep(1.0)  # the alarm reached the store with the state
            a.process.kill()
            await a.process.wait()
            with trio.fail_after(due - __import__("time").time() + TTL + 2 + 5):
                while True:
                    await trio.sleep(0.5)
                    rings = await ok(b, "timer/t", "rings")
                    if rings:
                        break
            assert len(rings) == 1
            pid, rang_at = rings[0]
            assert pid == b.pid
            assert due <= rang_at <= due + TTL + 2 + 1.5


async def test_two_nodes_without_a_secret_are_refused(tmp_path: Path, pg_store_url: str) -> None:
    with trio.fail_after(60):
        a = await start_node(tmp_path / "a", pg_store_url, secret=None)
        try:
            process = await trio.run_process(
                [sys.executable, "-m", "roost", "serve", APP, "--port", "0",
                 "--data-dir", str(tmp_path / "b"), "--store", pg_store_url],
                capture_stdout=True, capture_stderr=True, check=False,
            )  # fmt: skip
            assert process.returncode == 2
            err = process.stderr.decode()
            assert "another live node" in err and "--cluster-secret" in err
            assert len(err.strip().splitlines()) == 1
            # A cluster node beside the single node is refused as well.
            process = await trio.run_process(
                [sys.executable, "-m", "roost", "serve", APP, "--port", "0",
                 "--data-dir", str(tmp_path / "c"), "--store", pg_store_url],
                capture_stdout=True, capture_stderr=True, check=False,
                env={**os.environ, "ROOST_CLUSTER_SECRET": SECRET},
            )  # fmt: skip
            assert process.returncode == 2, process.stderr
            assert "single node" in process.stderr.decode()
        finally:
            a.process.kill()
            await a.process.wait()


async def test_sigterm_hands_actors_over_with_under_a_second_of_disruption(
    tmp_path: Path, pg_store_url: str
) -> None:
    """A node stopping gracefully closes with 1012, syncs and releases its leases: a client
    given every node's URL is served by another node within a second (issue 14, point 5)."""
    import roost.client

    with trio.fail_after(90):
        async with nodes(tmp_path, pg_store_url, 2) as (a, b):
            urls = [f"{node.url}/counter/h" for node in (a, b)]
            async with roost.client.connect(urls) as actor:
                assert actor.url == urls[0]
                assert (await actor.call("whoami"))["pid"] == a.pid  # A owns it
                assert await actor.call("add", by=1) == 1
                a.process.send_signal(signal.SIGTERM)
                history = [(1, trio.current_time(), actor.url)]
                in_flight_lost = 0
                while history[-1][2] != urls[1]:  # calls on, until B answers them
                    try:
                        value = await actor.call("add", by=1)
                    except roost.client.Unavailable:  # the call in flight at the close
                        in_flight_lost += 1  # it may or may not have run
                        await trio.sleep(0.01)
                        continue
                    history.append((value, trio.current_time(), actor.url))
                assert (await actor.call("whoami"))["pid"] == b.pid
                values = [value for value, _, _ in history]
                # Every acknowledged add is there, in order; only a call whose reply was lost
                # in the close may have run unseen.
                assert values == sorted(set(values))
                assert values[-1] <= len(values) + in_flight_lost
                gaps = [b[1] - a[1] for a, b in itertools.pairwise(history)]
                assert max(gaps) < 1.0, gaps
            assert await a.process.wait() == 0


async def test_a_node_cut_from_postgresql_stops_serving_and_another_takes_over(
    tmp_path: Path, pg_store_url: str
) -> None:
    """Node A reaches PostgreSQL through a proxy the test cuts: A can no longer renew, so it
    self-fences (its client gets 1012) before B may claim; B serves within the ttl + 2 s."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from tests.shared_store.proxy import CuttableProxy

    parts = conninfo_to_dict(pg_store_url)
    proxy = CuttableProxy(str(parts.get("host", "127.0.0.1")), int(parts.get("port", 5432)))
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            via_proxy = make_conninfo("", **{**parts, "host": "127.0.0.1", "port": str(proxy.port)})
            a = await start_node(tmp_path / "a", via_proxy, "--store-timeout", "2")
            b = await start_node(tmp_path / "b", pg_store_url)
            try:
                async with open_client(f"{a.url}/counter/p") as on_a:
                    await on_a.send_message("+")
                    assert await on_a.get_message() == "1"
                    await trio.sleep(0.6)  # synced
                    proxy.hang()  # PostgreSQL stops answering A, nothing is closed
                    cut_at = trio.current_time()
                    with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                        while True:
                            await on_a.get_message()
                    fenced_after = trio.current_time() - cut_at
                    assert closed.value.reason.code == 1012
                    assert fenced_after < TTL, fenced_after  # before the lease could expire
                served = await served_within(TTL + 2 + 2, b, "counter/p", "whoami")
                assert served["pid"] == b.pid and served["n"] == 1
                assert trio.current_time() - cut_at <= TTL + 2 + 1
                assert await ok(b, "counter/p", "add", by=1) == 2
            finally:
                proxy.restore()
                for node in (a, b):
                    node.process.kill()
                    await node.process.wait()
                nursery.cancel_scope.cancel()
