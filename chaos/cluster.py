"""The node processes of a chaos run and the faults the harness applies to them.

Each node is a real ``roost serve`` process on 127.0.0.1 with its own data dir; its store URL
points at a proxy of its own in front of PostgreSQL (``application_name`` names the node, so
its backends can be terminated) and it advertises a proxy in front of its own port, through
which every other node's link to it passes. A killed node is restarted on the same port with
the same data dir (so the same node id). Every start, exit and fault goes into the history.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import attrs
import psycopg
import trio

from .history import Fault, History, NodeExit, NodeStart
from .proxy import Proxy
from .schedule import Planned

APP = str(Path(__file__).with_name("app.py"))
_LISTENING = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")


class NodeFailed(Exception):
    """A node did not start (the harness, not roost's exception tree: nothing to catch)."""


@attrs.frozen
class Settings:
    """How the nodes run."""

    pg_url: str  # the PostgreSQL server itself (the harness's own connections)
    schema: str
    run_id: str
    secret: str
    lease_ttl: float
    sync_interval: float
    workdir: Path
    pythonpath: Path | None = None  # roost from one revision (chaos.source), else the tree
    durable: bool = False  # roost serve --durable (issue 15's durable output)


@attrs.define(eq=False)
class Node:
    """One node: its process (None while down), port, data dir and proxies."""

    index: int
    settings: Settings
    history: History
    store_proxy: Proxy
    link_proxy: Proxy
    port: int = 0
    process: trio.Process | None = None
    stopped: bool = False
    expected: set[int] = attrs.field(factory=set)  # pids the harness ended on purpose
    # One fault at a time per thing a fault takes hold of (the process, the store proxy, the
    # link proxy): a kill that came while a restart was still starting would kill nothing
    # and then start a second process on the same data dir.
    locks: dict[str, trio.Lock] = attrs.field(
        factory=lambda: {"process": trio.Lock(), "store": trio.Lock(), "link": trio.Lock()}
    )

    @property
    def application_name(self) -> str:
        return f"chaos-{self.settings.run_id}-n{self.index}"

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else int(self.process.pid)

    def store_url(self) -> str:
        s = self.settings
        user = psycopg.conninfo.conninfo_to_dict(s.pg_url).get("user")
        auth = f"{quote(str(user))}@" if user else ""
        dbname = psycopg.conninfo.conninfo_to_dict(s.pg_url).get("dbname", "test")
        return (
            f"postgresql://{auth}127.0.0.1:{self.store_proxy.port}/{dbname}"
            f"?options=-csearch_path%3D{s.schema}&application_name={self.application_name}"
        )

    def command(self) -> list[str]:
        s = self.settings
        return [
            sys.executable, "-m", "roost", "serve", APP, "--host", "127.0.0.1",
            "--port", str(self.port), "--data-dir", str(s.workdir / f"node-{self.index}"),
            "--store", self.store_url(), "--lease-ttl", str(s.lease_ttl),
            "--sync-interval", str(s.sync_interval),
            "--advertise", f"127.0.0.1:{self.link_proxy.port}", "--shutdown-timeout", "5",
            *(["--durable"] if s.durable else []),
        ]  # fmt: skip

    async def restart(self, nursery: trio.Nursery) -> None:
        """:meth:`start` during the run: a node that does not come back is recorded (a
        ``crash``) instead of ending the run; :func:`heal` tries once more."""
        try:
            await self.start(nursery)
        except NodeFailed as exc:
            t = self.history.now()
            self.history.add(NodeExit(self.index, 0, t, None, False, f"{exc} (at {t:.3f})"))

    async def start(self, nursery: trio.Nursery) -> None:
        """Start the process (on its old port after a kill) and wait until it listens."""
        log = (self.settings.workdir / f"node-{self.index}.log").open("ab")
        env = {**os.environ, "ROOST_CLUSTER_SECRET": self.settings.secret}
        if self.settings.pythonpath is not None:  # and a cwd without a roost/ folder
            env["PYTHONPATH"] = str(self.settings.pythonpath)
        process = await trio.lowlevel.open_process(
            self.command(), stdout=subprocess.PIPE, stderr=log, env=env, cwd=self.settings.workdir
        )
        assert process.stdout is not None
        line = b""
        with trio.move_on_after(30):
            while not _LISTENING.search(line):
                chunk = await process.stdout.receive_some(4096)
                if not chunk:
                    break
                line += chunk
        match = _LISTENING.search(line)
        if match is None:
            process.kill()
            code = await process.wait()
            log.write(line)
            log.close()
            raise NodeFailed(
                f"node {self.index} did not start (exit status {code}; its log: {log.name})"
            )
        self.port = int(match.group(1))
        self.link_proxy.retarget(("127.0.0.1", self.port))
        self.process, self.stopped = process, False
        node_id = self.settings.workdir / f"node-{self.index}" / "node-id"
        name = node_id.read_text().strip() if node_id.exists() else ""
        self.history.add(NodeStart(self.index, int(process.pid), self.history.now(), name))
        nursery.start_soon(self._watch, process, log)

    async def _watch(self, process: trio.Process, log: IO[bytes]) -> None:
        """Drain the node's stdout into its log; record its exit."""
        assert process.stdout is not None
        try:
            async for chunk in process.stdout:
                log.write(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        code = await process.wait()
        log.close()
        pid = int(process.pid)
        self.history.add(NodeExit(self.index, pid, self.history.now(), code, pid in self.expected))
        if self.process is process:
            self.process = None

    def signal(self, signum: int, *, ends: bool = False) -> None:
        if self.process is not None and self.process.returncode is None:
            if ends:
                self.expected.add(int(self.process.pid))
            self.process.send_signal(signum)

    async def kill(self) -> None:
        process = self.process
        self.signal(signal.SIGKILL, ends=True)
        if process is not None:
            await process.wait()
        self.process = None

    async def terminate(self) -> None:
        """Graceful stop (SIGTERM: handoff), killed after 15 s."""
        process = self.process
        if process is None:
            return
        if self.stopped:
            self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM, ends=True)
        with trio.move_on_after(15):
            await process.wait()
        if process.returncode is None:
            await self.kill()


async def terminate_backends(settings: Settings, application_name: str) -> int:
    """pg_terminate_backend for every connection of one node; how many were terminated."""

    def run() -> int:
        with psycopg.connect(settings.pg_url, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                [application_name],
            ).fetchall()
            return sum(1 for (done,) in rows if done)

    return await trio.to_thread.run_sync(run)


#: What each fault kind takes hold of (see ``Node.locks``).
HOLDS = {
    "kill": "process",
    "stop": "process",
    "terminate": "store",
    "cut_store": "store",
    "hang_store": "store",
    "cut_link": "link",
}


async def inject(node: Node, fault: Planned, nursery: trio.Nursery) -> None:
    """Apply one planned fault to ``node`` (after any fault still holding the same part of
    it) and record it once it is over."""
    if fault.kind not in HOLDS:
        raise ValueError(f"unknown fault kind {fault.kind!r}")
    async with node.locks[HOLDS[fault.kind]]:
        await _inject(node, fault, nursery)


async def _inject(node: Node, fault: Planned, nursery: trio.Nursery) -> None:
    start = node.history.now()
    detail = ""
    if node.process is None and fault.kind in ("kill", "stop"):
        return  # a node that did not come back (recorded as a crash)
    if fault.kind == "kill":
        detail = f"pid {node.pid}"
        await node.kill()
        await trio.sleep(fault.duration)
        await node.restart(nursery)
        detail += f", restarted as {node.pid}"
    elif fault.kind == "stop":
        detail = f"pid {node.pid}"
        node.signal(signal.SIGSTOP)
        node.stopped = True
        await trio.sleep(fault.duration)
        node.signal(signal.SIGCONT)
        node.stopped = False
    elif fault.kind == "terminate":
        detail = f"{await terminate_backends(node.settings, node.application_name)} backends"
    else:
        proxy = node.link_proxy if fault.kind == "cut_link" else node.store_proxy
        proxy.hang() if fault.kind == "hang_store" else proxy.cut()
        await trio.sleep(fault.duration)
        proxy.restore()
    node.history.add(Fault(fault.kind, node.index, start, node.history.now(), detail))


async def heal(nodes: list[Node], nursery: trio.Nursery) -> None:
    """End every fault still going on: resume, reconnect, restart."""
    for node in nodes:
        node.store_proxy.restore()
        node.link_proxy.restore()
        if node.stopped:
            node.signal(signal.SIGCONT)
            node.stopped = False
        if node.process is None:
            await node.restart(nursery)


def describe(nodes: list[Node]) -> list[dict[str, Any]]:
    return [{"node": n.index, "port": n.port, "pid": n.pid} for n in nodes]
