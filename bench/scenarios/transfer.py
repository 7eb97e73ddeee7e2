"""The "transfer" workload (SpacetimeDB's keynote-2 benchmark): roost against HTTP + database.

One ledger of 100,000 accounts. 64 clients, each with one call in flight, call
``transfer(from_account, to_account, amount)``; accounts are drawn by Zipf with alpha 0
(uniform) and 1.5 (a few hot accounts), ``from != to``, amount 1..100; the generator's draws
are seeded, so every contender gets the same sequence. Every transfer is durable (committed)
before its reply. Contenders, one after another in the same run:

* ``roost``: examples/ledger.py, the CBOR envelope over WebSockets (``roost.v1.cbor``), SQLite
  ``synchronous=NORMAL`` (the default); ``roost FULL``: the same with ``ROOST_SYNCHRONOUS=FULL``;
  ``roost http``: the same server through its HTTP rpc (``POST /ledger/main/rpc/transfer``),
  the baselines' transport, for reference;
* ``sqlite``: an aiohttp server (uvloop, one process) doing the transfer in one SQLite
  transaction per request on its one connection, WAL, ``synchronous=NORMAL``;
* ``postgres``: the same HTTP server calling a plpgsql function once per request through an
  asyncpg pool, ``synchronous_commit=off``; ``postgres sync``: ``synchronous_commit=on``
  (PostgreSQL's default), the like-for-like comparison with ``roost FULL``.

Each contender starts fresh (accounts created before the generator connects), runs alpha 0
then alpha 1.5, and must then report a total balance equal to the initial one; any
difference fails the run. Server CPU includes, for PostgreSQL, the backends of the server's
pool and PostgreSQL's background processes (WAL writer, checkpointer, ...).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Callable
from functools import partial
from typing import Any

import attrs

from bench import pg, proc
from bench.loadgen import Generator
from bench.results import CPU_LEGEND, CPU_METRICS, Metric, Row
from bench.scenarios import Family, Scenario
from bench.scenarios.drive import check
from bench.servers import (
    HOST,
    PEERS,
    PYTHON,
    ROOST,
    ROOST_BASE,
    BenchError,
    Launch,
    Running,
    Server,
    log_tail,
    python_version,
    roost_base_missing,
    running,
)
from bench.settings import Settings

CLIENTS = 64
ACCOUNTS = 100_000
BALANCE = 1_000_000
ALPHAS = (0.0, 1.5)
SEED = 20240917
#: Offered calls/s of the open-loop scenario (both below every contender's saturation).
RATES = (2_000, 5_000)
PG_DSN = pg.PG_DSN
PG_POOL = 16
TARGETS = {"postgres": 5.0, "sqlite": 3.0}  # roost's TPS over theirs, the targets

FAMILY = Family(
    name="transfer",
    title=(
        f"Transfer: {ACCOUNTS:,} accounts in one ledger, {CLIENTS} clients with one transfer "
        "in flight each"
    ),
    legend=(
        "SpacetimeDB's keynote-2 'transfer' workload. TPS: transfers/s, each committed before "
        "its reply; server µs/transfer: CPU of the server's processes per transfer (for "
        "PostgreSQL, the HTTP server plus its pool's backends and PostgreSQL's background "
        "processes), and its kernel part; gen µs: the load generator's CPU per transfer; "
        "p50/p99: latency seen by the client; roost/this: the comparable roost row's TPS over this "
        "row's (roost FULL for `postgres sync`, roost for the others). Accounts drawn by Zipf "
        "(alpha 0: uniform; 1.5: hot accounts), from != to, seeded. roost: "
        "`roost serve examples/ledger.py`, CBOR envelope over WebSockets (roost http: the same "
        "over HTTP rpc). Baselines: bench/peers/transfer_http.py, aiohttp on uvloop, one "
        f"process, HTTP/1.1 keep-alive; postgres: asyncpg pool of {PG_POOL}, one plpgsql "
        "function call per transfer; sqlite: one connection, one transaction per request. "
        "Durability: roost and sqlite synchronous=NORMAL (WAL; a commit survives a crash of "
        "the process, not a power loss or OS crash: no fsync per commit); roost FULL fsyncs "
        "every commit; postgres synchronous_commit=off (the reply may precede the WAL write: "
        "a crash of PostgreSQL or the OS can lose the last ~0.6 s, weaker than NORMAL); "
        "postgres sync: synchronous_commit=on, the default (WAL fsynced before the reply, "
        "concurrent commits share an fsync). " + CPU_LEGEND
    ),
    metrics=(
        Metric("tps", "TPS", 0, ratio=True),
        Metric("roost_x", "roost/this", 2),
        Metric("server_us", "server µs/transfer", 1),
        Metric("kernel_us", "of which kernel µs", 1),
        Metric("gen_us", "gen µs/transfer", 1),
        *CPU_METRICS,
        Metric("p50_ms", "p50 ms", 2),
        Metric("p99_ms", "p99 ms", 2),
    ),
)


@attrs.frozen
class Contender:
    """One way to serve the ledger.

    Attributes:
        name: server column of the table.
        server: how to start it.
        protocol: "rpc" (CBOR envelope over WebSockets) or "http" (POST with a JSON body).
        path: the WebSocket path or the POST target.
        durability: the note of its rows.
        compare_to: the roost contender its "roost/this" column divides (None: none).
        missing: why it cannot run here, or None.
    """

    name: str
    server: Server
    protocol: str
    path: str
    durability: str
    compare_to: str | None
    missing: Callable[[], str | None]


def _roost_server(
    name: str, synchronous: str, roost: str = str(ROOST), *, durable: bool = False
) -> Server:
    env = shutil.which("env") or "/usr/bin/env"

    def command(launch: Launch) -> list[str]:
        extra = ["--durable", "--store", _fresh_pg_schema(launch)] if durable else []
        return [
            env,
            f"ROOST_SYNCHRONOUS={synchronous}",
            f"ROOST_LEDGER_ACCOUNTS={ACCOUNTS}",
            f"ROOST_LEDGER_BALANCE={BALANCE}",
            roost,
            "serve",
            "examples/ledger.py",
            "--host",
            launch.host,
            "--port",
            str(launch.port),
            "--data-dir",
            str(launch.data_dir),
            *extra,
        ]

    return Server(
        name=name,
        protocol="ws",
        command=command,
        missing=lambda: None,
        describe=lambda: f"roost {python_version('roost')} examples/ledger.py",
    )


def _fresh_pg_schema(launch: Launch) -> str:
    """A new PostgreSQL schema for one durable run (its log and images), as a store URL."""
    import psycopg

    schema = f"roost_bench_{abs(hash(str(launch.data_dir))) % 10**10}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{PG_DSN}?options=-csearch_path%3D{schema}"


def _baseline_server(name: str, backend: str, **env: str) -> Server:
    envcmd = shutil.which("env") or "/usr/bin/env"
    settings = {"BENCH_ACCOUNTS": str(ACCOUNTS), "BENCH_BALANCE": str(BALANCE), **env}

    def command(launch: Launch) -> list[str]:
        return [
            envcmd,
            *(f"{key}={value}" for key, value in settings.items()),
            PYTHON,
            str(PEERS / "transfer_http.py"),
            backend,
            launch.host,
            str(launch.port),
            str(launch.data_dir),
        ]

    return Server(
        name=name,
        protocol="ws",
        command=command,
        missing=lambda: None,
        describe=lambda: f"aiohttp {python_version('aiohttp')} + {backend}",
    )


def _python_missing(*modules: str) -> str | None:
    from importlib.util import find_spec

    absent = [module for module in modules if find_spec(module) is None]
    return f"Python packages missing: {', '.join(absent)}" if absent else None


def _pg_reachable() -> str | None:
    return pg.missing()


def _postgres_missing() -> str | None:
    return _python_missing("aiohttp", "asyncpg", "uvloop", "psycopg") or pg.missing()


CONTENDERS = (
    Contender(
        "roost",
        _roost_server("roost", "NORMAL"),
        "rpc",
        "/ledger/main",
        "synchronous=NORMAL",
        None,
        lambda: None,
    ),
    Contender(  # another build in the same run, for before/after (see bench/servers.py)
        "roost-base",
        _roost_server("roost-base", "NORMAL", ROOST_BASE),
        "rpc",
        "/ledger/main",
        "synchronous=NORMAL, the build compared against",
        "roost",
        roost_base_missing,
    ),
    Contender(
        "roost durable",
        _roost_server("roost durable", "NORMAL", durable=True),
        "rpc",
        "/ledger/main",
        "--durable: every commit in PostgreSQL (synchronous_commit on) before its reply",
        "roost",
        lambda: _python_missing("psycopg") or _pg_reachable(),
    ),
    Contender(
        "roost FULL",
        _roost_server("roost FULL", "FULL"),
        "rpc",
        "/ledger/main",
        "synchronous=FULL (fsync per commit)",
        None,
        lambda: None,
    ),
    Contender(
        "roost http",
        _roost_server("roost http", "NORMAL"),
        "http",
        "/ledger/main/rpc/transfer",
        "synchronous=NORMAL, HTTP rpc",
        "roost",
        lambda: None,
    ),
    Contender(
        "roost-base http",
        _roost_server("roost-base http", "NORMAL", ROOST_BASE),
        "http",
        "/ledger/main/rpc/transfer",
        "synchronous=NORMAL, HTTP rpc, the build compared against",
        "roost http",
        roost_base_missing,
    ),
    Contender(
        "sqlite",
        _baseline_server("sqlite", "sqlite", BENCH_SQLITE_SYNCHRONOUS="NORMAL"),
        "http",
        "/transfer",
        "synchronous=NORMAL",
        "roost",
        lambda: _python_missing("aiohttp", "uvloop"),
    ),
    Contender(
        "postgres",
        _baseline_server(
            "postgres", "postgres", BENCH_PG_SYNCHRONOUS_COMMIT="off", BENCH_PG_POOL=str(PG_POOL)
        ),
        "http",
        "/transfer",
        "synchronous_commit=off",
        "roost",
        _postgres_missing,
    ),
    Contender(
        "postgres sync",
        _baseline_server(
            "postgres sync",
            "postgres",
            BENCH_PG_SYNCHRONOUS_COMMIT="on",
            BENCH_PG_POOL=str(PG_POOL),
        ),
        "http",
        "/transfer",
        "synchronous_commit=on (fsync per commit, shared)",
        "roost FULL",
        _postgres_missing,
    ),
)


def transfers(server: Server, settings: Settings, *, name: str) -> list[Row]:
    """Run every contender through alpha 0 and 1.5; return rows ordered by alpha."""
    return _with_ratios(_run_contenders(settings, name, rates=(None,)))


def transfers_at_rates(server: Server, settings: Settings, *, name: str) -> list[Row]:
    """The same at fixed offered rates (open loop): latency at a given load, not at
    saturation, where a closed loop's latency is its clients over its throughput.
    BENCH_TRANSFER_RATES="2000,5000" (calls/s) chooses the rates."""
    raw = os.environ.get("BENCH_TRANSFER_RATES", "")
    rates = tuple(int(r) for r in raw.split(",") if r.strip()) or RATES
    return _run_contenders(settings, name, rates=rates)


def _run_contenders(settings: Settings, name: str, *, rates: tuple[int | None, ...]) -> list[Row]:
    rows: list[Row] = []
    # BENCH_TRANSFER_ONLY="roost,roost durable": only these contenders (a shorter run).
    only = {n.strip() for n in os.environ.get("BENCH_TRANSFER_ONLY", "").split(",") if n.strip()}
    for contender in CONTENDERS:
        if only and contender.name not in only:
            continue
        reason = contender.missing()
        if reason:
            rows += [
                Row(name, contender.name, case=_case(name, alpha, rate), note=f"not run: {reason}")
                for alpha in ALPHAS
                for rate in rates
            ]
            continue
        rows += _contend(contender, settings, name, rates)
    return sorted(rows, key=lambda row: row.case.split("alpha=")[1])  # stable: contenders in order


def _case(name: str, alpha: float, rate: int | None = None) -> str:
    return f"{name} alpha={alpha:g}" + ("" if rate is None else f" at {rate:,}/s")


def _contend(
    contender: Contender, settings: Settings, name: str, rates: tuple[int | None, ...]
) -> list[Row]:
    with running(contender.server, settings.workdir) as srv:
        initial = _total(srv, contender)  # also creates the accounts (roost: activates)
        if initial != {"total": ACCOUNTS * BALANCE, "accounts": ACCOUNTS}:
            raise BenchError(f"{contender.name}: ledger starts as {initial}")
        extra = _postgres_pids(srv)
        rows = [
            _measure(contender, srv, settings, name, alpha, extra, rate)
            for alpha in ALPHAS
            for rate in rates
        ]
        final = _total(srv, contender)
        if final != initial:
            raise BenchError(
                f"{contender.name}: TOTAL CHANGED: {initial} before the transfers, {final} "
                f"after\nserver log ({srv.log}):\n{log_tail(srv.log)}"
            )
    return rows


def _measure(
    contender: Contender,
    srv: Running,
    settings: Settings,
    name: str,
    alpha: float,
    extra_pids: Callable[[], list[int]] | None,
    rate: int | None = None,
) -> Row:
    args = ["--rpc" if contender.protocol == "rpc" else "--http", str(CLIENTS)]
    if rate is not None:
        args += ["--rate", str(rate)]
    if contender.protocol == "http":
        args.append("--transfer")
    args += [
        "--prefix",
        contender.path,
        "--accounts",
        str(ACCOUNTS),
        "--alpha",
        f"{alpha:g}",
        "--seed",
        str(SEED),
        "--warmup",
        str(settings.warmup),
        "--duration",
        str(settings.duration),
    ]
    result, cpu = _drive(srv, settings, args, extra_pids)
    done = result["responses"]
    per = 1e6 / done if done else 0.0
    return Row(
        name,
        contender.name,
        case=_case(name, alpha, rate),
        values={
            "tps": done / result["measure_s"],
            "server_us": cpu["server"] * per,
            "kernel_us": cpu["server_sys"] * per,
            "gen_us": cpu["generator"] * per,
            "server_cpu_pct": 100 * cpu["server"] / cpu["wall"],
            "generator_cpu_pct": 100 * cpu["generator"] / cpu["wall"],
            "other_cpu_pct": 100 * cpu["other"] / cpu["wall"],
            "p50_ms": result["lat_us"]["p50"] / 1000,
            "p99_ms": result["lat_us"]["p99"] / 1000,
        },
        note=(
            ("" if rate is None else f"open loop, {rate:,} calls/s offered; ")
            + f"{contender.durability}; {done:,} transfers"
        ),
    )


def _drive(
    srv: Running,
    settings: Settings,
    args: list[str],
    extra_pids: Callable[[], list[int]] | None,
) -> tuple[dict[str, Any], dict[str, float]]:
    """Run the generator; CPU of the server (plus ``extra_pids``) and of the generator
    between its measure and drain marks."""
    pids = extra_pids() if extra_pids else []

    def sample(generator_pid: int) -> tuple[float, ...]:
        import time

        user, system = proc.cpu_split(proc.process_tree(srv.pid) + pids)
        return (
            time.monotonic(),
            user + system,
            system,
            proc.cpu_seconds([generator_pid]),
            proc.machine_busy_seconds(),
        )

    with Generator(settings.generator, srv, args, settings.workdir) as gen:
        marks: dict[str, tuple[float, ...]] = {}
        result: dict[str, Any] | None = None
        for event in gen.events():
            if event["event"] == "phase":
                marks[event["phase"]] = sample(gen.pid)
            elif event["event"] == "result":
                result = event
        code = gen.finish()
        check(srv, gen, result, code)
    assert result is not None
    start, end = marks["measure"], marks["drain"]
    wall, server, server_sys, generator, busy = (b - a for a, b in zip(start, end, strict=True))
    return result, {
        "wall": wall,
        "server": server,
        "server_sys": server_sys,
        "generator": generator,
        "other": max(0.0, busy - server - generator),
    }


def _total(srv: Running, contender: Contender) -> dict[str, int]:
    """The ledger's total and account count, asked over HTTP."""
    base = f"http://{HOST}:{srv.port}"
    try:
        if contender.name.startswith("roost"):
            values = {}
            for method in ("total", "accounts"):
                request = urllib.request.Request(
                    f"{base}/ledger/main/rpc/{method}",
                    data=b"{}",
                    method="POST",
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=60) as response:
                    values[method] = json.loads(response.read())["value"]
            return {"total": values["total"], "accounts": values["accounts"]}
        with urllib.request.urlopen(f"{base}/total", timeout=60) as response:
            data = json.loads(response.read())
        return {"total": data["total"], "accounts": data["accounts"]}
    except (OSError, ValueError, KeyError) as error:
        raise BenchError(
            f"{contender.name}: reading the total failed: {error}\n"
            f"server log ({srv.log}):\n{log_tail(srv.log)}"
        ) from error


