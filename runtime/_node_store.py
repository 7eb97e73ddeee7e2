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
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS alarm_index (actor_type TEXT NOT NULL, actor_key TEXT NOT NULL,"
    " name TEXT NOT NULL, due_at REAL NOT NULL, PRIMARY KEY (actor_type, actor_key, name))"
    " WITHOUT ROWID",
    # mark: a node-wide sequence number, so a clear never removes a newer mark of the actor.
    "CREATE TABLE IF NOT EXISTS dirty (actor_type TEXT NOT NULL, actor_key TEXT NOT NULL,"
    " mark INTEGER NOT NULL, PRIMARY KEY (actor_type, actor_key)) WITHOUT ROWID",
)

AlarmRow = tuple[str, str, str, float]


class NodeStore:
    """Synchronous access to node.sqlite (WAL, NORMAL sync).

    Small writes run on the trio thread; bulk ones (clearing a batch of dirty marks) may run
    in a worker thread, so every method takes the store's lock. The connection is in
    autocommit mode, so a method that writes several rows opens its own transaction
    (:meth:`_transaction`): otherwise each row would be a transaction of its own, about ten
    times the cost.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        for statement in _SCHEMA:
            self._db.execute(statement)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection inside one transaction, under the lock; rolled back if it raises."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- alarms -------------------------------------------------------------------------------

    def alarms(self) -> list[AlarmRow]:
        with self._lock:
            return self._db.execute(
                "SELECT actor_type, actor_key, name, due_at FROM alarm_index"
            ).fetchall()

    def put_alarms(self, rows: Iterable[AlarmRow]) -> None:
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO alarm_index VALUES (?, ?, ?, ?)", rows)

    def delete_alarms(self, alarms: Iterable[tuple[str, str, str]]) -> None:
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM alarm_index WHERE actor_type = ? AND actor_key = ? AND name = ?",
                alarms,
            )

    # -- dirty marks --------------------------------------------------------------------------

    def dirty(self) -> list[tuple[str, str, int]]:
        """Every durable dirty mark: (type, key, mark)."""
        with self._lock:
            return self._db.execute("SELECT actor_type, actor_key, mark FROM dirty").fetchall()

    def next_mark(self) -> int:
        """A mark above every recorded one (for a process other than the running node)."""
        with self._lock:
            return int(
                self._db.execute("SELECT coalesce(max(mark), 0) + 1 FROM dirty").fetchone()[0]
            )

    def mark_dirty(self, actor_type: str, key: str, mark: int) -> None:
        """Record (or renew) the actor's dirty mark."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO dirty VALUES (?, ?, ?)", (actor_type, key, mark)
            )

    def clear_dirty(self, marks: Iterable[tuple[str, str, int]]) -> None:
        """Remove synced marks: only those not renewed since (``mark`` at most the given)."""
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM dirty WHERE actor_type = ? AND actor_key = ? AND mark <= ?", marks
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
