"""Operator tools behind ``roost sql`` and ``roost actors``, safe beside a running server.

Plain blocking code for a short-lived command. Reading never changes a database: actor files
and the SQLite shared store are opened with ``mode=ro`` (a WAL reader sees one consistent
snapshot while the server writes), and ``actors list`` creates no file at all. Writing is
explicit (``--write``, ``actors import``). Failures become :class:`~roost.StorageError` (the
database or a file) or :class:`~roost.ConfigError` (an argument), with a message for people.

Writers to actor files (``sql --write --actor``, ``actors import``) first take the data
directory's lock (:class:`~roost.storage.DataDirLock`), the one ``roost serve`` holds for its
life: they refuse while a server runs there, and no server starts while they write. Readers
never take it.

``actors import`` is :mod:`roost._import_actor`, which uses this module's helpers.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import attrs
import psycopg

from roost._errors import ConfigError, StorageError
from roost.runtime import ServerConfig
from roost.storage import (
    DataDirLock,
    SQLiteSharedStore,
    actor_db_path,
    open_shared_store,
    validate_actor_type,
)

__all__ = [
    "ActorFile",
    "Rows",
    "export_actor",
    "list_actors",
    "parse_actor",
    "query_actor",
    "query_store",
    "resolve_locations",
    "store_location",
]

#: The first 16 bytes of every SQLite database file.
SQLITE_MAGIC = b"SQLite format 3\x00"
#: Rows fetched from SQLite at a time while results stream out.
FETCH_ROWS = 1000
#: Seconds to wait for a lock held by a server's write (its turns are short).
BUSY_TIMEOUT = 5.0
#: Seconds to establish a PostgreSQL connection.
CONNECT_TIMEOUT = 10

_READ_ONLY_HINT = " (read-only unless --write is given)"
SIDECARS = ("-wal", "-shm", "-journal")


@attrs.frozen
class Rows:
    """The result of one statement: column names (empty when it returns no rows) and rows.

    ``rows`` streams from the database (SQLite) or from the client's buffer (PostgreSQL); read
    it inside the ``with`` block that produced it. ``status`` says what a statement without
    rows did (``"3 rows changed"``, PostgreSQL's ``"UPDATE 3"``).
    """

    columns: tuple[str, ...]
    rows: Iterator[Sequence[Any]]
    status: str


@attrs.frozen
class ActorFile:
    """One actor's SQLite file as ``actors list`` sees it."""

    actor_type: str
    key: str | None  # None when _roost_meta is missing (never opened) or unreadable
    path: Path
    size: int  # bytes of the file and its WAL
    last_active: float  # unix time of the last write to the file or its WAL
    pending_alarms: int | None  # alarms not quarantined; None when unreadable
    error: str | None = None


# -- locations --------------------------------------------------------------------------------


def resolve_locations(
    data_dir: str | None, store: str | None, environ: dict[str, str] | None = None
) -> tuple[Path, str | None]:
    """The data directory and shared store exactly as ``roost serve`` resolves them.

    Flags win over ``ROOST_DATA_DIR`` / ``ROOST_STORE``, which win over the defaults. Other
    ``ROOST_*`` variables are not read, so a setting only the server uses cannot break a tool.
    """
    env = dict(os.environ if environ is None else environ)
    picked: dict[str, str] = {n: env[n] for n in ("ROOST_DATA_DIR", "ROOST_STORE") if n in env}
    config = ServerConfig.from_env(picked, data_dir=data_dir, store=store)
    return config.data_dir, config.store


def store_location(data_dir: Path, store: str | None) -> Path | str:
    """The SQLite file (a Path) or PostgreSQL URL (a str) of the shared store.

    Raises:
        ConfigError: for a URL of another scheme (the rule of :func:`open_shared_store`).
    """
    backend = open_shared_store(store, data_dir=data_dir)
    if isinstance(backend, SQLiteSharedStore):
        return backend.path
    assert store is not None  # only an explicit URL selects PostgreSQL
    return store


def parse_actor(ref: str) -> tuple[str, str]:
    """Split ``TYPE/KEY`` at the first ``/``: ``chat/a/b`` is type ``chat``, key ``a/b``.

    Raises:
        ConfigError: without a ``/``, with an invalid type or an empty key.
    """
    actor_type, slash, key = ref.partition("/")
    if not slash or not key:
        raise ConfigError(f"expected TYPE/KEY (for example chat/lobby), got {ref!r}")
    validate_actor_type(actor_type)
    return actor_type, key


def _existing_actor(data_dir: Path, ref: str) -> Path:
    actor_type, key = parse_actor(ref)
    path = actor_db_path(data_dir, actor_type, key)
    if not path.is_file():
        raise StorageError(f"no actor {actor_type}/{key} in {data_dir} (no file {path})")
    return path


# -- SQL --------------------------------------------------------------------------------------


@contextmanager
def query_store(location: Path | str, statement: str, *, write: bool) -> Iterator[Rows]:
    """Run one statement against the shared store (see :func:`store_location`).

    Raises:
        StorageError: the store cannot be reached or refuses the statement.
    """
    if isinstance(location, Path):
        if not location.is_file():
            raise StorageError(
                f"no shared store at {location}: a server creates it when it first syncs an "
                "actor (check --data-dir or --store)"
            )
        with _query_sqlite(location, statement, write=write) as rows:
            yield rows
    else:
        with _query_postgres(location, statement, write=write) as rows:
            yield rows


@contextmanager
def query_actor(data_dir: Path, ref: str, statement: str, *, write: bool) -> Iterator[Rows]:
    """Run one statement against the SQLite file of the actor ``TYPE/KEY``.

    Raises:
        DataDirLocked: ``write`` while a server (or another writer) holds the data directory.
        StorageError: no such actor, or SQLite refuses the statement.
    """
    path = _existing_actor(data_dir, ref)
    if not write:
        with _query_sqlite(path, statement, write=False) as rows:
            yield rows
        return
    # Changing a file behind a live server's back is refused: the server may hold the
    # actor's state in memory (G3/G4 would be wrong about what is committed).
    with DataDirLock.acquire(data_dir), _query_sqlite(path, statement, write=True) as rows:
        yield rows


@contextmanager
def _query_sqlite(path: Path, statement: str, *, write: bool) -> Iterator[Rows]:
    with sql_errors(), open_sqlite(path, write=write) as conn:
        cursor = conn.execute(statement)  # one statement: sqlite3 refuses several
        columns = tuple(d[0] for d in cursor.description or ())
        status = "" if columns else _changed(cursor.rowcount)
        yield Rows(columns, _fetch(cursor), status)


def _fetch(cursor: sqlite3.Cursor) -> Iterator[Sequence[Any]]:
    while batch := cursor.fetchmany(FETCH_ROWS):
        yield from batch


def _changed(count: int) -> str:
    return "done" if count < 0 else f"{count} row{'' if count == 1 else 's'} changed"


@contextmanager
def _query_postgres(url: str, statement: str, *, write: bool) -> Iterator[Rows]:
    with (
        sql_errors(),
        psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT) as conn,  # commits on success
        conn.cursor() as cursor,
    ):
        conn.read_only = not write  # BEGIN READ ONLY: the server refuses any change
        cursor.execute(statement)
        if cursor.nextset():  # nothing is committed yet: raising rolls every statement back
            raise StorageError("one statement at a time, please")
        columns = tuple(c.name for c in cursor.description or ())
        yield Rows(columns, iter(cursor), "" if columns else cursor.statusmessage or "done")


