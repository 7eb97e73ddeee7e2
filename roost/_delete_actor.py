"""``roost actors delete TYPE/KEY``: an actor's file and its shared-store rows, while no server
runs on the data directory.

A live actor deletes its own data (``await self.storage.delete_all()`` in a turn); this tool is
for a stopped node. It takes the data directory's lock (:class:`~roost.storage.DataDirLock`),
like ``roost actors import``, so it refuses while a server runs there and a server cannot
start in the middle of it. In the shared store it deletes the actor's state and lease rows in
one transaction, refusing (and changing nothing) while another node holds an unexpired lease
on the actor: that node runs it, and its writes would bring the state back. Then it removes
the actor's file (with its ``-wal``/``-shm``) and the node's notes about the actor in
``node.sqlite`` (alarm index, dirty mark), so a restarted node neither fires the actor's alarms
nor syncs it again. Plain blocking code for a short-lived command; like the other tools it
writes the tables with SQL rather than through :class:`~roost.storage.SharedStore`, whose
opening would migrate a store under a running older server.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import attrs
import psycopg

from roost import _tools
from roost._errors import StorageError
from roost.runtime._node_store import NodeStore
from roost.storage import DataDirLock, actor_db_path, remove_actor_file

__all__ = ["ActorInUse", "Deleted", "UnknownActor", "delete_actor"]

#: The tables of an actor's file history (durable output, replicate_file), schema 3 on.
_HISTORY = ("roost_actor_log", "roost_actor_file")
#: A mark above any a node hands out: clears the actor's dirty mark whatever it is.
_EVERY_MARK = 2**62


class UnknownActor(StorageError):
    """Neither a file nor a shared-store row of the actor exists: nothing was deleted."""


class ActorInUse(StorageError):
    """Another node holds the actor's lease: nothing was deleted."""


@attrs.frozen
class Deleted:
    """What ``actors delete`` removed."""

    file: bool  # the actor's SQLite file
    state: bool  # its row in roost_actor_state (or its file history)
    lease: bool  # its row in roost_actor_lease


def delete_actor(data_dir: Path, ref: str, store: str | None) -> Deleted:
    """Delete the actor ``ref`` (``TYPE/KEY``): store rows first, then its file.

    Raises:
        ConfigError: for a malformed ``ref`` or store URL.
        DataDirLocked: a server (or another writer) holds the data directory.
        ActorInUse: another node holds an unexpired lease on the actor.
        UnknownActor: there is nothing of this actor to delete.
        StorageError: the store could not be written.
    """
    actor_type, key = _tools.parse_actor(ref)
    location = _tools.store_location(data_dir, store)
    with DataDirLock.acquire(data_dir):
        if isinstance(location, Path):
            state, lease = _delete_sqlite_rows(location, actor_type, key)
        else:
            state, lease = _delete_postgres_rows(location, actor_type, key)
        path = actor_db_path(data_dir, actor_type, key)
        file = path.is_file()
        if file:
            _remove(path, data_dir)
        if not (file or state or lease):
            raise UnknownActor(f"no actor {actor_type}/{key}: no file and no shared-store row")
        _forget_in_node_stores(data_dir, actor_type, key)
    return Deleted(file, state, lease)


def _delete_sqlite_rows(path: Path, actor_type: str, key: str) -> tuple[bool, bool]:
    if not path.is_file():
        return False, False  # no store yet: not created for nothing
    try:
        conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the shared store {path}: {exc}") from exc
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not _has_tables(conn):
                conn.execute("ROLLBACK")
                return False, False
            holder = conn.execute(
                "SELECT node_id FROM roost_actor_lease WHERE actor_type = ? AND actor_key = ?"
                " AND node_id IS NOT NULL AND expires_at > ?",
                (actor_type, key, time.time()),
            ).fetchone()
            if holder is not None:
                raise _in_use(actor_type, key, holder[0])
            ident = (actor_type, key)
            state = conn.execute(
                "DELETE FROM roost_actor_state WHERE actor_type = ? AND actor_key = ?", ident
            ).rowcount
            lease = conn.execute(
                "DELETE FROM roost_actor_lease WHERE actor_type = ? AND actor_key = ?", ident
            ).rowcount
            for table in _HISTORY:
                if conn.execute(_SQLITE_TABLE, (table,)).fetchone() is not None:
                    state += conn.execute(
                        f"DELETE FROM {table} WHERE actor_type = ? AND actor_key = ?", ident
                    ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise StorageError(f"cannot delete from the shared store {path}: {exc}") from exc
    finally:
        conn.close()
    return state > 0, lease > 0


_SQLITE_TABLE = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"


def _has_tables(conn: sqlite3.Connection) -> bool:
    found = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
        " AND name IN ('roost_actor_state', 'roost_actor_lease')"
    ).fetchone()
    return bool(found[0] == 2)


def _delete_postgres_rows(url: str, actor_type: str, key: str) -> tuple[bool, bool]:
    ident = (actor_type, key)
    try:
        with psycopg.connect(url, connect_timeout=5) as conn, conn.transaction():
            holder = conn.execute(
                "SELECT node_id FROM roost_actor_lease WHERE actor_type = %s AND actor_key = %s"
                " AND node_id IS NOT NULL AND expires_at > now() FOR UPDATE",
                ident,
            ).fetchone()
            if holder is not None:
                raise _in_use(actor_type, key, holder[0])
            state = conn.execute(
                "DELETE FROM roost_actor_state WHERE actor_type = %s AND actor_key = %s", ident
            ).rowcount
            lease = conn.execute(
                "DELETE FROM roost_actor_lease WHERE actor_type = %s AND actor_key = %s", ident
            ).rowcount
            for table in _HISTORY:
                found = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
                if found is not None and found[0] is not None:
                    state += conn.execute(
                        f"DELETE FROM {table} WHERE actor_type = %s AND actor_key = %s", ident
                    ).rowcount
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot delete from the PostgreSQL shared store: {first}") from exc
    return state > 0, lease > 0


def _in_use(actor_type: str, key: str, node_id: str) -> ActorInUse:
    return ActorInUse(
        f"{actor_type}/{key} is held by node {node_id}: delete it from the app "
        "(storage.delete_all() in a turn) or stop that node first"
    )


def _remove(path: Path, data_dir: Path) -> None:
    """The file, the files SQLite keeps beside it, and its directories left empty."""
    remove_actor_file(path)
    root = data_dir.resolve()
    directory = path.parent.resolve()
    while directory != root and root in directory.parents:
        try:
            directory.rmdir()  # only if empty: another actor's file keeps it
        except OSError:
            break
        directory = directory.parent


def _forget_in_node_stores(data_dir: Path, actor_type: str, key: str) -> None:
    """Drop the actor's alarm index entries and dirty mark from every ``node.sqlite`` of the
    data directory (the node's, and each worker's of ``serve --workers``)."""
    candidates = [data_dir / "node.sqlite", *sorted(data_dir.glob("workers/*/node.sqlite"))]
    for path in candidates:
        if not path.is_file():
            continue
        node = NodeStore(path)
        try:
            ours = [(t, k, n) for t, k, n, _ in node.alarms() if (t, k) == (actor_type, key)]
            node.delete_alarms(ours)
            node.clear_dirty([(actor_type, key, _EVERY_MARK)])
        finally:
            node.close()
