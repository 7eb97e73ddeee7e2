"""The storage side of a cold activation, without the server: what creating and reopening
actor files costs on a given file system.

    python -m bench.cold_files [--actors 2000] [--data-dir DIR]

``create``: ``ActorStorage`` objects for keys never used before, each running one turn that
writes one KV value (the cold bench app's ``on_start``), on one ``HandlePool`` of 256
handles, as a node does: past 256 open files the pool closes the least recently used.
``reopen, pool``: the same actors again, each file existing (its handle closed by the pool).
``reopen, close``: the same again, each storage closed by the actor's own close at the end
(the runtime's eviction today: its WAL checkpointed and removed). ``reopen, keep``: closed
with ``close(keep_wal=True)`` instead (an idle eviction that keeps the WAL for the next
activation), measured twice: the first round finds no WAL, the second finds each one kept
(the pool keeps up to ``--actors`` of them here). Prints µs per actor (wall, user and kernel
CPU) and actors/s.
Use a data directory on the file system you care about (``df -T``): /tmp may be tmpfs.
"""

from __future__ import annotations

import argparse
import inspect
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from roost.storage import ActorStorage, HandlePool, actor_db_path


def _measure(label: str, count: int, step: Callable[[int], None]) -> None:
    started, cpu = time.perf_counter(), os.times()
    for i in range(count):
        step(i)
    wall, end = time.perf_counter() - started, os.times()
    print(
        f"{label:<16} {1e6 * wall / count:8.0f} us wall {1e6 * (end.user - cpu.user) / count:6.0f}"
        f" user {1e6 * (end.system - cpu.system) / count:6.0f} kernel {count / wall:8.0f}/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, default=2000)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="roost-cold-files-", dir=args.data_dir))
    # An older build (the "before", run with its own interpreter) has no kept WALs.
    keeps = "keep_wal" in inspect.signature(ActorStorage.close).parameters
    pool = HandlePool(max_open=256, **({"max_kept_wals": args.actors} if keeps else {}))
    count = args.actors

    def turn(i: int, *, close: bool, keep_wal: bool = False) -> None:
        key = f"k{i}"
        storage = ActorStorage(actor_db_path(root, "kv", key), actor_type="kv", key=key, pool=pool)
        storage.begin_turn()
        storage.kv.put("created", i)
        storage.commit_turn()
        if keep_wal:
            storage.close(keep_wal=True)
        elif close:
            storage.close()
        else:
            kept.append(storage)  # active: only the pool closes its handle

    kept: list[ActorStorage] = []
    try:
        _measure("create", count, lambda i: turn(i, close=False))
        pool.close_idle()
        kept.clear()
        _measure("reopen, pool", count, lambda i: turn(i, close=False))
        pool.close_idle()
        kept.clear()
        _measure("reopen, close", count, lambda i: turn(i, close=True))
        if keeps:
            _measure("reopen, keep", count, lambda i: turn(i, close=True, keep_wal=True))
            _measure("reopen, keep 2", count, lambda i: turn(i, close=True, keep_wal=True))
            _measure("checkpoint_kept", count, lambda i: pool.checkpoint_kept() if i == 0 else None)
    finally:
        pool.close_idle()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
