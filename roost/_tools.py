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

Replacing an actor's file goes through SQLite's own locking rather than around it: the import
takes an exclusive lock on the actor's database, which fails while any other process has the
file open (a WAL connection keeps a shared lock on the file for as long as it is open, busy
or idle), and copies the new content in with the backup API inside one transaction, so a
crash leaves the old file and a concurrent opener waits on the lock and then sees the new
content; no rename can leave a process working on an unlinked file.

Long because: it is every operator tool over the files a server writes (sql, list, export,
import), and they share the read-only opening, the error mapping and the data directory's
rules; replacing a file safely (lock, staging, fsync) is half of it.
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
from roost.runtime._node_store import NodeStore
from roost.storage import (
    DataDirLock,
    SQLiteSharedStore,
    actor_db_path,
    open_shared_store,
    validate_actor_type,
)
from roost.storage._actor_storage import FORMAT_VERSION

__all__ = [
    "ActorFile",
    "ImportReport",
    "Rows",
    "export_actor",
    "import_actor",
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
#: Seconds an import waits for short-lived readers (other tools) to let go of the actor file.
LOCK_TIMEOUT = 1.0
#: Seconds to wait for a lock held by a server's write (its turns are short).
BUSY_TIMEOUT = 5.0
#: Seconds to establish a PostgreSQL connection.
CONNECT_TIMEOUT = 10

_READ_ONLY_HINT = " (read-only unless --write is given)"
_SIDECARS = ("-wal", "-shm", "-journal")


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


@attrs.frozen
class ImportReport:
    """What ``actors import`` did."""

    path: Path
    replaced: bool  # an existing file was replaced (else a new one created)
    pending_alarms: int  # imported alarms now in the node's index


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
    with _sql_errors(), _open_sqlite(path, write=write) as conn:
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
        _sql_errors(),
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
def _sql_errors() -> Iterator[None]:
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


def _uri(path: Path, **params: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return f"file:{urllib.parse.quote(str(path.absolute()))}?{query}"


def _sidecar(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


@contextmanager
def _open_sqlite(path: Path, *, write: bool) -> Iterator[sqlite3.Connection]:
    """A connection that never creates ``path``: read-write, or read-only (``mode=ro``).

    A read-only connection to a WAL database whose ``-wal`` does not exist yet (no process
    has it open) must create ``-wal`` and ``-shm`` and cannot remove them; a read-write
    connection that only reads then closes, which makes SQLite remove them if nobody else
    opened the file meanwhile (and leave them, correctly, if somebody did).
    """
    mode = "rw" if write else "ro"
    had_wal = _sidecar(path, "-wal").exists()
    conn = sqlite3.connect(_uri(path, mode=mode), uri=True, timeout=BUSY_TIMEOUT)
    conn.isolation_level = None  # every statement commits on its own
    # Hand control back to Python now and then, so Ctrl-C can stop a long query: the handler
    # that raises KeyboardInterrupt runs here, and SQLite ends the statement ("interrupted").
    conn.set_progress_handler(_keep_going, 10_000)
    try:
        yield conn
    finally:
        conn.close()
    if not write and not had_wal and _sidecar(path, "-wal").exists():
        _tidy(path)


def _keep_going() -> int:
    return 0


def _tidy(path: Path) -> None:
    try:
        conn = sqlite3.connect(_uri(path, mode="rw"), uri=True, timeout=0.2)
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
    if _sidecar(path, "-wal").exists():
        return sqlite3.connect(_uri(path, mode="ro"), uri=True, timeout=BUSY_TIMEOUT)
    return sqlite3.connect(_uri(path, mode="ro", immutable="1"), uri=True)


def _meta(conn: sqlite3.Connection) -> dict[str, Any]:
    if not _has_table(conn, "_roost_meta"):
        return {}
    rows = conn.execute("SELECT name, value FROM _roost_meta WHERE name IN ('actor_type', 'key')")
    return dict(rows.fetchall())


def _pending_alarms(conn: sqlite3.Connection) -> list[tuple[str, float]]:
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
        wal = _sidecar(path, "-wal").stat()
        size, mtime = size + wal.st_size, max(mtime, wal.st_mtime)
    except FileNotFoundError:
        pass
    try:
        conn = _open_untouched(path)
        try:
            key = _meta(conn).get("key")
            alarms = len(_pending_alarms(conn))
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
        with _sql_errors(), _open_sqlite(path, write=False) as conn:
            conn.execute("VACUUM INTO ?", (str(copy),))
        if isinstance(out, Path):
            os.replace(copy, out)
        else:
            with copy.open("rb") as source:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            out.flush()


# -- import -----------------------------------------------------------------------------------


def import_actor(
    data_dir: Path, ref: str, source: IO[bytes] | Path, *, force: bool = False
) -> ImportReport:
    """Make the database in ``source`` the actor's file, replacing any file it has.

    The input must be an SQLite database that passes ``PRAGMA quick_check``; if it records an
    actor (``_roost_meta``) that must be this one unless ``force``; the copy is labelled as
    this actor either way. The target is replaced only while no other process has it open
    (see the module docstring). Afterwards the node's index (``node.sqlite``) lists the
    imported alarms and marks the actor dirty, so a server started on ``data_dir`` fires them
    and syncs the actor's new state to the shared store.

    Raises:
        ConfigError: for a bad ``TYPE/KEY``.
        DataDirLocked: a server (or another writer) holds the data directory.
        StorageError: the input is not a usable database or belongs to another actor, or the
            actor's file is in use.
    """
    actor_type, key = parse_actor(ref)
    with DataDirLock.acquire(data_dir):  # never into a running server's directory
        target = actor_db_path(data_dir, actor_type, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.import-")
        staging = Path(name)
        try:
            os.chmod(fd, _new_file_mode())  # mkstemp's 0600 would follow the file into place
            if isinstance(source, Path):
                os.close(fd)
                _copy_database(source, staging)
                label = str(source)
            else:
                with os.fdopen(fd, "wb") as raw:
                    _copy_stream(source, raw)
                label = "the input"
            with _sql_errors():
                alarms = _prepare(staging, label, actor_type, key, force=force)
                replaced = _place(staging, target, f"{actor_type}/{key}")
        finally:
            for path in (staging, *(_sidecar(staging, s) for s in _SIDECARS)):
                path.unlink(missing_ok=True)
        _index(data_dir, actor_type, key, alarms)
    return ImportReport(target, replaced, len(alarms))


def _new_file_mode() -> int:
    """The permissions a new file gets here (0666 less the umask), as SQLite would create it."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _copy_database(source: Path, staging: Path) -> None:
    """Copy a database file with the backup API, so one still in WAL mode beside its ``-wal``
    arrives complete."""
    try:
        with source.open("rb") as file:
            head = file.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise StorageError(f"no such file {source}") from None
    except OSError as exc:
        raise StorageError(f"cannot read {source}: {exc.strerror}") from None
    _check_magic(str(source), head)
    with _sql_errors(), _open_sqlite(source, write=False) as conn:
        dest = sqlite3.connect(staging)
        try:
            conn.backup(dest)
        finally:
            dest.close()


def _copy_stream(source: IO[bytes], raw: IO[bytes]) -> None:
    head = source.read(len(SQLITE_MAGIC))
    _check_magic("the input", head)
    raw.write(head)
    while chunk := source.read(1 << 20):
        raw.write(chunk)


def _check_magic(label: str, head: bytes) -> None:
    if not head:
        raise StorageError(f"{label} is empty")
    if head != SQLITE_MAGIC:
        raise StorageError(f"{label} is not an SQLite database")


def _prepare(
    staging: Path, label: str, actor_type: str, key: str, *, force: bool
) -> list[tuple[str, float]]:
    """Check and label the staged copy; return its pending alarms."""
    conn = sqlite3.connect(staging, isolation_level=None)
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise StorageError(f"{label} is damaged: {check}")
        meta = _meta(conn)
        wanted = {"actor_type": actor_type, "key": key}
        if meta and meta != wanted and not force:
            owner = f"{meta.get('actor_type')}/{meta.get('key')}"
            raise StorageError(
                f"{label} holds actor {owner}, not {actor_type}/{key} "
                "(--force imports it anyway, as this actor)"
            )
        # Label it as roost labels a new file, so the key shows before the actor first runs.
        conn.execute("CREATE TABLE IF NOT EXISTS _roost_meta (name TEXT PRIMARY KEY, value)")
        conn.execute(
            "INSERT OR IGNORE INTO _roost_meta (name, value) VALUES ('format', ?)",
            (FORMAT_VERSION,),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO _roost_meta (name, value) VALUES (?, ?)", wanted.items()
        )
        alarms = _pending_alarms(conn)
        conn.execute("PRAGMA journal_mode=WAL")  # what roost uses; no -wal is left on close
    finally:
        conn.close()
    return alarms


def _place(staging: Path, target: Path, name: str) -> bool:
    """Move the staged database into place; True if it replaced an existing file."""
    if not target.exists():
        for suffix in _SIDECARS:  # left without their database, they would be misapplied
            _sidecar(target, suffix).unlink(missing_ok=True)
        _fsync_file(staging)
        try:
            os.link(staging, target)  # appears whole, and never over a file made meanwhile
            _fsync_dir(target.parent)
            return False
        except FileExistsError:
            pass  # created since we looked: replace it like any other
    _replace_locked(staging, target, name)
    return True


def _replace_locked(staging: Path, target: Path, name: str) -> None:
    """Copy ``staging`` over ``target`` under an exclusive lock, in one transaction.

    ``locking_mode=EXCLUSIVE`` makes the lock cover WAL readers too: it fails while any other
    connection has the file open and then keeps every other process out until we close. The
    file is switched to a rollback journal for the copy (so the page size may change and a
    crash rolls back to the old content) and back to WAL before it is released.
    """
    dest = sqlite3.connect(_uri(target, mode="rw"), uri=True, timeout=LOCK_TIMEOUT)
    dest.isolation_level = None
    try:
        dest.execute("PRAGMA locking_mode=EXCLUSIVE")
        try:
            dest.execute("BEGIN EXCLUSIVE")
            dest.execute("COMMIT")  # the lock stays: exclusive locking mode keeps it
            mode = dest.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise StorageError(
                    f"{name} is in use: another process (a tool such as roost sql) has its "
                    "database open; import again when it is done"
                ) from None
            raise StorageError(
                f"the existing file {target} cannot be read ({exc}); move it away and import again"
            ) from None
        if mode != "delete":
            raise StorageError(f"cannot take {target.name} out of WAL mode for the copy")
        source = sqlite3.connect(_uri(staging, mode="ro"), uri=True)
        try:
            source.backup(dest)
        finally:
            source.close()
        dest.execute("PRAGMA journal_mode=WAL")
        for suffix in ("-shm", "-journal"):  # unused now, and nobody else can be using them
            _sidecar(target, suffix).unlink(missing_ok=True)
    finally:
        dest.close()


def _fsync_file(path: Path) -> None:
    with path.open("rb") as file:
        os.fsync(file.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _index(data_dir: Path, actor_type: str, key: str, alarms: list[tuple[str, float]]) -> None:
    """Point the node's alarm index at the imported alarms and mark the actor dirty."""
    node = NodeStore(data_dir / "node.sqlite")
    try:
        ours = [(t, k, n) for t, k, n, _ in node.alarms() if (t, k) == (actor_type, key)]
        node.delete_alarms(ours)
        node.put_alarms([(actor_type, key, name, due) for name, due in alarms])
        node.mark_dirty(actor_type, key, node.next_mark())
    finally:
        node.close()
