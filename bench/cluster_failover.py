"""Failover time of a three-node cluster (issue 14, point 7): kill -9 and SIGTERM of an owner.

    .venv/bin/python -m bench.cluster_failover                        # 20 kills of each kind, TTL 3
    .venv/bin/python -m bench.cluster_failover --lease-ttl 10 --modes kill --kills 20

Three ``roost serve bench/apps/failover.py`` nodes share one PostgreSQL store (a fresh
schema) and a cluster secret, each with its own data directory and port. Each round takes a
new key, makes the round's victim own it (one HTTP rpc to the victim), and connects the
Python client (``roost.client.connect``) with the three node URLs, the victim's first, so the
client talks to the owner directly. One task calls ``where()`` back to back (the serving
process id); after half a second of answers the victim gets SIGKILL or SIGTERM, and the
round measures, from the signal:

* **detect**: the first call that failed (the client saw its connection go);
* **failover**: the first answer from another node's process (the figure with a target:
  kill -9 within ``lease_ttl`` + 2 s, SIGTERM under 1 s);
* for SIGTERM, **exit**: when the victim's process had exited (its graceful handoff done).

The victim claimed the key about 0.6 s before the signal, so a kill -9 round waits for a lease
renewed (or claimed) at most 0.6 s before: close to the worst case of ``lease_ttl``.

Then the victim is started again on its data directory and port (the same node id), and the
next round kills the next node. Rounds that see no answer within ``lease_ttl`` + 20 s count as
failed. Results are printed and, unless ``--no-record``, appended to BENCHMARKS.md.
"""

import argparse
import http.client
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import attrs
import trio

import roost.client
from bench import machine, pg, report
from bench.results import Metric, Row
from bench.scenarios import Family
from bench.servers import HOST, READY, REPO, ROOST, START_TIMEOUT, BenchError, free_port, log_tail

APP = "bench/apps/failover.py"
SECRET = "roost-bench-failover"
NODES = 3
STEADY = 0.5  # seconds of answers before the signal
CALL_GAP = 0.002  # seconds between two calls of the caller task
MODES = {"kill": signal.SIGKILL, "term": signal.SIGTERM}


