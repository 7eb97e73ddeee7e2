"""The Yjs workload: 20 real Yjs clients editing one shared text concurrently, until they agree.

Contenders, one after another in the same run, each started fresh:

* ``roost``: ``roost serve bench/apps/yjs.py`` (``YjsActor``, the y-websocket protocol);
* ``y-websocket``: the Node reference server, ``@y/websocket-server`` 0.1.1's
  ``setupWSConnection`` on ``ws`` (bench/peers/y_websocket.mjs), no persistence;
* ``hocuspocus``: ``@hocuspocus/server`` with its defaults (bench/peers/hocuspocus.mjs), driven
  through ``@hocuspocus/provider`` (its own protocol);
* ``pycrdt-websocket``: its ``WebsocketServer`` behind Python ``websockets``
  (bench/peers/pycrdt_ws.py).

The generator (bench/loadgen/yjs.mjs, Node, the real ``yjs`` with y-websocket's
``WebsocketProvider`` or ``@hocuspocus/provider``) repeats: fresh documents, 20 clients on each,
all synced; every client sends its share of the 1,000 inserts of a 7-character token at random
(seeded) positions of one Y.Text, all back to back (burst: every edit is made before any update
from the server is applied); then it waits until every client holds every edit and checks that
all texts and state vectors are identical, of the expected length and content; any difference,
closed connection or timeout fails the contender. CPU is sampled from the start of the edits
to convergence of each repetition. Figures are medians over the measured repetitions, after
warm-up repetitions on the same server.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import attrs

from bench.results import CPU_LEGEND, CPU_METRICS, Metric, Row
from bench.scenarios import Family, Scenario
from bench.scenarios.drive import Sample, Window
from bench.servers import (
    BENCH,
    NODE,
    PEERS,
    PYTHON,
    REPO,
    BenchError,
    Running,
    Server,
    log_tail,
    node_version,
    python_version,
    roost_app,
    running,
)
from bench.settings import Settings

LOADGEN = BENCH / "loadgen" / "yjs.mjs"
CLIENTS = 20
EDITS = 1000  # per document
REFERENCE = "y-websocket"  # the target: roost converges no slower than this one
CLIENT_PACKAGES = ("yjs", "y-websocket", "@hocuspocus/provider", "ws")
#: (warm-up, measured) repetitions: quick and full runs.
REPS = {True: (1, 5), False: (2, 15)}
REPS_MULTI = {True: (1, 3), False: (1, 7)}
GEN_TIMEOUT_S = 60  # per sync or convergence wait, inside the generator

FAMILY = Family(
    name="yjs",
    title=f"Yjs: {CLIENTS} clients per document, {EDITS:,} concurrent edits per document",
    legend=(
        "Each repetition: fresh documents, 20 clients each (real `yjs` + y-websocket's "
        "WebsocketProvider; @hocuspocus/provider for hocuspocus) synced first, then every "
        "client inserts its share of the 1,000 7-character tokens at random positions of one "
        "Y.Text, back to back, before applying anything received (all edits concurrent); the "
        "run fails unless every client ends with the identical text of the right length and "
        "content. converge ms: from the last edit sent to the moment the last client holds "
        "every edit (median over repetitions; the target is roost no slower than y-websocket, "
        "the Node reference server); total ms: first edit to convergence; updates relayed/s: "
        "edits delivered to other clients (1,000 x 19 per document) over total ms; "
        "update msgs/edit: Yjs update messages the clients received per edit (20 when the "
        "server echoes to the sender as y-websocket does, 19 without echo, fewer when it "
        "merges updates as hocuspocus does); p50/p99: per (edit, receiving client), from the "
        "edit to its integration at the receiver, pooled over repetitions, generator queueing "
        "included; server µs/edit: server CPU from the first edit to convergence, per edit. "
        "The generator is one Node process applying every update at all 20 clients: when its "
        "CPU nears 100 % it, not the server, sets the pace. " + CPU_LEGEND
    ),
    metrics=(
        Metric("converge_ms", "converge ms", 0, ratio=True),
        Metric("total_ms", "total ms", 0),
        Metric("relayed_per_s", "updates relayed/s", 0, ratio=True),
        Metric("msgs_per_edit", "update msgs/edit", 2),
        Metric("p50_ms", "p50 ms", 0),
        Metric("p99_ms", "p99 ms", 0),
        Metric("server_us_per_edit", "server µs/edit", 0, ratio=True),
        *CPU_METRICS,
    ),
)


@attrs.frozen
class Contender:
    """One Yjs server: how to start it, which client protocol drives it, why it cannot run."""

    name: str
    server: Server
    protocol: str  # the generator's --protocol: "y-websocket" or "hocuspocus"
    missing: Callable[[], str | None]
    describe: Callable[[], str]


def _node_packages_missing(*packages: str) -> str | None:
    if not shutil.which("node"):
        return "node is not installed"
    absent = [p for p in packages if not (BENCH / "node_modules" / p / "package.json").exists()]
    if absent:
        return f"bench/node_modules lacks {', '.join(absent)}: run `npm ci` in bench/"
    return None


def _python_missing(module: str) -> str | None:
    from importlib.util import find_spec

    try:
        found = find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    return None if found else f"Python package {module} is not installed"


def _roost_missing(server: Server) -> str | None:
    if not (REPO / "actors" / "yjs.py").exists():
        return "actors/yjs.py does not exist yet"
    return server.missing()


def _node_peer(name: str, script: str) -> Server:
    return Server(
        name=name,
        protocol="ws",
        command=lambda launch: [NODE, str(PEERS / script), launch.host, str(launch.port)],
        missing=lambda: None,
        describe=lambda: name,
    )


_ROOST = roost_app("yjs")
CONTENDERS = (
    Contender(
        "roost",
        _ROOST,
        "y-websocket",
        lambda: _roost_missing(_ROOST),
        lambda: (
            f"roost {python_version('roost')} bench/apps/yjs.py, pycrdt {python_version('pycrdt')}"
        ),
    ),
    Contender(
        "y-websocket",
        _node_peer("y-websocket", "y_websocket.mjs"),
        "y-websocket",
        lambda: _node_packages_missing("@y/websocket-server"),
        lambda: (
            f"@y/websocket-server {node_version('@y/websocket-server')}, yjs {node_version('yjs')}"
        ),
    ),
    Contender(
        "hocuspocus",
        _node_peer("hocuspocus", "hocuspocus.mjs"),
        "hocuspocus",
        lambda: _node_packages_missing("@hocuspocus/server"),
        lambda: (
            f"@hocuspocus/server {node_version('@hocuspocus/server')}, yjs {node_version('yjs')}"
        ),
    ),
    Contender(
        "pycrdt-websocket",
        Server(
            name="pycrdt-websocket",
            protocol="ws",
            command=lambda launch: [
                PYTHON,
                str(PEERS / "pycrdt_ws.py"),
                launch.host,
                str(launch.port),
            ],
            missing=lambda: None,
            describe=lambda: "pycrdt-websocket",
        ),
        "y-websocket",
        lambda: _python_missing("pycrdt.websocket"),
        lambda: (
            f"pycrdt-websocket {python_version('pycrdt-websocket')} on websockets "
            f"{python_version('websockets')}, pycrdt {python_version('pycrdt')}"
        ),
    ),
)


def yjs(
    docs: int, reps: dict[bool, tuple[int, int]], server: Server, settings: Settings, *, name: str
) -> list[Row]:
    """Run every contender through ``docs`` documents x 20 clients; one row each."""
    warmup, measured = reps[settings.quick]
    generator_missing = _node_packages_missing(*CLIENT_PACKAGES)
    rows: list[Row] = []
    for contender in CONTENDERS:
        reason = generator_missing or contender.missing()
        if reason:
            rows.append(Row(name, contender.name, note=f"not run: {reason}"))
            continue
        try:
            rows.append(_contend(contender, settings, name, docs, warmup, measured))
        except BenchError as error:
            rows.append(Row(name, contender.name, error=str(error)))
    return _with_target(rows)


def _contend(
    contender: Contender, settings: Settings, name: str, docs: int, warmup: int, measured: int
) -> Row:
    args = [
        "--protocol",
        contender.protocol,
        "--docs",
        str(docs),
        "--clients",
        str(CLIENTS),
        "--edits",
        str(EDITS),
        "--reps",
        str(measured),
        "--warmup-reps",
        str(warmup),
        "--timeout",
        str(GEN_TIMEOUT_S),
        "--interactive",
    ]
    with running(contender.server, settings.workdir) as srv:
        reps, result, windows = _drive(srv, settings, args)
    edits = sum(rep["edits"] for rep in reps)
    server_cpu = sum(window.server_cpu for window in windows)
    wall = sum(window.wall for window in windows)
    cpu = Window(
        wall,
        server_cpu,
        sum(window.generator_cpu for window in windows),
        sum(window.other_cpu for window in windows),
    )
    return Row(
        name,
        contender.name,
        {
            "converge_ms": statistics.median(rep["converge_ms"] for rep in reps),
            "total_ms": statistics.median(rep["total_ms"] for rep in reps),
            "relayed_per_s": statistics.median(
                1000 * rep["deliveries"] / rep["total_ms"] for rep in reps
            ),
            "msgs_per_edit": statistics.median(rep["update_frames"] / rep["edits"] for rep in reps),
            "p50_ms": result["lat_ms"]["p50"],
            "p99_ms": result["lat_ms"]["p99"],
            "server_us_per_edit": 1e6 * server_cpu / edits if edits else 0.0,
            **cpu.values(),
        },
        note=f"{contender.describe()}; median of {len(reps)} (+{warmup} warm-up)",
    )


def _drive(
    srv: Running, settings: Settings, args: list[str]
) -> tuple[list[dict[str, Any]], dict[str, Any], list[Window]]:
    """Run the generator against ``srv``; sample CPU from each repetition's first edit to its
    convergence. Returns the measured repetitions, the final result and the CPU windows."""
    argv = [NODE, str(LOADGEN), "--host", "127.0.0.1", "--port", str(srv.port), *args]
    stderr_path = settings.workdir / f"yjs-gen-{srv.server.name}-{srv.port}.err"
    reps: list[dict[str, Any]] = []
    windows: list[Window] = []
    result: dict[str, Any] | None = None
    with stderr_path.open("w") as stderr:
        gen = subprocess.Popen(
            argv,
            cwd=BENCH,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            bufsize=1,
        )
        assert gen.stdin is not None and gen.stdout is not None
        try:
            start: Sample | None = None
            window: Window | None = None
            for line in gen.stdout:
                event = json.loads(line)
                kind = event["event"]
                if kind == "ready":
                    start = Sample.take(srv.pid, gen.pid)
                    gen.stdin.write("\n")
                    gen.stdin.flush()
                elif kind == "converged" and start is not None:
                    window = Window.between(start, Sample.take(srv.pid, gen.pid))
                elif kind == "rep":
                    if not event["warmup"] and window is not None:
                        reps.append(event)
                        windows.append(window)
                    start = window = None
                elif kind == "result":
                    result = event
            gen.stdin.close()
            code = gen.wait(30)
        finally:
            if gen.poll() is None:
                gen.kill()
                gen.wait()
    if result is None or code != 0 or result.get("errors") or not reps:
        what = (
            f"{result.get('message', '')} {result.get('error_kinds')}"
            if result
            else f"no result (exit code {code})"
        )
        raise BenchError(
            f"{srv.server.name} failed the Yjs check: {what}\n"
            f"generator: {' '.join(argv)}\n{_head(stderr_path)}\n"
            f"server log ({srv.log}):\n{log_tail(srv.log)}"
        )
    return reps, result, windows


def _head(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[:lines])
    except OSError:
        return ""


def _with_target(rows: list[Row]) -> list[Row]:
    """Say in roost's note whether it converges no slower than the Node reference server."""
    by_server = {row.server: row for row in rows}
    roost, reference = by_server.get("roost"), by_server.get(REFERENCE)
    if roost is None or reference is None or roost.error or reference.error:
        return rows
    mine, theirs = roost.values.get("converge_ms"), reference.values.get("converge_ms")
    if mine is None or not theirs:
        return rows
    verdict = "met" if mine <= theirs else "NOT met"
    note = f"{roost.note}; target converge ≤ {REFERENCE}: {verdict} ({mine / theirs:.2f}x)"
    return [attrs.evolve(row, note=note) if row is roost else row for row in rows]


SCENARIOS = (
    Scenario(
        "yjs",
        FAMILY,
        f"{CLIENTS} Yjs clients, {EDITS:,} concurrent edits on one document: roost against "
        "@y/websocket-server, hocuspocus and pycrdt-websocket",
        partial(yjs, 1, REPS, name="yjs"),
        only=frozenset({"roost"}),
    ),
    Scenario(
        "yjs-5docs",
        FAMILY,
        f"5 documents x {CLIENTS} Yjs clients, {EDITS:,} concurrent edits on each, same servers",
        partial(yjs, 5, REPS_MULTI, name="yjs-5docs"),
        only=frozenset({"roost"}),
    ),
)