def _postgres_pids(srv: Running) -> Callable[[], list[int]] | None:
    """For a PostgreSQL contender: a function listing the server's backends and
    PostgreSQL's background processes (their CPU is the server's too)."""
    if not srv.server.name.startswith("postgres"):
        return None
    schema = f"roost_bench_{srv.port}"

    def pids() -> list[int]:
        import psycopg

        with psycopg.connect(PG_DSN) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                "OR backend_type <> 'client backend'",
                [f"roost-bench-{schema}"],
            ).fetchall()
        return [int(pid) for (pid,) in rows]

    return pids


def _with_ratios(rows: list[Row]) -> list[Row]:
    """Fill the roost/this column (the comparable roost row's TPS over each row's) and, for the
    baselines with a target, say in the note whether roost meets it."""
    by_key = {(row.case, row.server): row for row in rows}
    done = []
    for row in rows:
        contender = next(c for c in CONTENDERS if c.name == row.server)
        base = by_key.get((row.case, contender.compare_to or ""))
        if base is None or not row.values.get("tps") or not base.values.get("tps"):
            done.append(row)
            continue
        ratio = base.values["tps"] / row.values["tps"]
        note = row.note
        target = TARGETS.get(row.server)
        if target is not None:
            note += f"; target roost ≥ {target:g}x: {'met' if ratio >= target else 'NOT met'}"
        done.append(attrs.evolve(row, values={**row.values, "roost_x": ratio}, note=note))
    return done


SCENARIOS = (
    Scenario(
        "transfer",
        FAMILY,
        "ledger of 100k accounts, 64 clients calling transfer (Zipf 0 and 1.5) against "
        "HTTP + PostgreSQL and HTTP + SQLite baselines",
        partial(transfers, name="transfer"),
        only=frozenset({"roost"}),
    ),
    Scenario(
        "transfer-rate",
        FAMILY,
        "the transfer workload at fixed offered rates (open loop: 2,000 and 5,000 calls/s, or "
        "BENCH_TRANSFER_RATES): p50/p99 at a given load",
        partial(transfers_at_rates, name="transfer-rate"),
        only=frozenset({"roost"}),
    ),
)
