"""Cold activations: how many new actors per second a node starts, and at what CPU cost.

The generator keeps 64 HTTP/1.1 keep-alive connections, each with one request in flight,
and every request names a key never used before (``GET /kv/k<i>``), so every request
activates a new actor: slot, instance, ``on_start`` (here one KV write, which creates the
actor's SQLite file), the request's turn, the response. Rows separate the costs:

* ``warm``: requests to 64 actors already in memory (HTTP and turn only, no activation);
* ``bare``: a new actor per request that never touches storage (the runtime's own cost);
* ``kv``: a new actor per request that creates its SQLite file, with the data directory on
  the real disk and, when /dev/shm is a tmpfs, in memory (file system cost apart);
* ``kv, disk, evicted``: requests cycling over 4,096 actors whose files exist (made by an
  unmeasured first pass) on a node keeping 256 in memory: every request activates an
  evicted actor, which reopens its file, and evicts another (``on_stop``, its file closed).

With ``ROOST_BENCH_BASE`` set (bench/servers.py: the ``roost`` executable of another build)
the ``kv, disk`` case runs with that build too (``kv, disk, base``), in the same run: the
"before" beside the "after" on the same noisy machine.

The server runs with ``--max-active-actors`` far above what a run activates, so no
eviction happens during the measurement (the handle pool does close SQLite files past its
256 open ones, as in production). After each run the harness checks the server's
``roost_activations_total`` against the requests made and counts the actor files on disk;
any mismatch fails the run.
"""

from functools import partial
from pathlib import Path
from typing import Any

import attrs

from bench import machine, probe
from bench.results import CPU_LEGEND, CPU_METRICS, Metric, Row
from bench.scenarios import Family, Scenario
from bench.scenarios.drive import Window, run_generator
from bench.servers import ROOST_BASE, BenchError, Server, roost_app, running
from bench.settings import Settings

CONNECTIONS = 64
NO_EVICTION = "1000000"  # --max-active-actors: far above what a run activates

FAMILY = Family(
    name="cold",
    title=f"Cold activations: a new key per HTTP request, {CONNECTIONS} keep-alive connections",
    legend=(
        "roost only (no peer has actors). activations/s: new actors started per second, one "
        "per request (warm: requests/s to actors already active, for reference); server "
        "µs/activation: server CPU time per request, and the part of it spent in the kernel "
        "(system calls: sockets, file creation, fsync); p50/p99: request latency. bare: the "
        "actor never touches storage; kv: its on_start writes one KV value, creating its "
        "SQLite file (WAL mode: the .sqlite, -wal and -shm files), data directory on the "
        "file system named in the note; kv, disk, base: the same served by the build that "
        "ROOST_BENCH_BASE names, in the same run. Server: `roost serve bench/apps/cold.py "
        f"--max-active-actors {NO_EVICTION}` (no eviction during a run). " + CPU_LEGEND
    ),
    metrics=(
        Metric("per_s", "activations/s"),
        Metric("server_us", "server µs/activation", 1),
        Metric("kernel_us", "of which kernel µs", 1),
        *CPU_METRICS,
        Metric("p50_ms", "p50 ms", 1),
        Metric("p99_ms", "p99 ms", 1),
    ),
)


def activations(server: Server, settings: Settings, *, name: str) -> list[Row]:
    """Run the warm, bare and kv cases (kv on disk and on tmpfs) and return their rows."""
    rows = [
        _case(settings, "warm", "bare", warm=True, data_root=None, name=name),
        _case(settings, "bare", "bare", warm=False, data_root=None, name=name),
        _case(settings, "kv, disk", "kv", warm=False, data_root=None, name=name),
    ]
    based = bool(ROOST_BASE and Path(ROOST_BASE).exists())
    if based:
        base = _case(
            settings, "kv, disk, base", "kv", warm=False, data_root=None, name=name, base=True
        )
        rows.append(base)
    rows.append(_evicted(settings, name=name))
    if based:
        rows.append(_evicted(settings, name=name, base=True))
    tmpfs = machine.tmpfs_root()
    if tmpfs is not None:
        rows.append(_case(settings, "kv, tmpfs", "kv", warm=False, data_root=tmpfs, name=name))
    return rows


#: Actors the evicted case cycles over, and how many the node keeps active meanwhile.
EVICTED_KEYS = 4096
EVICTED_ACTIVE = "256"


