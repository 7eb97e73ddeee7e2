"""The node's own small SQLite file (``<data-dir>/node.sqlite``): what must survive a crash
of this node but belongs to no single actor.

- ``alarm_index``: every pending alarm (type, key, name, due time), so alarms fire after a
  restart without opening every actor file;
- ``dirty``: actors whose state changed and has not reached the shared store yet, so a
  restarted node syncs them without anyone visiting them (G7).

Both are written *before* the actor's own commit when they add something and pruned after,
so a crash can leave a hint too many, never one too few.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS alarm_index (actor_type TEXT NOT NULL, actor_key TEXT NOT NULL,"
    " name TEXT NOT NULL, due_at REAL NOT NULL, PRIMARY KEY (actor_type, actor_key, name))"
    " WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS dirty (actor_type TEXT NOT NULL, actor_key TEXT NOT NULL,"
    " since REAL NOT NULL, PRIMARY KEY (actor_type, actor_key)) WITHOUT ROWID",
)

AlarmRow = tuple[str, str, str, float]


class NodeStore:
    """Synchronous access to node.sqlite (small writes on the trio thread, WAL, NORMAL sync)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._db.execute(statement)

    # -- alarms -------------------------------------------------------------------------------

    def alarms(self) -> list[AlarmRow]:
        return self._db.execute(
            "SELECT actor_type, actor_key, name, due_at FROM alarm_index"
        ).fetchall()

    def put_alarms(self, rows: Iterable[AlarmRow]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO alarm_index VALUES (?, ?, ?, ?)", rows)

    def delete_alarms(self, alarms: Iterable[tuple[str, str, str]]) -> None:
        with self._db:
            self._db.executemany(
                "DELETE FROM alarm_index WHERE actor_type = ? AND actor_key = ? AND name = ?",
                alarms,
            )

    # -- dirty marks --------------------------------------------------------------------------

    def dirty(self) -> list[tuple[str, str, float]]:
        return self._db.execute("SELECT actor_type, actor_key, since FROM dirty").fetchall()

    def mark_dirty(self, actor_type: str, key: str, since: float) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO dirty VALUES (?, ?, ?)", (actor_type, key, since)
            )

    def clear_dirty(self, actors: Iterable[tuple[str, str]]) -> None:
        with self._db:
            self._db.executemany("DELETE FROM dirty WHERE actor_type = ? AND actor_key = ?", actors)

    def close(self) -> None:
        self._db.close()
