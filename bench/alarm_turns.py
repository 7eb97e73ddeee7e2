"""Alarm firing in one process, without the HTTP front: a quick look at the cost per alarm.

    .venv/bin/python -m bench.alarm_turns ACTORS PER [--spread S] [--pool N] [--data-root DIR]

Starts a real roost ``Server`` in this process (data directory under ``--data-root``, on
disk by default), has each of ACTORS actors set PER alarms (one turn each, before the
clock starts), alarm i of every actor due at ``base + S * i / PER``, then measures from
``base`` until every alarm has fired: the firing rate, this process's CPU per alarm and the
lateness (``self.now() - alarm.scheduled_at`` in ``on_alarm``). ``--spread 0`` makes every
alarm due at once (the batched path: one activation and one task per actor); a spread makes
each actor's alarms fall due apart (no batching unless the node lags). ``--pool`` is
``max_open_databases``: below ACTORS, every firing reopens its actor's file.
``--idle-timeout 5`` evicts actors idle for 5 s, as the end-to-end scenario does (their
storage closed, its WAL kept or checkpointed).

The scenario ``alarms`` of ``python -m bench`` is the end-to-end figure (HTTP, a separate
server process, 10,000 actors); this one isolates the scheduler and the turns for profiling
(``py-spy record -- .venv/bin/python -m bench.alarm_turns ...``).
"""

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from roost import Actor, App
from roost.actors import Alarm
from roost.runtime import Server, ServerConfig

LATENESS: list[float] = []
ALL_FIRED = trio.Event()  # replaced per run, inside trio
WANTED = [0]


class Sleeper(Actor):
    """Sets its alarms when asked; records how late each fires."""

    async def set_alarms(self, base: float, per: int, spread: float) -> None:
        for i in range(per):
            self.alarms.set(f"a{i}", at=base + spread * i / per)

    async def on_alarm(self, alarm: Alarm) -> None:
        LATENESS.append(self.now() - alarm.scheduled_at)
        if len(LATENESS) >= WANTED[0]:
            ALL_FIRED.set()


async def measure(
    actors: int, per: int, spread: float, pool: int, root: Path, idle_timeout: float
) -> dict[str, Any]:
    global ALL_FIRED
    ALL_FIRED = trio.Event()
    WANTED[0] = actors * per
    app = App()
    app.actor("s", Sleeper)
    data_dir = Path(tempfile.mkdtemp(prefix="alarm-turns-", dir=root))
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        data_dir=data_dir,
        idle_timeout=idle_timeout,
        max_open_databases=pool,
    )
    server = Server(app, config)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        registry = server.registry
        base = time.time() + 3 + actors * 0.003  # after the setting, on a loaded machine too
        for k in range(actors):
            slot = registry.resolve("s", f"k{k}")
            assert slot is not None
            await slot.turn(lambda actor: actor.set_alarms(base, per, spread))
        await trio.sleep(max(0.0, base - time.time()))
        cpu = time.process_time()
        total = actors * per
        await ALL_FIRED.wait()
        cpu = time.process_time() - cpu
        wall = time.time() - base
        statistics = registry.scheduler.statistics()
        handles = registry.pool.statistics()
        await server.shutdown()
        nursery.cancel_scope.cancel()
    shutil.rmtree(data_dir, ignore_errors=True)
    late = sorted(LATENESS)
    return {
        "actors": actors,
        "per_actor": per,
        "spread_s": spread,
        "pool": pool,
        "idle_timeout": idle_timeout,
        "fired": total,
        "fired_per_s": round(total / max(wall, spread)),
        "cpu_us_per_alarm": round(1e6 * cpu / total, 1),
        "p50_ms": round(1000 * late[total // 2], 1),
        "p99_ms": round(1000 * late[int(total * 0.99)], 1),
        "batches": getattr(statistics, "batches_total", None),
        "opened": handles.opened_total,
        "opened_ahead": getattr(handles, "prefetch_taken_total", None),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("actors", type=int)
    parser.add_argument("per", type=int, help="alarms per actor")
    parser.add_argument(
        "--spread", type=float, default=0.0, help="seconds over which they fall due"
    )
    parser.add_argument("--pool", type=int, default=256, help="max_open_databases")
    parser.add_argument("--data-root", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=600.0,
        help="seconds before an idle actor is evicted (5: as the end-to-end scenario)",
    )
    args = parser.parse_args()
    result = trio.run(
        measure, args.actors, args.per, args.spread, args.pool, args.data_root, args.idle_timeout
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