@contextmanager
def sql_errors() -> Iterator[None]:
    """SQLite's and PostgreSQL's errors (also while rows stream) as StorageError."""
    try:
        yield
    except sqlite3.Error as exc:
        hint = _READ_ONLY_HINT if "readonly" in str(exc) else ""
        raise StorageError(f"SQLite: {exc}{hint}") from None
    except psycopg.errors.ReadOnlySqlTransaction as exc:
        raise StorageError(f"PostgreSQL: {exc}{_READ_ONLY_HINT}") from None
    except psycopg.Error as exc:
        raise StorageError(f"PostgreSQL: {str(exc).strip()}") from None


# -- opening SQLite files ---------------------------------------------------------------------


def sqlite_uri(path: Path, **params: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return f"file:{urllib.parse.quote(str(path.absolute()))}?{query}"


def sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


@contextmanager
def open_sqlite(path: Path, *, write: bool) -> Iterator[sqlite3.Connection]:
    """A connection that never creates ``path``: read-write, or read-only (``mode=ro``).

    A read-only connection to a WAL database whose ``-wal`` does not exist yet (no process
    has it open) must create ``-wal`` and ``-shm`` and cannot remove them; a read-write
    connection that only reads then closes, which makes SQLite remove them if nobody else
    opened the file meanwhile (and leave them, correctly, if somebody did).
    """
    mode = "rw" if write else "ro"
    had_wal = sidecar(path, "-wal").exists()
    conn = sqlite3.connect(sqlite_uri(path, mode=mode), uri=True, timeout=BUSY_TIMEOUT)
    conn.isolation_level = None  # every statement commits on its own
    # Hand control back to Python now and then, so Ctrl-C can stop a long query: the handler
    # that raises KeyboardInterrupt runs here, and SQLite ends the statement ("interrupted").
    conn.set_progress_handler(_keep_going, 10_000)
    try:
        yield conn
    finally:
        conn.close()
    if not write and not had_wal and sidecar(path, "-wal").exists():
        _tidy(path)


def _keep_going() -> int:
    return 0


def _tidy(path: Path) -> None:
    try:
        conn = sqlite3.connect(sqlite_uri(path, mode="rw"), uri=True, timeout=0.2)
        try:
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        pass  # another process holds the file: the empty -wal and -shm are in use, not litter


def _open_untouched(path: Path) -> sqlite3.Connection:
    """A read-only connection that creates no file, for a quick look (``actors list``).

    With a ``-wal`` present the database is (or was) open somewhere and ``mode=ro`` joins its
    WAL without creating anything. Without one every committed change is in the main file,
    which a WAL writer does not touch before a checkpoint, so it is read as immutable.
    """
    if sidecar(path, "-wal").exists():
        return sqlite3.connect(sqlite_uri(path, mode="ro"), uri=True, timeout=BUSY_TIMEOUT)
    return sqlite3.connect(sqlite_uri(path, mode="ro", immutable="1"), uri=True)


def read_meta(conn: sqlite3.Connection) -> dict[str, Any]:
    if not _has_table(conn, "_roost_meta"):
        return {}
    rows = conn.execute("SELECT name, value FROM _roost_meta WHERE name IN ('actor_type', 'key')")
    return dict(rows.fetchall())


def read_alarms(conn: sqlite3.Connection) -> list[tuple[str, float]]:
    if not _has_table(conn, "_roost_alarms"):
        return []
    rows = conn.execute("SELECT name, due_at FROM _roost_alarms WHERE quarantined = 0")
    return rows.fetchall()


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return conn.execute(query, (name,)).fetchone() is not None


# -- actors list ------------------------------------------------------------------------------


def list_actors(data_dir: Path, actor_type: str | None = None) -> list[ActorFile]:
    """Every actor file under ``data_dir`` (of one type), ordered by type and key.

    Creates nothing and takes no lock a server would wait on (see :func:`_open_untouched`).

    Raises:
        ConfigError: for an invalid ``actor_type``.
        StorageError: if ``data_dir`` does not exist.
    """
    if actor_type is not None:
        validate_actor_type(actor_type)
    if not data_dir.is_dir():
        raise StorageError(f"no data directory {data_dir}")
    root = data_dir / "actors"
    if actor_type is not None:
        types = [actor_type]
    else:
        types = sorted(d.name for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
    found = []
    for name in types:
        for path in sorted((root / name).glob("*/*.sqlite")):
            described = _describe(name, path)
            if described is not None:
                found.append(described)
    found.sort(key=lambda a: (a.actor_type, a.key is None, a.key or "", str(a.path)))
    return found


def _describe(actor_type: str, path: Path) -> ActorFile | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None  # removed while we looked
    size, mtime = stat.st_size, stat.st_mtime
    try:
        wal = sidecar(path, "-wal").stat()
        size, mtime = size + wal.st_size, max(mtime, wal.st_mtime)
    except FileNotFoundError:
        pass
    try:
        conn = _open_untouched(path)
        try:
            key = read_meta(conn).get("key")
            alarms = len(read_alarms(conn))
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return ActorFile(actor_type, None, path, size, mtime, None, error=str(exc))
    return ActorFile(actor_type, None if key is None else str(key), path, size, mtime, alarms)


# -- export -----------------------------------------------------------------------------------


def export_actor(data_dir: Path, ref: str, out: IO[bytes] | Path) -> None:
    """Write a consistent copy of the actor's database to ``out`` (a path or a binary stream).

    ``VACUUM INTO`` from a read-only connection: one read transaction, so the copy is one
    committed state even while the server writes, and compact. A path is written through a
    temporary file in its directory and renamed, so it never holds half a database.

    Raises:
        StorageError: no such actor, or the copy failed.
    """
    path = _existing_actor(data_dir, ref)
    target_dir = out.parent if isinstance(out, Path) else None
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".roost-export-") as scratch:
        copy = Path(scratch) / "actor.sqlite"
        with sql_errors(), open_sqlite(path, write=False) as conn:
            conn.execute("VACUUM INTO ?", (str(copy),))
        if isinstance(out, Path):
            os.replace(copy, out)
        else:
            with copy.open("rb") as source:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            out.flush()