def _server(*flags: str, base: bool) -> Server:
    server = roost_app("cold", *flags)
    if base:  # the same app and flags, served by the other build
        command = server.command
        server = attrs.evolve(server, command=lambda launch: [ROOST_BASE, *command(launch)[1:]])
    return server


def _evicted(settings: Settings, *, name: str, base: bool = False) -> Row:
    """Requests cycling over EVICTED_KEYS existing actors, EVICTED_ACTIVE kept active."""
    case = "kv, disk, evicted" + (", base" if base else "")
    server = _server("--max-active-actors", EVICTED_ACTIVE, base=base)
    args = ["--http", str(CONNECTIONS), "--prefix", "/kv/", "--room-name", "k"]
    with running(server, settings.workdir, None) as srv:
        prepared = run_generator(srv, settings, [*args, "--count", str(EVICTED_KEYS)])
        if prepared.result["responses_total"] != EVICTED_KEYS:
            raise BenchError(f"{case}: prepared {prepared.result['responses_total']} actors")
        phases = ["--warmup", str(settings.warmup), "--duration", str(settings.duration)]
        run = run_generator(srv, settings, [*args, "--key-space", str(EVICTED_KEYS), *phases])
        result, cpu = run.result, run.window
        activated = probe.metrics(srv)["roost_activations_total"] - EVICTED_KEYS
        files = sum(1 for _ in (srv.data_dir / "actors").rglob("*.sqlite"))
        if files != EVICTED_KEYS:
            raise BenchError(f"{case}: {files} actor files on disk, expected {EVICTED_KEYS}")
        fs = machine.filesystem(srv.data_dir)
    note = (
        f"{EVICTED_KEYS:,} actors with files on {fs}, {EVICTED_ACTIVE} active; "
        f"{activated:,.0f} activations for {result['requests_total']:,} requests"
    )
    return _row(name, case, result, cpu, note)


def _row(name: str, case: str, result: dict[str, Any], cpu: Window, note: str) -> Row:
    responses = result["responses"]
    return Row(
        name,
        "roost",
        case=f"{name} {case}",
        values={
            "per_s": responses / result["measure_s"],
            "server_us": 1e6 * cpu.server_cpu / responses if responses else 0.0,
            "kernel_us": 1e6 * cpu.server_sys / responses if responses else 0.0,
            **cpu.values(),
            "p50_ms": result["lat_us"]["p50"] / 1000,
            "p99_ms": result["lat_us"]["p99"] / 1000,
        },
        note=note,
    )


def _case(
    settings: Settings,
    case: str,
    actor_type: str,
    *,
    warm: bool,
    data_root: Path | None,
    name: str,
    base: bool = False,
) -> Row:
    server = _server("--max-active-actors", NO_EVICTION, base=base)
    args = ["--http", str(CONNECTIONS), "--prefix", f"/{actor_type}/", "--room-name", "k"]
    if warm:
        args += ["--key-space", str(CONNECTIONS)]
    args += ["--warmup", str(settings.warmup), "--duration", str(settings.duration)]
    with running(server, settings.workdir, data_root) as srv:
        run = run_generator(srv, settings, args)
        result, cpu = run.result, run.window
        activated = probe.metrics(srv)["roost_activations_total"]
        expected = CONNECTIONS if warm else result["requests_total"]
        if activated != expected:
            raise BenchError(
                f"{case}: roost counted {activated:.0f} activations for {expected} new keys"
            )
        files = sum(1 for _ in (srv.data_dir / "actors").rglob("*.sqlite"))
        wanted_files = expected if actor_type == "kv" else 0
        if files != wanted_files:
            raise BenchError(f"{case}: {files} actor files on disk, expected {wanted_files}")
        fs = machine.filesystem(srv.data_dir)
    return _row(
        name,
        case,
        result,
        cpu,
        (
            f"{expected:,.0f} actors" + (f", {files:,} files on {fs}" if files else "")
            if not warm
            else f"{CONNECTIONS} actors, already active"
        ),
    )


SCENARIOS = (
    Scenario(
        "cold",
        FAMILY,
        "new actor per HTTP request: warm reference, no storage, SQLite file on disk/tmpfs",
        partial(activations, name="cold"),
        only=frozenset({"roost"}),
    ),
)
