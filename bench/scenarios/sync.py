"""Sync throughput: dirty actors persisted per second to PostgreSQL and to SQLite.

For each shared store (PostgreSQL in a schema of its own, then the default SQLite file
``<data-dir>/shared.sqlite``), one roost (``roost serve bench/apps/sync.py``) runs two rounds:

1. gate: the app's gate actor becomes dirty and keeps its lock, so the worker's next round
   stops at it (the worker snapshots dirty actors in order, waiting for each one's lock);
   every actor dirtied from then on waits for the round after;
2. dirty: the generator sends one HTTP request to each of N actors (``GET /item/k<i>``, 64
   keep-alive connections); each marks itself dirty (``insert``: N new actors, their first
   sync; ``update``: the same actors again, their rows exist);
3. release: the harness lets the gate go and times the round that follows, from its first
   snapshot (the app notes ``time.monotonic()`` in ``snapshot()``) through the last snapshot
   to ``roost_sync_pending`` reaching 0 (polled every ``METRICS_POLL`` s once the snapshots
   are taken: rendering the metrics walks every actor), sampling CPU all along:
   roost's main (trio) thread, its other threads (the store calls run there), and
   PostgreSQL's processes (the backends roost connected, and the background writers).

The worker takes every snapshot of a round (one turn per actor) before writing any, so the
two phases are apart in time. Afterwards the harness counts the rows in
``roost_actor_state`` and checks their versions (1 after ``insert``, 2 after ``update``).

Then, for reference, the harness writes N states of the same size straight through the store
API (``SharedStore.write_states``, the call the worker makes) in batches of 100, 500 and 2,000:
the store's own cost at each batch size, without roost's turns and bookkeeping. roost's batch
size is its default, ``--sync-batch-size`` 1,000; the worker writes batches while it still
takes snapshots (up to three in flight), so the write phase measures only the tail.
"""

import sqlite3
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import trio

from bench import machine, pg, probe, proc
from bench.results import Metric, Row
from bench.scenarios import Family, Scenario
from bench.scenarios.drive import run_generator
from bench.servers import HOST, BenchError, Running, Server, log_tail, roost_app, running
from bench.settings import Settings
from roost.storage import (
    EncodedState,
    PostgresSharedStore,
    SharedStore,
    SQLiteSharedStore,
    StateWrite,
)

ACTORS_QUICK = 20_000
ACTORS_FULL = 50_000
CONNECTIONS = 64
INTERVAL = 0.25  # --sync-interval: the round after the gate starts this soon
DIRECT_BATCHES = (100, 500, 2000)
SNAPSHOT_POLL = 0.02  # seconds between polls of the app while the round takes snapshots
METRICS_POLL = 0.05  # seconds between polls of /_roost/metrics while the round writes
ROUND_TIMEOUT = 300.0
GATE_ATTEMPTS = 5
PG_DSN = pg.PG_DSN
PG_APP = "roost-bench-sync"
TARGET_PG = 20_000  # states/s to PostgreSQL, the target
_TEXT = "see you all at the retro tomorrow, and bring the numbers from last week's run, please"

