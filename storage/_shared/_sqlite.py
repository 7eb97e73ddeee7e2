"""The embedded shared store: one SQLite file, ``<data-dir>/shared.sqlite`` by default.

It needs no set-up and serves every process of one machine:
the file is in WAL mode, so readers never block the writer, and every write runs in a
``BEGIN IMMEDIATE`` transaction, which takes SQLite's single write lock up front and so makes
read-decide-write sequences (leases, fenced upserts) atomic across processes. A writer that
cannot get the lock within ``busy_timeout`` gets :class:`StoreUnavailable`.

The "database clock" is this machine's clock (``time.time()``) read inside the transaction;
all processes sharing the file share that clock. Timestamps are stored as REAL unix seconds.

One connection per store, used by one worker thread at a time (the store's limiter is 1):
SQLite serialises writers anyway, and a single handle keeps the file descriptors bounded.
Batches of leases (a node's renewals and releases) go in as one JSON parameter that
``json_each`` turns into rows, one statement for the whole batch.

Long because: it is one backend, one short SQL transaction per method of
:class:`SharedStore` (state, leases, nodes), and the statements they run.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path
from typing import Any, TypeVar

import attrs

from roost._errors import ConfigError, StorageError

from ._api import LeaseKey, SharedStore, Snapshots, state_text
from ._errors import StoreUnavailable
from ._history import SQLITE_HISTORY, HistorySql
from ._records import (
    Claim,
    Lease,
    LeaseInfo,
    LeaseOwner,
    NodeInfo,
    StateWrite,
    StoredState,
    WriteOutcome,
    WriteStatus,
    decode_state,
)
from ._schema import SQLITE, migrate

T = TypeVar("T")

__all__ = ["SQLiteSharedStore"]

# Result codes (primary, the low byte of sqlite_errorcode) that mean "try again later".
_UNAVAILABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_PROTOCOL,
    }
)

_STATE_COLUMNS = "actor_type, actor_key, version, fence, state, updated_at"
_READ_STATE = f"SELECT {_STATE_COLUMNS}, alarms FROM roost_actor_state"

# One write of the sync worker's batch (write_snapshots): parameters type, key, fence, state,
# time. Refused, it changes nothing: if the lease has a higher fence (no row is selected),
# or the stored state has (the DO UPDATE's WHERE). "WHERE" after the SELECT also tells the
# parser that ON CONFLICT belongs to the INSERT. With alarms, parameters 6 and 7 (their
# earliest due time and their JSON text) replace the stored ones; without, those stay.
_UPSERT_TEMPLATE = f"""
INSERT INTO roost_actor_state ({_STATE_COLUMNS}{{columns}})
SELECT ?1, ?2, 1, ?3, ?4, ?5{{values}}
WHERE NOT EXISTS (
    SELECT 1 FROM roost_actor_lease WHERE actor_type = ?1 AND actor_key = ?2 AND fence > ?3
)
ON CONFLICT (actor_type, actor_key) DO UPDATE SET
    version = version + 1,
    fence = excluded.fence,
    state = excluded.state,
    updated_at = excluded.updated_at{{alarms}}