@attrs.define
class Node:
    """One cluster node: its port and data directory stay the same across restarts."""

    index: int
    port: int
    data_dir: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def start(self, store: str, ttl: float) -> None:
        """Start the node and wait for its listening line (appended to its log)."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        argv = [
            str(ROOST), "serve", APP, "--host", HOST, "--port", str(self.port),
            "--data-dir", str(self.data_dir), "--store", store, "--cluster-secret", SECRET,
            "--lease-ttl", f"{ttl:g}",
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not READY.search(self.log.read_bytes()[offset:].decode(errors="replace")):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"node {self.index} did not start:\n{log_tail(self.log)}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@attrs.frozen
class Round:
    """One kill: seconds from the signal (None: never seen)."""

    victim: int
    detect: float | None
    failover: float | None
    exited: float | None


@contextmanager
def cluster(workdir: Path, store: str, ttl: float) -> Iterator[list[Node]]:
    """Three nodes on fixed ports and data directories; stopped gracefully on exit."""
    nodes = [
        Node(i, free_port(), workdir / f"node-{i}", workdir / f"node-{i}.log") for i in range(NODES)
    ]
    try:
        for node in nodes:
            node.start(store, ttl)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def http_where(node: Node, key: str) -> int:
    """Call ``where`` over HTTP rpc on ``node``: the actor's process id (it claims the key)."""
    connection = http.client.HTTPConnection(HOST, node.port, timeout=30)
    try:
        connection.request(
            "POST", f"/probe/{key}/rpc/where", b"{}", {"content-type": "application/json"}
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise BenchError(f"where() on node {node.index}: {response.status} {body[:200]!r}")
    return int(json.loads(body)["value"])


async def one_round(nodes: list[Node], victim: Node, key: str, sig: int, ttl: float) -> Round:
    """Make ``victim`` own ``key``, call it through the client, signal it, time the move."""
    assert victim.proc is not None
    victim_pid = victim.proc.pid
    if await trio.to_thread.run_sync(http_where, victim, key) != victim_pid:
        raise BenchError(f"node {victim.index} does not serve {key} itself")
    order = nodes[victim.index :] + nodes[: victim.index]
    urls = [roost.client.actor_url(node.url, "probe", key) for node in order]
    signalled = detect = failover = exited = None
    ready = trio.Event()

    async def caller() -> None:
        nonlocal detect, failover
        while failover is None:
            try:
                pid = await actor.call("where")
            except roost.client.Unavailable:
                if signalled is not None and detect is None:
                    detect = time.monotonic() - signalled
                await trio.sleep(CALL_GAP)
                continue
            if pid == victim_pid:
                ready.set()
            elif signalled is not None:
                failover = time.monotonic() - signalled
            await trio.sleep(CALL_GAP)

    async with roost.client.connect(urls) as actor:
        with trio.move_on_after(ttl + 20):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(caller)
                await ready.wait()
                await trio.sleep(STEADY)
                signalled = time.monotonic()
                os.kill(victim_pid, sig)
                code = await trio.to_thread.run_sync(victim.proc.wait)
                exited = time.monotonic() - signalled
                if sig == signal.SIGTERM and code != 0:
                    raise BenchError(f"node {victim.index} exited with {code} after SIGTERM")
    return Round(victim.index, detect, failover, exited if sig == signal.SIGTERM else None)


async def measure(nodes: list[Node], store: str, mode: str, ttl: float, kills: int) -> list[Round]:
    rounds = []
    for number in range(kills):
        victim = nodes[number % NODES]
        key = f"{mode}-ttl{ttl:g}-{number}-{time.time_ns()}"
        result = await one_round(nodes, victim, key, MODES[mode], ttl)
        rounds.append(result)
        shown = {k: v for k, v in attrs.asdict(result).items() if v is not None}
        print(f"  {mode} #{number + 1} (ttl {ttl:g}): {shown}", file=sys.stderr, flush=True)
        await trio.to_thread.run_sync(victim.start, store, ttl)
        await trio.sleep(1.0)  # the restarted node rejoins (links, heartbeats) before the next
    return rounds


FAMILY = Family(
    name="failover",
    title="Failover of a three-node cluster (PostgreSQL): seconds from the signal",
    legend=(
        "roost only. Each row: one kind of kill of the actor's owner, over the rounds named "
        "(each a new key, owned by the round's victim, the nodes killed in turn and restarted "
        "between rounds). Client: roost.client.connect with the three node URLs, the owner's "
        "first, calling where() back to back. detect: first failed call; failover: first "
        "answer from another node (p50, p99, max); exit: the SIGTERM'd node's process gone "
        "(its handoff done). Target: kill -9 within lease_ttl + 2 s, SIGTERM under 1 s. The "
        "victim claimed the key about 0.6 s before the signal (and renews every lease_ttl / 3), "
        "so kill -9 figures sit near the worst case, lease_ttl - 0.6 s to lease_ttl: an actor "
        "held for long moves anywhere from lease_ttl x 2/3 to lease_ttl after the kill."
    ),
    metrics=(
        Metric("rounds", "rounds"),
        Metric("detect_p50", "detect p50 s", 3),
        Metric("failover_p50", "failover p50 s", 3),
        Metric("failover_p99", "failover p99 s", 3),
        Metric("failover_max", "failover max s", 3),
        Metric("failover_min", "failover min s", 3),
        Metric("exit_p50", "exit p50 s", 3),
    ),
)


def row(mode: str, ttl: float, rounds: list[Round]) -> Row:
    times = sorted(r.failover for r in rounds if r.failover is not None)
    failed = len(rounds) - len(times)
    target = ttl + 2 if mode == "kill" else 1.0
    values: dict[str, float] = {"rounds": float(len(rounds))}
    if times:
        values |= {
            "failover_p50": statistics.median(times),
            "failover_p99": _percentile(times, 0.99),
            "failover_max": times[-1],
            "failover_min": times[0],
        }
    detects = [r.detect for r in rounds if r.detect is not None]
    exits = [r.exited for r in rounds if r.exited is not None]
    if detects:
        values["detect_p50"] = statistics.median(detects)
    if exits:
        values["exit_p50"] = statistics.median(exits)
    over = sum(1 for t in times if t > target)
    note = f"target {target:g} s: " + ("met" if not over and not failed else f"{over} over")
    if failed:
        note += f"; {failed} round(s) saw no answer"
    name = "kill -9" if mode == "kill" else "SIGTERM"
    return Row("failover", "roost", values, note=note, case=f"{name}, --lease-ttl {ttl:g}")


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values (p99 of 20 rounds is their maximum)."""
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_failover")
    parser.add_argument("--kills", type=int, default=20, help="rounds per kind (default 20)")
    parser.add_argument("--lease-ttl", type=float, default=3.0)
    parser.add_argument("--modes", default="kill,term", help="kill (SIGKILL), term (SIGTERM)")
    parser.add_argument("--no-record", action="store_true", help="do not append BENCHMARKS.md")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        parser.error(f"--modes: choose among {', '.join(MODES)}")
    reason = pg.missing()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    facts = machine.describe()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="roost-failover-"))
    rows = []
    with pg.fresh_schema("roost_bench_failover", "roost-bench-failover") as store:
        with cluster(workdir, store, args.lease_ttl) as nodes:
            for mode in modes:
                rounds = trio.run(measure, nodes, store, mode, args.lease_ttl, args.kills)
                rows.append(row(mode, args.lease_ttl, rounds))
    facts += [
        f"command: `python -m bench.cluster_failover {' '.join(argv or sys.argv[1:])}`",
        f"nodes: {NODES} x `roost serve {APP} --store postgresql://... --cluster-secret S "
        f"--lease-ttl {args.lease_ttl:g}`; node logs in {workdir}",
        f"whole run {time.monotonic() - started:.0f} s",
    ]
    title = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, cluster failover"
    text = report.render_run(title, facts, [report.render_family(FAMILY, rows, "roost")])
    print(text)
    if not args.no_record:
        report.append(REPO / "BENCHMARKS.md", text)
    return 0 if all("met" in r.note for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