FAMILY = Family(
    name="sync",
    title="Sync: dirty actors persisted to the shared store (PostgreSQL, SQLite)",
    legend=(
        "roost only. roost rows: N actors dirty at once (one HTTP request each), then one sync "
        "round: `roost serve bench/apps/sync.py --sync-interval 0.25 --max-active-actors "
        "1000000 --idle-timeout 600` (`--store postgresql://...` for PostgreSQL, a schema "
        "of its own; SQLite: the default `<data-dir>/shared.sqlite`); insert: the actors' "
        "first sync (new rows), update: the same actors again (rows exist). states/s: N over "
        "the round's time, first snapshot to `roost_sync_pending` = 0; snapshot/s: N over "
        "the time from the first to the last snapshot (one turn per actor, on the trio "
        "thread); write/s: N over the time from the last snapshot to the end (the batches "
        "still outstanding then: the worker writes batches, one transaction each and up to "
        "three in flight, while it snapshots); states/batch: N over the "
        "`roost_sync_batches_total` increase. µs/state: CPU time per state of roost's process "
        "in the snapshot phase and in the write phase, of which its other threads (the store "
        "calls run in worker threads; for SQLite that is the whole store cost), and of "
        "PostgreSQL's processes in the write phase (roost's backends and the background "
        "writers). direct rows: the harness writes N states of the same size straight "
        "through `SharedStore.write_states` in batches of the size shown (harness CPU in the "
        "roost column). other CPU %: everything else the machine ran over the round "
        "(a high figure means a noisy run). Target: ≥ 20,000 states/s to PostgreSQL."
    ),
    metrics=(
        Metric("per_s", "states/s"),
        Metric("snap_per_s", "snapshot/s"),
        Metric("write_per_s", "write/s"),
        Metric("per_batch", "states/batch"),
        Metric("snap_us", "snapshot µs/state", 1),
        Metric("write_us", "write µs/state", 1),
        Metric("thread_us", "of which threads µs", 1),
        Metric("pg_us", "PostgreSQL µs/state", 1),
        Metric("other_cpu_pct", "other CPU %"),
    ),
)


# ---- the stores ----------------------------------------------------------------------------


@attrs.frozen
class Store:
    """One shared store under test: how roost names it, and how the harness reads it."""

    name: str
    url: str | None  # --store (None: roost's default SQLite file in its data directory)
    count: Callable[[Path], tuple[int, int, int]]  # rows, min and max version of the items
    pids: Callable[[], list[int]]  # processes whose CPU is the store's (none for SQLite)
    direct: Callable[[Path], SharedStore]  # a new store object for the direct rows


def _postgres_missing() -> str | None:
    return pg.missing()


@contextmanager
def _postgres() -> Iterator[Store]:
    """A fresh schema for roost's tables, dropped afterwards."""
    import psycopg

    schema = f"roost_bench_sync_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{PG_DSN}?application_name={PG_APP}&options=-csearch_path%3D{schema}"

    def count(_data_dir: Path) -> tuple[int, int, int]:
        with psycopg.connect(PG_DSN) as conn:
            row = conn.execute(
                f"SELECT count(*), min(version), max(version) FROM {schema}.roost_actor_state"
                " WHERE actor_type = 'item'"
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1] or 0), int(row[2] or 0)

    def pids() -> list[int]:
        with psycopg.connect(PG_DSN) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
                " OR backend_type NOT IN ('client backend', 'walsender')",
                [PG_APP],
            ).fetchall()
        return [int(pid) for (pid,) in rows]

    def direct(_workdir: Path) -> SharedStore:
        return PostgresSharedStore(f"{PG_DSN}?application_name={PG_APP}", schema=schema)

    try:
        yield Store("PostgreSQL", url, count, pids, direct)
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextmanager
def _sqlite() -> Iterator[Store]:
    def count(data_dir: Path) -> tuple[int, int, int]:
        with sqlite3.connect(data_dir / "shared.sqlite") as db:
            row = db.execute(
                "SELECT count(*), min(version), max(version) FROM roost_actor_state"
                " WHERE actor_type = 'item'"
            ).fetchone()
        return int(row[0]), int(row[1] or 0), int(row[2] or 0)

    def direct(workdir: Path) -> SharedStore:
        return SQLiteSharedStore(Path(workdir) / f"direct-{uuid.uuid4().hex[:8]}.sqlite")

    yield Store("SQLite", None, count, list, direct)


# ---- the scenario --------------------------------------------------------------------------


def sync_rates(server: Server, settings: Settings) -> list[Row]:
    """Both stores: the roost rounds (insert, update), then the direct writes."""
    actors = ACTORS_QUICK if settings.quick else ACTORS_FULL
    rows: list[Row] = []
    for name, store_cm, missing in (
        ("PostgreSQL", _postgres, _postgres_missing),
        ("SQLite", _sqlite, lambda: None),
    ):
        reason = missing()
        if reason:
            rows.append(Row("sync", "roost", case=f"{name}", note=f"not run: {reason}"))
            continue
        with store_cm() as store:
            rows += _roost_rounds(store, actors, settings)
            rows += _direct_rows(store, actors, settings)
    return rows