WHERE fence <= excluded.fence
"""
_UPSERT_SNAPSHOT = _UPSERT_TEMPLATE.format(columns="", values="", alarms="")
_UPSERT_SNAPSHOT_ALARMS = _UPSERT_TEMPLATE.format(
    columns=", alarm_at, alarms",
    values=", ?6, ?7",
    alarms=", alarm_at = excluded.alarm_at, alarms = excluded.alarms",
)
# A batch of leases (a JSON list of [type, key, fence]) as rows, for "IN".
_BATCH = "SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(:batch)"
_MINE = f"node_id = :node AND (actor_type, actor_key, fence) IN ({_BATCH})"
_RENEW_LEASES = f"""
UPDATE roost_actor_lease SET expires_at = :expires WHERE {_MINE}
RETURNING actor_type, actor_key, fence
"""
# Releasing: the row of an actor that never synced goes (a stranger leaves nothing); the
# others stay with their fence, so the next owner's is higher.
# A synced state or a file history in the store (storage/_shared/_history.py) keeps it.
_DELETE_STRANGERS = f"""
DELETE FROM roost_actor_lease WHERE {_MINE} AND NOT ({
    " OR ".join(
        f"EXISTS (SELECT 1 FROM {table} h WHERE h.actor_type = roost_actor_lease.actor_type"
        " AND h.actor_key = roost_actor_lease.actor_key)"
        for table in ("roost_actor_state", "roost_actor_log", "roost_actor_file")
    )
})
"""
_RELEASE_LEASES = f"UPDATE roost_actor_lease SET node_id = NULL, expires_at = :now WHERE {_MINE}"
_LEASE_OWNER = """
SELECT l.node_id, coalesce(n.address, ''), l.fence, l.expires_at - :now
FROM roost_actor_lease l LEFT JOIN roost_node n ON n.node_id = l.node_id
WHERE l.actor_type = :type AND l.actor_key = :key AND l.node_id IS NOT NULL
  AND l.expires_at > :now
"""
_MAX_FENCE = """
SELECT max(coalesce((SELECT max(fence) FROM roost_actor_lease), 0),
           coalesce((SELECT max(fence) FROM roost_actor_state), 0))
"""
_DUE_ALARMS = """
SELECT s.actor_type, s.actor_key FROM roost_actor_state s
WHERE s.alarm_at <= :now AND NOT EXISTS (
    SELECT 1 FROM roost_actor_lease l
    WHERE l.actor_type = s.actor_type AND l.actor_key = s.actor_key
      AND l.node_id IS NOT NULL AND l.expires_at > :now
)
ORDER BY s.alarm_at LIMIT :limit
"""
# An actor's stored version and the highest fence on record (state or lease).
_HELD = """
SELECT coalesce(s.version, 0), max(coalesce(s.fence, 0), coalesce(l.fence, 0))
FROM (SELECT ? AS actor_type, ? AS actor_key) w
LEFT JOIN roost_actor_state s ON s.actor_type = w.actor_type AND s.actor_key = w.actor_key
LEFT JOIN roost_actor_lease l ON l.actor_type = w.actor_type AND l.actor_key = w.actor_key
"""
# A fenced delete (delete_states): parameters type, key, fence.
_DELETE_STATE = """
DELETE FROM roost_actor_state WHERE actor_type = ?1 AND actor_key = ?2 AND fence <= ?3
AND NOT EXISTS (
    SELECT 1 FROM roost_actor_lease WHERE actor_type = ?1 AND actor_key = ?2 AND fence > ?3
)
"""
# The actor's file history (storage/_shared/_history.py) goes with a delete that was not
# refused: parameters type, key, fence (no fence above it on record, state or lease).
_DELETE_HISTORY = [
    f"""
DELETE FROM {table} WHERE actor_type = ?1 AND actor_key = ?2 AND NOT EXISTS (
    SELECT 1 FROM roost_actor_lease WHERE actor_type = ?1 AND actor_key = ?2 AND fence > ?3
) AND NOT EXISTS (
    SELECT 1 FROM roost_actor_state WHERE actor_type = ?1 AND actor_key = ?2 AND fence > ?3
)
"""
    for table in ("roost_actor_log", "roost_actor_file")
]
# The retention sweep: states idle since :before, with no alarm in the store, no holder and
# no file history written since (a durable actor's log moves on without its snapshot).
_RETIRE_STATES = """
DELETE FROM roost_actor_state WHERE (actor_type, actor_key) IN (
    SELECT s.actor_type, s.actor_key FROM roost_actor_state s
    WHERE s.updated_at < :before AND s.alarm_at IS NULL AND NOT EXISTS (
        SELECT 1 FROM roost_actor_lease l
        WHERE l.actor_type = s.actor_type AND l.actor_key = s.actor_key
          AND l.node_id IS NOT NULL AND l.expires_at > :now
    ) AND NOT EXISTS (
        SELECT 1 FROM roost_actor_log h
        WHERE h.actor_type = s.actor_type AND h.actor_key = s.actor_key AND h.at >= :before
    ) AND NOT EXISTS (
        SELECT 1 FROM roost_actor_file h
        WHERE h.actor_type = s.actor_type AND h.actor_key = s.actor_key AND h.at >= :before
    )
    ORDER BY s.updated_at LIMIT :limit
)
RETURNING actor_type, actor_key
"""
# With them go their lease rows (released or expired: no holder) and their file history.
_RETIRE_REST = [
    f"""
