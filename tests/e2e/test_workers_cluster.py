"""The workers of ``roost serve --workers N`` are nodes of one cluster on the embedded store:
one instance per key whichever worker accepts the connection (G1), a killed worker's actors
back on demand with their alarms, and one scrape covering every worker (issue 14, point 1).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import trio

from tests.e2e.test_workers import Supervised
from tests.support import open_client

APP = str(Path(__file__).parents[1] / "cluster" / "cluster_app.py")


async def supervise(data: Path, *flags: str) -> tuple[Supervised, int]:
    import subprocess
    import sys

    from tests.e2e.test_cli import STARTED

    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "roost", "serve", APP, "--workers", "2", "--port", "0",
         "--host", "127.0.0.1", "--data-dir", str(data), "--shutdown-timeout", "5", *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ},
    )  # fmt: skip
    STARTED.append(process)
    supervised = Supervised(process)
    port = await supervised.out.port()
    await supervised.wait_started(2)
    await supervised.wait_serving(2)
    return supervised, port


async def rpc(port: int, actor: str, method: str, **args: Any) -> Any:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        body = json.dumps(args).encode()
        head = (
            f"POST /{actor}/rpc/{method} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json"
            f"\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
        ).encode()
        await stream.send_all(head + body)
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    assert head_bytes.startswith(b"HTTP/1.1 200"), data
    return json.loads(payload)["value"]


async def metrics(port: int) -> str:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(
            b"GET /_roost/metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        )
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    return data.partition(b"\r\n\r\n")[2].decode()


def handoffs(text: str) -> float:
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("roost_handoffs_total{")
    )


async def test_one_instance_per_key_across_workers_and_one_scrape_for_all(tmp_path: Path) -> None:
    with trio.fail_after(60):
        supervised, port = await supervise(tmp_path)
        try:
            answers: list[int] = []

            async def ask() -> None:
                answers.append((await rpc(port, "counter/shared", "whoami"))["pid"])

            async with trio.open_nursery() as nursery:
                for _ in range(40):  # new connections: the kernel spreads them over both
                    nursery.start_soon(ask)
            # Until some connection landed on the worker that does not own the key.
            for _ in range(200):
                if handoffs(await metrics(port)) >= 1:
                    break
                await ask()
            assert len(set(answers)) == 1, answers
            assert answers[0] in supervised.workers.values()
            # WebSockets through either worker reach the same instance.
            async with (
                open_client(f"ws://127.0.0.1:{port}/counter/room") as one,
                open_client(f"ws://127.0.0.1:{port}/counter/room") as two,
            ):
                await one.send_message("+")
                assert await one.get_message() == "1"
                assert await two.get_message() == "1"
            text = await metrics(port)
            assert 'roost_actors_active{worker="0"}' in text
            assert 'roost_actors_active{worker="1"}' in text
            handed = handoffs(text)
            assert handed >= 1  # some connections landed on the other worker and moved
        finally:
            supervised.process.send_signal(signal.SIGTERM)
            assert await supervised.process.wait() == 0


async def test_a_killed_worker_comes_back_with_its_actors_and_alarms(tmp_path: Path) -> None:
    with trio.fail_after(60):
        supervised, port = await supervise(tmp_path)
        try:
            assert await rpc(port, "counter/c", "add", by=5) == 5
            due = await rpc(port, "timer/t", "arm", after=3.0)
            owner = await rpc(port, "timer/t", "pid")
            index = next(i for i, pid in supervised.workers.items() if pid == owner)
            os.kill(owner, signal.SIGKILL)
            await supervised.until(rf"worker {index} \(process \d+\) started")
            # The counter is back, whichever worker serves it now, with its committed state.
            assert (await rpc(port, "counter/c", "whoami"))["n"] == 5
            await trio.sleep(max(0.0, due + 2.5 - time.time()))  # unix time: another process
            rings = await rpc(port, "timer/t", "rings")
            assert len(rings) == 1
            assert due <= rings[0][1] <= due + 2.5
        finally:
            supervised.process.send_signal(signal.SIGTERM)
            assert await supervised.process.wait() == 0


async def test_workers_on_a_postgresql_store(tmp_path: Path, pg_store_url: str) -> None:
    """The same mechanism on PostgreSQL: the workers are nodes of its cluster (no secret
    given: the supervisor made one), and `roost nodes` would list both."""
    from roost.storage import open_shared_store

    with trio.fail_after(60):
        supervised, port = await supervise(tmp_path, "--store", pg_store_url)
        try:
            pids = {(await rpc(port, "counter/pg", "whoami"))["pid"] for _ in range(20)}
            assert len(pids) == 1
            assert await rpc(port, "counter/pg", "add", by=2) == 2
            async with open_shared_store(pg_store_url, data_dir=tmp_path) as store:
                nodes = await store.live_nodes(10.0)
                assert len(nodes) == 2 and all(n.cluster for n in nodes)
                owner = await store.lease_owner("counter", "pg")
                assert owner is not None and owner.node_id in {n.node_id for n in nodes}
        finally:
            supervised.process.send_signal(signal.SIGTERM)
            assert await supervised.process.wait() == 0
        async with open_shared_store(pg_store_url, data_dir=tmp_path) as store:
            assert await store.live_nodes(10.0) == []  # both left on SIGTERM
            state = await store.read_state("counter", "pg")
            assert state is not None and state.state == {"n": 2}