def _roost_rounds(store: Store, actors: int, settings: Settings) -> list[Row]:
    flags = ["--sync-interval", str(INTERVAL), "--max-active-actors", "1000000"]
    flags += ["--idle-timeout", "600"]
    if store.url:
        flags += ["--store", store.url]
    rows = []
    with running(roost_app("sync", *flags), settings.workdir) as srv:
        fs = machine.filesystem(srv.data_dir)
        _open_store(srv)
        for case, extra, version in (
            ("insert", [], 1),
            ("update", ["--key-space", str(actors)], 2),
        ):
            with _gate(srv) as release:
                probe.get(srv, "/ctl/main/reset")
                args = ["--http", str(CONNECTIONS), "--prefix", "/item/", "--room-name", "k"]
                dirtying = run_generator(srv, settings, [*args, "--count", str(actors), *extra])
                answered = dirtying.result["responses_total"]
                if answered != actors:
                    raise BenchError(f"{case}: {answered} of {actors} items answered")
                rows.append(_round(srv, store, actors, case, release))
            rows[-1] = attrs.evolve(
                rows[-1],
                note=f"{rows[-1].note}; dirtying {actors / dirtying.window.wall:,.0f} actors/s",
            )
            stored, low, high = store.count(srv.data_dir)
            if (stored, low, high) != (actors, version, version):
                raise BenchError(
                    f"{store.name} {case}: {stored} item rows, versions {low}..{high}; "
                    f"expected {actors} at version {version}"
                )
    if store.url is None:
        rows = [attrs.evolve(row, note=f"{row.note}; data dir on {fs}") for row in rows]
    return rows


def _open_store(srv: Running) -> None:
    """Sync the gate once, so the worker has opened the store (and migrated its schema)."""
    probe.get(srv, "/gate/g/touch")
    probe.get(srv, "/ctl/main/mark")
    probe.wait_for(srv, "a first sync", lambda m: m["roost_sync_batches_total"] >= 1, 60.0)


@contextmanager
def _gate(srv: Running) -> Iterator[Callable[[], None]]:
    """Make the gate actor dirty and hold its lock; yield the function that releases it.

    ``/ctl/closer/close`` marks the gate and then holds its lock in a call that returns on
    release. After two intervals the worker's round waits at the gate, and the gate is the
    only actor pending; if a round synced the gate before the call took its lock (nothing
    pending), the gate is released and closed again.
    """
    errors: list[BaseException] = []

    def close() -> None:
        url = f"http://{HOST}:{srv.port}/ctl/closer/close"
        try:
            with urllib.request.urlopen(url, timeout=ROUND_TIMEOUT) as response:
                response.read()
        except BaseException as error:  # reported by release() and the checks below
            errors.append(error)

    def release(holder: threading.Thread) -> None:
        probe.get(srv, "/ctl/main/release")
        holder.join(10)
        if errors or holder.is_alive():
            raise BenchError(f"the gate's call failed: {errors}\n{log_tail(srv.log)}")

    for _attempt in range(GATE_ATTEMPTS):
        holder = threading.Thread(target=close, daemon=True)
        holder.start()
        deadline = time.monotonic() + 10
        while not probe.get_json(srv, "/ctl/main/holding")["holding"]:
            if errors or time.monotonic() > deadline:
                raise BenchError(f"the gate did not close: {errors}\n{log_tail(srv.log)}")
            time.sleep(0.01)
        time.sleep(2 * INTERVAL + 0.1)  # the worker's next round has begun: at the gate
        if probe.metrics(srv)["roost_sync_pending"] == 1:
            break
        release(holder)  # a round slipped in and synced the gate: close it again
    else:
        raise BenchError(f"the gate stayed clean in {GATE_ATTEMPTS} attempts")
    yield lambda: release(holder)