DELETE FROM {table}
WHERE (actor_type, actor_key) IN (SELECT value ->> 0, value ->> 1 FROM json_each(:gone))
"""
    for table in ("roost_actor_lease", "roost_actor_log", "roost_actor_file")
]
_NODE_COLUMNS = "node_id, address, started_at, heartbeat_at, version, protocol, cluster"
_LIST_NODES = """
SELECT n.node_id, n.address, n.started_at, n.heartbeat_at, n.version, n.protocol, n.cluster,
    (SELECT count(*) FROM roost_actor_lease l WHERE l.node_id = n.node_id AND l.expires_at > :now)
FROM roost_node n
"""


class SQLiteSharedStore(SharedStore):
    """The shared store in one SQLite file.

    Args:
        path: The database file; its directory is created if missing.
        busy_timeout: Seconds a call waits for another process's write lock before raising
            :class:`StoreUnavailable`.
        synchronous: ``PRAGMA synchronous``: ``"NORMAL"`` (the default) survives process
            crashes, ``"FULL"`` also power loss, at an fsync per transaction.
        call_timeout: Seconds a whole call may take (see :class:`SharedStore`). SQLite's wait
            for a lock cannot be interrupted, so ``busy_timeout`` is lowered to it: an
            abandoned call's thread then ends by the deadline too, and the store's one
            connection is free for the next call.

    Raises:
        ConfigError: for a bad ``busy_timeout`` or ``synchronous``.
    """

    embedded = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        synchronous: str = "NORMAL",
        call_timeout: float = 10.0,
    ) -> None:
        super().__init__(max_threads=1, call_timeout=call_timeout)
        if not busy_timeout >= 0:
            raise ConfigError("busy_timeout must be >= 0 seconds")
        if synchronous not in ("NORMAL", "FULL", "EXTRA"):
            raise ConfigError("synchronous must be NORMAL, FULL or EXTRA")
        self.path = Path(path)
        self._busy_timeout = min(float(busy_timeout), self.call_timeout)
        self._synchronous = synchronous
        self._conn: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"<SQLiteSharedStore {str(self.path)!r}>"

    # -- lifecycle ---------------------------------------------------------------------------

    def _open_sync(self) -> None:
        # Several processes opening a new file at once can get SQLITE_BUSY without SQLite
        # consulting the busy handler (switching to WAL and the first BEGIN IMMEDIATE avoid
        # a deadlock that way), so the whole open is retried within the busy timeout.
        deadline = time.monotonic() + self._busy_timeout
        delay = 0.01
        while True:
            try:
                return self._open_once()
            except StoreUnavailable:
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)  # a worker thread: blocking here is the point
                delay = min(delay * 2, 0.2)

    def _open_once(self) -> None:
        with _mapped_errors():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,  # transactions are explicit below
                check_same_thread=False,  # one thread at a time, but not always the same one
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self._synchronous}")  # validated above
                with _immediate(conn):  # BEGIN IMMEDIATE: one opener migrates at a time
                    migrate(conn, SQLITE)
            except BaseException:
                conn.close()
                raise
        self._conn = conn

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _history_sync(self, fn: Callable[[Any, HistorySql], T]) -> T:
        conn = self._db
        with _mapped_errors(), _immediate(conn):
            return fn(conn, SQLITE_HISTORY)

    def _ping_sync(self) -> None:
        with _mapped_errors():
            self._db.execute("SELECT 1").fetchone()

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:  # pragma: no cover - the base class checks the phase first
            raise StorageError("shared store is not open")
        return self._conn

    # -- leases ------------------------------------------------------------------------------

    def _acquire_lease_sync(
        self, actor_type: str, key: str, node_id: str, ttl: float
    ) -> Lease | None:
        conn = self._db
        with _mapped_errors(), _immediate(conn):
            return _take_lease(conn, actor_type, key, node_id, ttl)

    def _claim_actor_sync(
        self, actor_type: str, key: str, node_id: str, ttl: float
    ) -> Claim | None:
        conn = self._db
        with _mapped_errors(), _immediate(conn):
            lease = _take_lease(conn, actor_type, key, node_id, ttl, new_owner=True)
            if lease is None:
                return None
            row = conn.execute(
                f"{_READ_STATE} WHERE actor_type = ? AND actor_key = ?", (actor_type, key)
            ).fetchone()
        return Claim(lease, None if row is None else _stored_state(row))

    def _renew_lease_sync(self, lease: Lease, ttl: float) -> Lease | None:
        conn = self._db
        with _mapped_errors(), _immediate(conn):
            now = time.time()
            cursor = conn.execute(
                "UPDATE roost_actor_lease SET expires_at = ?"
                " WHERE actor_type = ? AND actor_key = ? AND node_id = ? AND fence = ?",
                (now + ttl, lease.actor_type, lease.key, lease.node_id, lease.fence),
            )
            if cursor.rowcount != 1:
                return None
        return Lease(lease.actor_type, lease.key, lease.node_id, lease.fence, now + ttl, ttl)

    def _release_lease_sync(self, lease: Lease) -> bool:
        conn = self._db
        with _mapped_errors(), _immediate(conn):
            cursor = conn.execute(
                "UPDATE roost_actor_lease SET node_id = NULL, expires_at = ?"
                " WHERE actor_type = ? AND actor_key = ? AND node_id = ? AND fence = ?",
                (time.time(), lease.actor_type, lease.key, lease.node_id, lease.fence),
            )
            return cursor.rowcount == 1

    def _renew_leases_sync(
        self, node_id: str, types: list[str], keys: list[str], fences: list[int], ttl: float
    ) -> set[LeaseKey]:
        conn = self._db
        with _mapped_errors(), _immediate(conn):
            now = time.time()
            conn.execute("UPDATE roost_node SET heartbeat_at = ? WHERE node_id = ?", (now, node_id))
            if not keys:
                return set()
            params = {"node": node_id, "batch": _batch(types, keys, fences), "expires": now + ttl}
            return {(t, k, f) for t, k, f in conn.execute(_RENEW_LEASES, params).fetchall()}

    def _release_leases_sync(
        self, node_id: str, types: list[str], keys: list[str], fences: list[int]
    ) -> int:
        conn = self._db
        params = {"node": node_id, "batch": _batch(types, keys, fences)}
        with _mapped_errors(), _immediate(conn):
            deleted = conn.execute(_DELETE_STRANGERS, params).rowcount
            released = conn.execute(_RELEASE_LEASES, {**params, "now": time.time()}).rowcount
        return deleted + released

    def _lease_owner_sync(self, actor_type: str, key: str) -> LeaseOwner | None:
        params = {"type": actor_type, "key": key, "now": time.time()}
        with _mapped_errors():
            row = self._db.execute(_LEASE_OWNER, params).fetchone()
        return None if row is None else LeaseOwner(*row)

    def _max_fence_sync(self) -> int:
        with _mapped_errors():
            row = self._db.execute(_MAX_FENCE).fetchone()
        return int(row[0])

    def _list_leases_sync(
        self, actor_type: str | None, limit: int, after: tuple[str, str] | None
    ) -> list[LeaseInfo]:
        clause, params = _page_clause(actor_type, after)
        with _mapped_errors():
            now = time.time()
            rows = self._db.execute(
                "SELECT actor_type, actor_key, node_id, fence, expires_at - ?"
                f" FROM roost_actor_lease{clause} ORDER BY actor_type, actor_key LIMIT ?",
                (now, *params, limit),
            ).fetchall()
        return [
            LeaseInfo(t, k, n, f, e if n is not None else min(e, 0.0)) for t, k, n, f, e in rows
        ]

    # -- actor state -------------------------------------------------------------------------

    def _write_batch_sync(self, batch: list[StateWrite]) -> list[WriteOutcome]:
        texts = [state_text(write) for write in batch]  # refuse bad states before writing
        conn = self._db
        outcomes: list[WriteOutcome] = []
        with _mapped_errors(), _immediate(conn):
            now = time.time()
            for write, text in zip(batch, texts, strict=True):
                ident = (write.actor_type, write.key)
                row = conn.execute(
                    "SELECT version, fence FROM roost_actor_state"
                    " WHERE actor_type = ? AND actor_key = ?",
                    ident,
                ).fetchone()
                lease = conn.execute(
                    "SELECT fence FROM roost_actor_lease WHERE actor_type = ? AND actor_key = ?",
                    ident,
                ).fetchone()
                held = max(row[1] if row else 0, lease[0] if lease else 0)
                if held > write.fence:  # a newer owner exists: refuse, change nothing
                    version = row[0] if row else 0
                    outcomes.append(WriteOutcome(*ident, WriteStatus.STALE_FENCE, version, held))
                    continue
                if row is None:
                    conn.execute(
                        f"INSERT INTO roost_actor_state ({_STATE_COLUMNS})"
                        " VALUES (?, ?, 1, ?, ?, ?)",
                        (*ident, write.fence, text, now),
                    )
                    version = 1
                else:
                    version = row[0] + 1
                    conn.execute(
                        "UPDATE roost_actor_state SET version = ?, fence = ?, state = ?,"
                        " updated_at = ? WHERE actor_type = ? AND actor_key = ?",
                        (version, write.fence, text, now, *ident),
                    )
                outcomes.append(
                    WriteOutcome(
                        write.actor_type, write.key, WriteStatus.WRITTEN, version, write.fence
                    )
                )
        return outcomes

    def _write_snapshots_sync(self, batch: Snapshots) -> list[WriteOutcome]:
        conn = self._db
        types, keys, fences = batch.types, batch.keys, batch.fences
        query = _UPSERT_SNAPSHOT
        with _mapped_errors(), _immediate(conn):
            now = time.time()
            rows: Iterable[tuple[object, ...]] = zip(types, keys, fences, batch.texts, repeat(now))
            if batch.alarm_texts is not None and batch.alarm_ats is not None:
                query = _UPSERT_SNAPSHOT_ALARMS
                ats, alarms = batch.alarm_ats, batch.alarm_texts
                rows = zip(types, keys, fences, batch.texts, repeat(now), ats, alarms)
            if len(set(zip(types, keys, strict=True))) < len(keys):
                return self._write_one_by_one(query, rows)  # a key twice: see each write
            before = conn.total_changes
            conn.executemany(query, rows)
            if conn.total_changes - before == len(keys):
                return []
            # Some were refused. This transaction holds the write lock and wrote each key
            # once, so a write was refused iff a fence above its own is on record now.
            return _refused(conn, types, keys, fences)

    def _write_one_by_one(self, query: str, rows: Iterable[tuple[Any, ...]]) -> list[WriteOutcome]:
        """Each write of a batch on its own, inside the caller's transaction, noting which
        ones changed nothing (refused)."""
        conn = self._db
        outcomes = []
        for row in rows:
            before = conn.total_changes
            conn.execute(query, row)
            if conn.total_changes == before:
                version, held = conn.execute(_HELD, row[:2]).fetchone()
                refused = WriteOutcome(row[0], row[1], WriteStatus.STALE_FENCE, version, held)
                outcomes.append(refused)
        return outcomes

    def _delete_states_sync(
        self, types: list[str], keys: list[str], fences: list[int]
    ) -> list[WriteOutcome]:
        conn = self._db
        with _mapped_errors(), _immediate(conn):
            conn.executemany(_DELETE_STATE, zip(types, keys, fences, strict=True))
            for statement in _DELETE_HISTORY:
                conn.executemany(statement, zip(types, keys, fences, strict=True))
            # This transaction holds the write lock: a delete was refused iff a fence above
            # its own is on record now (a deleted row's fence is not).
            return _refused(conn, types, keys, fences)

    def _retire_states_sync(self, idle_for: float, limit: int) -> int:
        conn = self._db
        with _mapped_errors(), _immediate(conn):
            now = time.time()
            params = {"before": now - idle_for, "now": now, "limit": limit}
            gone = conn.execute(_RETIRE_STATES, params).fetchall()
            if gone:  # (this transaction holds the write lock: no claim came meanwhile)
                text = json.dumps([list(row) for row in gone], separators=(",", ":"))
                for statement in _RETIRE_REST:
                    conn.execute(statement, {"gone": text})
        return len(gone)

    def _due_alarms_sync(self, limit: int) -> list[tuple[str, str]]:
        with _mapped_errors():
            rows = self._db.execute(_DUE_ALARMS, {"now": time.time(), "limit": limit}).fetchall()
        return [(t, k) for t, k in rows]

    def _read_state_sync(self, actor_type: str, key: str) -> StoredState | None:
        with _mapped_errors():
            row = self._db.execute(
                f"{_READ_STATE} WHERE actor_type = ? AND actor_key = ?", (actor_type, key)
            ).fetchone()
        return None if row is None else _stored_state(row)

    def _list_states_sync(
        self, actor_type: str | None, limit: int, after: tuple[str, str] | None
    ) -> list[StoredState]:
        clause, params = _page_clause(actor_type, after)
        with _mapped_errors():
            rows = self._db.execute(
                f"{_READ_STATE}{clause} ORDER BY actor_type, actor_key LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_stored_state(row) for row in rows]

    # -- nodes -------------------------------------------------------------------------------

    def _register_node_sync(self, node: NodeInfo) -> NodeInfo:
        conn = self._db
        with _mapped_errors(), _immediate(conn):
            now = time.time()
            conn.execute(
                f"INSERT INTO roost_node ({_NODE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (node_id) DO UPDATE SET address = excluded.address,"
                " started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,"
                " version = excluded.version, protocol = excluded.protocol,"
                " cluster = excluded.cluster",
                (node.node_id, node.address, now, now, node.version, node.protocol, node.cluster),
            )
            (held,) = conn.execute(
                "SELECT count(*) FROM roost_actor_lease WHERE node_id = ? AND expires_at > ?",
                (node.node_id, now),
            ).fetchone()
        return attrs.evolve(node, started_at=now, heartbeat_at=now, heartbeat_age=0.0, actors=held)

    def _heartbeat_node_sync(self, node_id: str) -> bool:
        conn = self._db
        with _mapped_errors(), _immediate(conn):
            cursor = conn.execute(
                "UPDATE roost_node SET heartbeat_at = ? WHERE node_id = ?", (time.time(), node_id)
            )
            return cursor.rowcount == 1

    def _unregister_node_sync(self, node_id: str) -> bool:
        conn = self._db
        with _mapped_errors(), _immediate(conn):
            cursor = conn.execute("DELETE FROM roost_node WHERE node_id = ?", (node_id,))
            return cursor.rowcount == 1

    def _list_nodes_sync(self, within: float | None) -> list[NodeInfo]:
        now = time.time()
        query = _LIST_NODES
        if within is not None:
            query += " WHERE n.heartbeat_at > :since"
        with _mapped_errors():
            rows = self._db.execute(
                f"{query} ORDER BY n.node_id", {"now": now, "since": now - (within or 0.0)}
            ).fetchall()
        return [
            NodeInfo(n, a, s, h, max(0.0, now - h), v, p, c, held)
            for n, a, s, h, v, p, c, held in rows
        ]


def _stored_state(row: tuple[str, str, int, int, str, float, str | None]) -> StoredState:
    actor_type, key, version, fence, text, updated_at, alarms = row
    return StoredState(
        actor_type,
        key,
        version,
        fence,
        decode_state(text),
        updated_at,
        None if alarms is None else decode_state(alarms),
    )


def _refused(
    conn: sqlite3.Connection, types: list[str], keys: list[str], fences: list[int]
) -> list[WriteOutcome]:
    """The writes of a batch that a fence above their own on record refuses (inside the
    transaction that wrote them, which holds the write lock)."""
    outcomes = []
    for actor_type, key, fence in zip(types, keys, fences, strict=True):
        version, held = conn.execute(_HELD, (actor_type, key)).fetchone()
        if held > fence:
            outcomes.append(WriteOutcome(actor_type, key, WriteStatus.STALE_FENCE, version, held))
    return outcomes


def _take_lease(
    conn: sqlite3.Connection,
    actor_type: str,
    key: str,
    node_id: str,
    ttl: float,
    *,
    new_owner: bool = False,
) -> Lease | None:
    """The lease rule, inside the caller's write transaction: see ``acquire_lease``
    (``new_owner``: ``claim_actor``'s, the next fence also for the holder)."""
    now = time.time()
    row = conn.execute(
        "SELECT node_id, fence, expires_at FROM roost_actor_lease"
        " WHERE actor_type = ? AND actor_key = ?",
        (actor_type, key),
    ).fetchone()
    if row is not None and row[0] == node_id and not new_owner:
        fence = row[1]  # ours already: renew, same fence
    elif row is None or row[0] is None or row[0] == node_id or row[2] <= now:
        state_fence = conn.execute(
            "SELECT fence FROM roost_actor_state WHERE actor_type = ? AND actor_key = ?",
            (actor_type, key),
        ).fetchone()
        fence = max(row[1] if row else 0, state_fence[0] if state_fence else 0) + 1
    else:
        return None
    expires_at = now + ttl
    conn.execute(
        "INSERT INTO roost_actor_lease (actor_type, actor_key, node_id, fence, expires_at)"
        " VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (actor_type, actor_key) DO UPDATE SET node_id = excluded.node_id,"
        " fence = excluded.fence, expires_at = excluded.expires_at",
        (actor_type, key, node_id, fence, expires_at),
    )
    return Lease(actor_type, key, node_id, fence, expires_at, ttl)


def _batch(types: list[str], keys: list[str], fences: list[int]) -> str:
    """A batch of leases as the JSON text that ``json_each`` reads (see ``_BATCH``)."""
    return json.dumps(list(zip(types, keys, fences, strict=True)), separators=(",", ":"))


def _page_clause(actor_type: str | None, after: tuple[str, str] | None) -> tuple[str, list[object]]:
    """The WHERE clause and parameters of a paged listing in (actor_type, key) order."""
    where: list[str] = []
    params: list[object] = []
    if actor_type is not None:
        where.append("actor_type = ?")
        params.append(actor_type)
    if after is not None:
        where.append("(actor_type, actor_key) > (?, ?)")
        params.extend(after)
    return (f" WHERE {' AND '.join(where)}" if where else ""), params


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction that holds SQLite's write lock from its first statement."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn SQLite's "try again later" failures into :class:`StoreUnavailable`."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if (exc.sqlite_errorcode & 0xFF) in _UNAVAILABLE_CODES:
            raise StoreUnavailable(f"shared SQLite store unavailable: {exc}") from exc
        raise
