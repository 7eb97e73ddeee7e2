"""``roost actors import``: make a database the file of an actor, safe beside other processes.

Replacing an actor's file goes through SQLite's own locking rather than around it: the import
takes an exclusive lock on the actor's database, which fails while any other process has the
file open (a WAL connection keeps a shared lock on the file for as long as it is open, busy
or idle), and copies the new content in with the backup API inside one transaction, so a
crash leaves the old file and a concurrent opener waits on the lock and then sees the new
content; no rename can leave a process working on an unlinked file.

Writers to actor files first take the data directory's lock
(:class:`~roost.storage.DataDirLock`), the one ``roost serve`` holds for its life. Failures
become :class:`~roost.StorageError` or :class:`~roost.ConfigError` (see :mod:`roost._tools`,
whose reading helpers this module uses).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path
from typing import IO

import attrs

from roost._errors import StorageError
from roost._tools import (
    SIDECARS,
    SQLITE_MAGIC,
    open_sqlite,
    parse_actor,
    read_alarms,
    read_meta,
    sidecar,
    sql_errors,
    sqlite_uri,
)
from roost.runtime._node_store import NodeStore
from roost.storage import DataDirLock, actor_db_path
from roost.storage._actor_storage import FORMAT_VERSION

__all__ = ["ImportReport", "import_actor"]

#: Seconds an import waits for short-lived readers (other tools) to let go of the actor file.
LOCK_TIMEOUT = 1.0


@attrs.frozen
class ImportReport:
    """What ``actors import`` did."""

    path: Path
    replaced: bool  # an existing file was replaced (else a new one created)
    pending_alarms: int  # imported alarms now in the node's index


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
            with sql_errors():
                alarms = _prepare(staging, label, actor_type, key, force=force)
                replaced = _place(staging, target, f"{actor_type}/{key}")
        finally:
            for path in (staging, *(sidecar(staging, s) for s in SIDECARS)):
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
    with sql_errors(), open_sqlite(source, write=False) as conn:
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
        meta = read_meta(conn)
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
        alarms = read_alarms(conn)
        conn.execute("PRAGMA journal_mode=WAL")  # what roost uses; no -wal is left on close
    finally:
        conn.close()
    return alarms


def _place(staging: Path, target: Path, name: str) -> bool:
    """Move the staged database into place; True if it replaced an existing file."""
    if not target.exists():
        for suffix in SIDECARS:  # left without their database, they would be misapplied
            sidecar(target, suffix).unlink(missing_ok=True)
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
    dest = sqlite3.connect(sqlite_uri(target, mode="rw"), uri=True, timeout=LOCK_TIMEOUT)
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
        source = sqlite3.connect(sqlite_uri(staging, mode="ro"), uri=True)
        try:
            source.backup(dest)
        finally:
            source.close()
        dest.execute("PRAGMA journal_mode=WAL")
        for suffix in ("-shm", "-journal"):  # unused now, and nobody else can be using them
            sidecar(target, suffix).unlink(missing_ok=True)
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