@attrs.frozen
class _Point:
    """CPU seconds at one instant: roost's main thread, its other threads, the store, all."""

    at: float
    main: float
    threads: float
    store: dict[int, float]
    busy: float

    @classmethod
    def take(cls, pid: int, store_pids: list[int]) -> "_Point":
        main = _thread_cpu(pid, pid)
        total = proc.cpu_seconds(proc.process_tree(pid))
        store = {p: proc.cpu_seconds([p]) for p in store_pids}
        return cls(time.monotonic(), main, total - main, store, proc.machine_busy_seconds())


def _thread_cpu(pid: int, tid: int) -> float:
    """User + system CPU seconds of one thread (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / proc.CLOCK_TICKS


def _between(points: list[_Point], start: float, end: float) -> dict[str, float]:
    """CPU seconds used from ``start`` to ``end`` (monotonic), interpolated between samples."""

    def at(when: float, value: Callable[[_Point], float]) -> float:
        before = [p for p in points if p.at <= when] or points[:1]
        after = [p for p in points if p.at >= when] or points[-1:]
        a, b = before[-1], after[0]
        if b.at <= a.at:
            return value(a)
        return value(a) + (value(b) - value(a)) * (when - a.at) / (b.at - a.at)

    def store(point: _Point) -> float:
        return sum(point.store.values())

    return {
        name: at(end, value) - at(start, value)
        for name, value in (
            ("main", lambda p: p.main),
            ("threads", lambda p: p.threads),
            ("store", store),
            ("busy", lambda p: p.busy),
        )
    }


def _check_deadline(deadline: float, case: str) -> None:
    if time.monotonic() > deadline:
        raise BenchError(f"{case}: the round did not finish in {ROUND_TIMEOUT:.0f} s")


def _round(srv: Running, store: Store, actors: int, case: str, release: Callable[[], None]) -> Row:
    before = probe.metrics(srv)
    if before["roost_sync_pending"] != actors + 1:
        raise BenchError(
            f"{case}: roost_sync_pending is {before['roost_sync_pending']:.0f} before the "
            f"round, expected {actors + 1} (the items and the gate)"
        )
    store_pids = store.pids()
    points = [_Point.take(srv.pid, store_pids)]
    release()
    deadline = time.monotonic() + ROUND_TIMEOUT
    # Snapshot phase: ask the app (one cheap turn) until every snapshot is taken.
    while True:
        time.sleep(SNAPSHOT_POLL)
        points.append(_Point.take(srv.pid, store_pids))
        if probe.get_json(srv, "/ctl/main/report")["snapshots"] >= actors:
            break
        _check_deadline(deadline, case)
    # Write phase: the metrics (rendering them walks every actor: poll rarely). The round
    # ended between the last poll that saw something pending and the first that did not.
    seen_pending = time.monotonic()
    while True:
        time.sleep(METRICS_POLL)
        asked = time.monotonic()
        after = probe.metrics(srv)
        points.append(_Point.take(srv.pid, store_pids))
        if after["roost_sync_pending"] == 0:
            done = (seen_pending + asked) / 2
            break
        seen_pending = asked
        _check_deadline(deadline, case)
    report = probe.get_json(srv, "/ctl/main/report")
    if report["snapshots"] != actors:
        raise BenchError(f"{case}: {report['snapshots']} snapshots of {actors} dirty actors")
    if report["first"] - report["gate_at"] < INTERVAL / 2:
        raise BenchError(
            f"{case}: the round at the gate took item snapshots; the round started before "
            "the gate was held"
        )
    failures = after["roost_sync_failures_total"] - before["roost_sync_failures_total"]
    if failures:
        raise BenchError(f"{case}: {failures:.0f} sync rounds failed\n{log_tail(srv.log)}")
    batches = after["roost_sync_batches_total"] - before["roost_sync_batches_total"] - 1
    first, last = report["first"], report["last"]
    snap = _between(points, first, last)
    write = _between(points, last, done)
    whole = _between(points, first, done)
    roost_whole = whole["main"] + whole["threads"]
    other = max(0.0, whole["busy"] - roost_whole - whole["store"])
    per_s = actors / (done - first)
    return Row(
        "sync",
        "roost",
        case=f"{store.name} {case}",
        values={
            "per_s": per_s,
            "snap_per_s": actors / (last - first),
            "write_per_s": actors / (done - last),
            "per_batch": actors / batches if batches > 0 else 0.0,
            "snap_us": 1e6 * (snap["main"] + snap["threads"]) / actors,
            "write_us": 1e6 * (write["main"] + write["threads"]) / actors,
            "thread_us": 1e6 * write["threads"] / actors,
            **({"pg_us": 1e6 * write["store"] / actors} if store.url else {}),
            "other_cpu_pct": 100 * other / (done - first),
        },
        note=_note(store, per_s, f"{actors:,} actors, {batches:.0f} batches"),
    )


def _note(store: Store, per_s: float, text: str) -> str:
    if store.url is None:
        return text
    verdict = "meets" if per_s >= TARGET_PG else "misses"
    return f"{text}; {verdict} the {TARGET_PG:,}/s target"


# ---- the store alone -----------------------------------------------------------------------


def _direct_rows(store: Store, actors: int, settings: Settings) -> list[Row]:
    """Write N states through the store API per batch size: insert, then update them."""
    rows = []
    for batch in DIRECT_BATCHES:
        actor_type = f"direct{batch}"
        writes = [
            StateWrite(actor_type, f"k{i}", 1, EncodedState(_state_text(f"k{i}")))
            for i in range(actors)
        ]
        shared = store.direct(settings.workdir)
        for case, seconds, cpu in _timed_writes(shared, writes, batch, store):
            rows.append(
                Row(
                    "sync",
                    "roost",
                    case=f"{store.name} direct {case}, batch {batch}",
                    values={
                        "per_s": actors / seconds,
                        "write_per_s": actors / seconds,
                        "per_batch": float(batch),
                        "write_us": 1e6 * cpu["harness"] / actors,
                        **({"pg_us": 1e6 * cpu["store"] / actors} if store.url else {}),
                        "other_cpu_pct": 100 * cpu["other"] / seconds,
                    },
                    note=_note(
                        store, actors / seconds, "SharedStore.write_states from the harness"
                    ),
                )
            )
    return rows


def _timed_writes(
    shared: SharedStore, writes: list[StateWrite], batch: int, store: Store
) -> list[tuple[str, float, dict[str, float]]]:
    """Open the store, write ``writes`` twice (insert, update), timing each pass."""
    results = []

    async def main() -> None:
        async with shared:
            pids = store.pids()
            for case in ("insert", "update"):
                start = _self_cpu(pids)
                for i in range(0, len(writes), batch):
                    await shared.write_states(writes[i : i + batch])
                end = _self_cpu(pids)
                seconds = end["at"] - start["at"]
                harness = end["harness"] - start["harness"]
                pg = end["store"] - start["store"]
                other = max(0.0, end["busy"] - start["busy"] - harness - pg)
                results.append((case, seconds, {"harness": harness, "store": pg, "other": other}))

    trio.run(main)
    return results


def _self_cpu(store_pids: list[int]) -> dict[str, float]:
    import os

    return {
        "at": time.monotonic(),
        "harness": proc.cpu_seconds([os.getpid()]),
        "store": proc.cpu_seconds(store_pids),
        "busy": proc.machine_busy_seconds(),
    }


def _state_text(key: str) -> str:
    """The JSON of an item's snapshot (about 200 bytes), as the app's ``snapshot()`` gives."""
    import json

    return json.dumps(
        {
            "room": key,
            "message_count": 1,
            "last_message": {"from": "user-17", "text": _TEXT, "at": 1718000000.25},
            "online": ["alice", "bob", "carol"],
        },
        separators=(",", ":"),
    )


SCENARIOS = (
    Scenario(
        "sync",
        FAMILY,
        "N dirty actors synced in one round to PostgreSQL and SQLite; store API per batch size",
        sync_rates,
        only=frozenset({"roost"}),
    ),
)
