"""One actor's SQLite file: opened lazily, written in atomic turns (G3).

The runtime drives it around every turn::

    storage.begin_turn()
    try:
        await handler()             # uses storage.db / storage.kv
    except BaseException:
        storage.rollback_turn()
        raise
    storage.commit_turn()           # CommitFailed: the turn's outputs are dropped (G4)

Nothing touches the disk until the actor first uses ``db`` or ``kv``: an actor that never
stores anything never creates a file, and a turn on an unopened storage costs nothing.

Most actors create their tables in ``on_start``, so a refused connection or a 404 to a random
key would still leave a file behind. :meth:`ActorStorage.discard` removes a file this object
created when it holds *schema only*: no committed write changed a row (SQLite's
``total_changes``, roost's own owner record aside) and every table is empty (roost's alarm
table too: a pending alarm is data). The runtime calls it whenever an activation that created
its file ends, whatever the activation did (G10: a refused or write-free request leaves
nothing on disk).

:meth:`ActorStorage.delete_all` empties every table of the file inside the turn (Durable
Objects' ``deleteAll``). Once that turn commits, the file counts as one this object created
with no committed write: it holds schema only, so the same rule removes it when the
activation ends (unless a later turn stored rows again).

Long because: :class:`ActorStorage` is one file's one connection and its transaction state
(lazy open, turn, savepoint, group commit, discard); every method reads or changes that state,
so the class does not split without exposing it.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import suppress
from pathlib import Path

from sqlite_utils import Database

from roost._errors import CommitFailed, StorageError

from ._checkpoints import NOTHING, QUEUE, Checkpointer, checkpoint_due, wal_frames
from ._connection import (
    BEGIN_TURN,
    GuardedConnection,
    check_synchronous,
    keep_wal_on_close,
    open_connection,
    set_synchronous,
)
from ._file_fence import SIDE_FILES, stamp_fence
from ._kv import KV
from ._pool import HandlePool, checkpoint_file
from ._template import create_from_template, empty_wal_image

__all__ = ["ActorStorage"]

#: Format of roost's own tables in actor files, recorded in ``_roost_meta``.
FORMAT_VERSION = 1

_META_CREATE = "CREATE TABLE IF NOT EXISTS _roost_meta (name TEXT PRIMARY KEY, value)"
_META_INSERT = "INSERT OR IGNORE INTO _roost_meta (name, value) VALUES (?, ?)"
_META_READ = "SELECT name, value FROM _roost_meta WHERE name IN ('actor_type', 'key')"
_META_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_roost_meta'"
_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name != '_roost_meta'"
#: Every table of the main schema with its kind: ``shadow`` tables belong to a virtual table
#: (FTS, R*Tree) and are emptied through it, never directly.
_TABLE_LIST = "SELECT name, type FROM pragma_table_list WHERE schema = 'main'"
#: roost's alarm table: the names of the alarms a delete removes go to the runtime's scheduler.
_ALARM_TABLE = "_roost_alarms"
#: The runtime's own alarms (``roost.`` names: presence expiry) belong to the live
#: connections, not to the actor's data: a delete keeps them.
_NOT_RUNTIME = "WHERE substr(name, 1, 6) != 'roost.'"
_SEQUENCE_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
#: The files SQLite keeps beside a database.
_SIDE_FILES = SIDE_FILES
#: A handle the pool closes keeps its WAL (no checkpoint: storage/_connection.py) while the
#: WAL is at most this big; a bigger one is checkpointed into the file and removed, so an
#: idle file's WAL stays bounded on disk (the -shm file that goes with it is 32 KiB).
KEEP_WAL_MAX_BYTES = 256 * 1024


class ActorStorage:
    """The SQLite file of one actor, with atomic turns, a KV and a pooled handle.

    ``db`` is a :class:`sqlite_utils.Database` and ``kv`` a :class:`KV` over the same
    connection. Everything written during a turn commits or rolls back together: sqlite-utils
    write methods use ``Database.atomic()``, which becomes a savepoint inside the turn's
    transaction.

    Limitations, by design:

    * Transaction control belongs to roost during a turn. ``db.conn.commit()``,
      ``db.conn.rollback()``, ``db.commit()``, ``conn.executescript()`` and SQL ``BEGIN`` /
      ``COMMIT`` / ``ROLLBACK`` raise ``sqlite3.DatabaseError: not authorized`` instead of
      silently ending the turn's atomicity; use ``db.atomic()`` or savepoints to nest.
      ``db.close()`` raises :class:`~roost.StorageError`.
    * If SQLite aborts the transaction itself (``INSERT OR ROLLBACK``, ``RAISE(ROLLBACK)``,
      disk full), the rest of the turn cannot use the database and the turn fails with
      :class:`~roost.CommitFailed`.
      ``db.conn.isolation_level`` is read-only during a turn.
    * Outside a turn, statements autocommit one by one.
    * Get ``db`` and ``kv`` from this object in each turn rather than keeping them: between
      turns the pool may close the handle, and the next access opens a new one.

    Like the rest of an actor, it lives on the trio thread and never blocks on anything but
    the local disk (and, for up to ``busy_timeout``, a lock held by another process).

    Args:
        path: The actor's file (see :func:`actor_db_path`).
        actor_type: The actor's type, recorded in the file.
        key: The actor's key, recorded in the file and checked when it is reopened.
        pool: The node's handle pool.
        synchronous: ``PRAGMA synchronous`` for this file: ``"NORMAL"`` (default: survives
            process crashes) or ``"FULL"`` (also survives power loss; one fsync per commit).
        busy_timeout: Seconds to wait for a lock held by another process (tools).
        fence: The fence of the lease this activation holds (a cluster node): the file is
            stamped with it when opened (storage/_file_fence.py), so a later owner can tell
            whether the file is older than the state in the shared store.

    Raises:
        ConfigError: if ``synchronous`` is not one of :data:`SYNCHRONOUS_MODES`.
    """

    def __init__(
        self,
        path: Path,
        *,
        actor_type: str,
        key: str,
        pool: HandlePool,
        synchronous: str = "NORMAL",
        busy_timeout: float = 5.0,
        fence: int | None = None,
        checkpoints: Checkpointer | None = None,
    ) -> None:
        self._path = Path(path)
        self._checkpoints = checkpoints
        self._shm: int | None = None  # the -shm file, read after COMMITs (with checkpoints)
        self._fence = fence
        self._actor_type = actor_type
        self._key = key
        self._pool = pool
        self._synchronous = check_synchronous(synchronous)
        self._busy_timeout = busy_timeout
        self._conn: GuardedConnection | None = None
        self._db: Database | None = None
        self._kv: KV | None = None
        self._in_turn = False
        self._turn_txn = False  # this turn's transaction was begun (the file was open)
        self._meta_unwritten = False  # a new file's owner record awaits a committed turn
        self._sync_pending = False  # a new file runs with synchronous=OFF until its 1st commit
        self._wal_kept = False  # the pool closed the handle leaving the WAL (close() removes it)
        self._wal_kept_bytes = 0  # that WAL's size then
        self._group = False  # a transaction spans several turns (group commit)
        self._savepoint = False  # this turn runs in a savepoint of that transaction
        self._created = False  # this object created the file (it did not exist at first open)
        self._wrote = False  # a committed write changed rows (beyond the owner record)
        self._clean = 0  # total_changes of the handle that are accounted for (see _account)
        self._savepoint_changes = 0  # total_changes when this turn's savepoint began
        # delete_all() ran in the open transaction (turn or group), and the alarm names it
        # removed; what they were when this turn's savepoint began (a rollback restores it).
        self._deleting = False
        self._deleted_alarms: tuple[str, ...] = ()
        self._deleting_mark: tuple[bool, tuple[str, ...]] = (False, ())

    def __repr__(self) -> str:
        state = ("open" if self._conn is not None else "closed") + (
            ", in turn" if self._in_turn else ""
        )
        return f"<ActorStorage {self._actor_type}/{self._key!r} {state}>"

    @property
    def path(self) -> Path:
        """The actor's SQLite file."""
        return self._path

    @property
    def actor_type(self) -> str:
        """The actor's type."""
        return self._actor_type

    @property
    def key(self) -> str:
        """The actor's key."""
        return self._key

    @property
    def opened(self) -> bool:
        """Whether the file is open now (it may be closed again by the pool between turns)."""
        return self._conn is not None

    @property
    def created(self) -> bool:
        """Whether this object created the file (it did not exist when first opened)."""
        return self._created

    @property
    def total_changes(self) -> int:
        """Rows changed through the open handle so far (0 when closed): compare the value at
        the start and the end of a turn to learn whether the turn wrote anything."""
        return self._conn.total_changes if self._conn is not None else 0

    @property
    def turn_changes(self) -> int:
        """Rows changed since the last COMMIT, roost's owner record aside (0 when closed):
        compare the value at the start and the end of a turn to learn whether it wrote.

        Unlike :attr:`total_changes` it does not count the owner record that a turn creating
        the file writes, so a turn that only creates tables is write-free (G10).
        """
        conn = self._conn
        return conn.total_changes - self._clean if conn is not None else 0

    @property
    def wrote(self) -> bool:
        """Whether a committed write of this object changed rows (the owner record aside):
        a file it created holds data then, not schema only."""
        self._account()
        return self._wrote

    @property
    def deleting(self) -> bool:
        """Whether :meth:`delete_all` ran in the transaction that the next COMMIT ends (this
        turn, or a turn of the open group): the runtime forgets the actor's alarms and its
        shared-store state at that commit."""
        return self._deleting

    @property
    def deleted_alarms(self) -> tuple[str, ...]:
        """The names of the alarms :meth:`delete_all` removed (while :attr:`deleting`)."""
        return self._deleted_alarms

    @property
    def in_turn(self) -> bool:
        """Whether a turn is in progress (between ``begin_turn`` and its end)."""
        return self._in_turn

    @property
    def db(self) -> Database:
        """The actor's database; opens (and creates) the file on first access.

        Raises:
            StorageError: if the file cannot be opened or belongs to another actor.
        """
        if self._db is None:
            self._open()
            assert self._db is not None
        else:
            self._pool._touch(self)
        return self._db

    @property
    def kv(self) -> KV:
        """The actor's key-value store (in the same file and transaction as ``db``)."""
        if self._kv is None:
            self._open()
            assert self._kv is not None
        else:
            self._pool._touch(self)
        return self._kv

    # -- turns ---------------------------------------------------------------------------------

    def begin_turn(self) -> None:
        """Start a turn: what the actor writes from now on commits or rolls back together.

        Raises:
            StorageError: if a turn is already in progress, or a transaction was left open
                outside a turn (it is rolled back).
        """
        if self._in_turn:
            raise StorageError("a turn is already in progress")
        conn = self._conn
        if conn is not None:
            self._pool._touch(self)
            if self._group:
                self._begin_savepoint(conn)
            else:
                if conn.in_transaction:
                    self._end_transaction(commit=False)
                    raise StorageError("a transaction was left open outside a turn; rolled back")
                self._begin_transaction(conn)
                if self._meta_unwritten:  # the turn that created the file was rolled back
                    self._write_meta(conn)
                    self._clean = conn.total_changes
        self._in_turn = True

    def commit_turn(self, *, keep_open: bool = False) -> None:
        """End the turn, making its writes durable.

        With ``keep_open`` (group commit) the transaction stays open for the next turn, which
        runs in a savepoint of it; the writes become durable at the group's COMMIT, made by
        the last turn without ``keep_open`` or by :meth:`commit_group`.

        Raises:
            StorageError: if no turn is in progress.
            CommitFailed: if the writes could not be committed; they (and the rest of the
                group) were rolled back and the storage is usable again.
        """
        if not self._in_turn:
            raise StorageError("no turn in progress")
        self._in_turn = False
        if not self._turn_txn:
            if not keep_open and self._group:
                self.commit_group()
            elif not self._group:
                self._forget_delete()  # no file: the runtime read `deleting` before this
            return
        self._turn_txn = False
        conn = self._conn
        assert conn is not None
        conn.roost_turn = False
        if not conn.in_transaction:
            self._group = self._savepoint = False
            self._end_transaction(commit=False)
            raise CommitFailed(
                "SQLite rolled back the turn's transaction during the turn "
                "(an OR ROLLBACK conflict, a RAISE(ROLLBACK) trigger, a full disk, ...)"
            )
        if self._savepoint:
            self._savepoint = False
            self._own(conn, "RELEASE roost_turn")
        if keep_open:
            self._group = True
            return
        self._group = False
        self._commit()

    def rollback_turn(self) -> None:
        """End the turn, discarding its writes; the storage stays usable.

        Does nothing when no turn is in progress (for instance after :meth:`close`).
        """
        if not self._in_turn:
            return
        self._in_turn = False
        if self._turn_txn:
            self._turn_txn = False
            conn = self._conn
            if self._savepoint and conn is not None and conn.in_transaction:
                # Only this turn's writes go: the group's earlier turns stay.
                self._savepoint = False
                conn.roost_turn = False
                self._own(conn, "ROLLBACK TO roost_turn")
                self._own(conn, "RELEASE roost_turn")
                self._clean += conn.total_changes - self._savepoint_changes  # undone
                self._deleting, self._deleted_alarms = self._deleting_mark
                return
            self._group = self._savepoint = False
            self._end_transaction(commit=False)
        elif not self._group:
            self._forget_delete()  # a turn on an unopened file: its delete_all goes

    async def delete_all(self) -> None:
        """Delete every row of every table of the actor's file, in the current turn.

        Like Durable Objects' ``deleteAll``: the actor's tables, its KV and its alarms are
        emptied (the tables stay, so the actor can go on using them; the runtime's own
        ``roost.`` alarms, such as presence expiry, stay too). It is part of the turn:
        a turn that raises afterwards rolls the delete back too. Once the turn commits, the
        runtime also forgets the actor's alarms and deletes its row from the shared store, so
        the actor is not restored from there, and the file, holding schema only, is removed
        when the activation ends (unless a later turn stores rows again).

        Raises:
            StorageError: outside a turn (a delete that commits table by table would leave
                half an actor), or if SQLite refuses a statement.
        """
        if not self._in_turn:
            raise StorageError("delete_all() runs inside a turn (an actor's handler)")
        if self._conn is None and not self._path.exists():
            self._mark_deleted(())
            return  # no file: nothing to delete, and none is created to delete nothing
        conn = self.db.conn
        try:
            tables = [
                name
                for name, kind in conn.execute(_TABLE_LIST).fetchall()
                if kind in ("table", "virtual")
                and name != "_roost_meta"
                and not name.startswith("sqlite_")
            ]
            alarms: tuple[str, ...] = ()
            if _ALARM_TABLE in tables:
                tables.remove(_ALARM_TABLE)
                rows = conn.execute(f"DELETE FROM {_ALARM_TABLE} {_NOT_RUNTIME} RETURNING name")
                alarms = tuple(name for (name,) in rows.fetchall())
            for table in tables:
                conn.execute('DELETE FROM "' + table.replace('"', '""') + '"')
            if conn.execute(_SEQUENCE_EXISTS).fetchone() is not None:
                conn.execute("DELETE FROM sqlite_sequence")  # AUTOINCREMENT counters
        except sqlite3.Error as exc:
            raise StorageError(f"delete_all failed: {exc}") from exc
        self._mark_deleted(alarms)

    def _mark_deleted(self, alarms: tuple[str, ...]) -> None:
        self._deleting = True
        self._deleted_alarms = tuple(dict.fromkeys((*self._deleted_alarms, *alarms)))

    @property
    def group_open(self) -> bool:
        """Whether committed turns wait in an open transaction for :meth:`commit_group`."""
        return self._group

    def commit_group(self) -> None:
        """COMMIT the turns a group commit kept open (no turn may be in progress).

        Raises:
            CommitFailed: the group's writes could not be committed; they were rolled back.
        """
        if not self._group:
            return
        self._group = False
        conn = self._conn
        if conn is None or not conn.in_transaction:
            if conn is not None:
                self._end_transaction(commit=False)
            raise CommitFailed("the group's transaction was lost before its commit")
        self._commit()

    def _commit(self) -> None:
        """COMMIT the open transaction; on failure roll it back and raise CommitFailed."""
        try:
            self._end_transaction(commit=True)
        except sqlite3.Error as exc:
            self._end_transaction(commit=False)
            raise CommitFailed(f"commit failed: {exc}") from exc
        self._meta_unwritten = False
        if self._sync_pending:
            self._apply_synchronous()
        else:
            self._checkpoint_if_due()
        self._account()
        if self._deleting:
            # What was committed before is gone: the file holds what turns wrote since the
            # delete, and discard() looks into its tables to decide (see the module doc).
            self._created, self._wrote = True, False
            self._forget_delete()

    def _forget_delete(self) -> None:
        self._deleting, self._deleted_alarms = False, ()
        self._deleting_mark = (False, ())

    def _account(self) -> None:
        """Outside a transaction: rows changed since the last account were committed."""
        conn = self._conn
        if conn is not None and not conn.in_transaction:
            if conn.total_changes > self._clean:
                self._wrote = True
            self._clean = conn.total_changes

    def discard(self, *, prune_upto: Path | None = None, keep_wal: bool = False) -> bool:
        """Close the handle, and remove the file if it holds schema only and this object
        created it. Returns whether it was removed; a file that stays is closed as by
        :meth:`close` with ``keep_wal``.

        *Schema only* means no committed write changed a row (roost's owner record aside)
        and every table is empty: DDL such as ``CREATE TABLE IF NOT EXISTS`` alone leaves
        nothing worth a file. The ``-wal``, ``-shm`` and ``-journal`` files go too, and so
        do the directories above the file that are empty now, up to (not including)
        ``prune_upto``. Anything else (a turn in progress, a read error) keeps the file.
        """
        removable = self._created and not self._in_turn and not self._group
        if removable:
            try:
                removable = self._holds_schema_only()
                if removable and self._conn is not None:
                    # The checkpoint that closing runs need not reach the disk: the file goes.
                    set_synchronous(self._conn, "OFF")
                    self._sync_pending = False
            except (StorageError, sqlite3.Error):
                removable = False
        self.close(keep_wal=keep_wal and not removable)
        if not removable:
            return False
        path = self._path
        with suppress(FileNotFoundError):
            path.unlink()
        for suffix in _SIDE_FILES:
            with suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")
        self._created = self._wrote = False
        if prune_upto is not None:
            root = Path(os.path.abspath(prune_upto))
            directory = Path(os.path.abspath(path.parent))
            while directory != root and root in directory.parents:
                try:
                    directory.rmdir()  # only if empty: another actor's file keeps it
                except OSError:
                    break
                directory = directory.parent
        return True

    def _holds_schema_only(self) -> bool:
        if not self._path.exists():
            return True  # already gone: do not create it again to look inside
        self._account()
        if self._wrote:
            return False
        conn = self._conn
        if conn is None:
            self._open()
            conn = self._conn
            assert conn is not None
        for (table,) in conn.execute(_TABLES).fetchall():
            quoted = '"' + table.replace('"', '""') + '"'
            if conn.execute(f"SELECT 1 FROM {quoted} LIMIT 1").fetchone() is not None:
                return False
        return True

    def close(self, *, keep_wal: bool = False) -> None:
        """Close the handle, rolling back a turn in progress; the next access reopens.

        Ends the turn, if any: a later :meth:`rollback_turn` does nothing. By default a WAL
        the pool left beside the file (see :meth:`_drop_handle`) is checkpointed into it and
        removed with its -shm, so after the actor's close its file stands alone, as it always
        did. With ``keep_wal`` (an idle eviction: the actor is likely to come back) a WAL under
        :data:`KEEP_WAL_MAX_BYTES` stays, remembered by the pool, which checkpoints it when it
        keeps too many or at :meth:`HandlePool.checkpoint_kept` (the shutdown).
        """
        self._in_turn = False
        self._turn_txn = False
        self._group = self._savepoint = False
        self._forget_delete()
        if self._conn is not None:
            self._pool._unregister(self)
            self._drop_handle(keep_wal=keep_wal)
        if self._wal_kept:
            self._wal_kept = False
            if not (keep_wal and self._pool._keep_wal(self._path, self._wal_kept_bytes)):
                checkpoint_file(self._path)

    # -- pool protocol -------------------------------------------------------------------------

    def _pool_pinned(self) -> bool:
        conn = self._conn
        return self._in_turn or (conn is not None and conn.in_transaction)

    def _pool_evict(self) -> None:
        self._drop_handle(keep_wal=True)

    # -- plumbing ------------------------------------------------------------------------------

    def _open(self) -> None:
        path = self._path
        try:
            fresh = not path.exists()
            if fresh:
                self._create(path)
                self._created = True
            # A file without a WAL (new, or checkpointed when its last handle closed) gets
            # one at its first commit, whose header SQLite syncs, with the directory, under
            # NORMAL (two fsyncs, most of an evicted actor's next turn on ext4): that commit
            # runs with synchronous=OFF (see below; for a file that exists, only inside a
            # turn, whose commit comes soon). No frame depends on that header yet, and
            # NORMAL syncs no commit; FULL and EXTRA sync every commit, the first too.
            new_wal = self._synchronous == "NORMAL" and (
                fresh or (self._in_turn and not os.path.exists(f"{path}-wal"))
            )
            conn = open_connection(
                path,
                synchronous=self._synchronous,
                busy_timeout=self._busy_timeout,
                creating=new_wal,
            )
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open storage of {self._actor_type}: {exc}") from exc
        # A file created inside a turn records its owner in that turn's transaction: one
        # commit fewer per cold activation (a rollback leaves a file without meta rows, which
        # the next open initialises).
        meta_in_turn = fresh and self._in_turn
        try:
            if self._fence is not None:
                stamp_fence(conn, self._fence)
            if new_wal:
                # No sync before the first commit (the WAL is new: its header need not be
                # synced ahead of its frames); wal_autocheckpoint=0 keeps a big first commit
                # from checkpointing unsynced (see _apply_synchronous).
                self._sync_pending = True
            if new_wal or self._checkpoints is not None:
                conn.execute("PRAGMA wal_autocheckpoint=0")
            if not meta_in_turn:
                self._check_meta(conn, fresh=fresh)
                if fresh:
                    self._apply_synchronous(conn)
            db = Database(conn)
        except BaseException as exc:
            conn.roost_close()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"cannot open storage of {self._actor_type}: {exc}") from exc
            raise
        self._conn, self._db, self._kv = conn, db, KV(conn)
        self._wal_kept = False  # this handle's close decides what happens to the WAL
        self._pool._reopened(path)
        self._clean = conn.total_changes  # the owner record is not the actor's data
        self._pool._register(self)
        if self._in_turn:
            try:
                self._begin_transaction(conn)
                if meta_in_turn:
                    self._meta_unwritten = True
                    self._write_meta(conn)
                    self._clean = conn.total_changes
            except (StorageError, sqlite3.Error):
                # Never hand out a handle outside the turn's transaction: retry on next access.
                self._pool._unregister(self)
                self._drop_handle()
                raise

    @staticmethod
    def _create(path: Path) -> None:
        """Create a new file as a copy of the empty WAL-mode image (storage/_template.py);
        if the image cannot be built, SQLite creates the file when it opens it."""
        try:
            image = empty_wal_image()
        except (OSError, sqlite3.Error, StorageError):
            path.parent.mkdir(parents=True, exist_ok=True)
            return
        create_from_template(path, image)

    def _apply_synchronous(self, conn: GuardedConnection | None = None) -> None:
        """After a new file's first commit: its ``synchronous`` and automatic checkpoints."""
        conn = conn if conn is not None else self._conn
        if conn is None:
            return
        set_synchronous(conn, self._synchronous)
        if self._checkpoints is None:  # else the checkpointer's (see _checkpoint_if_due)
            conn.execute("PRAGMA wal_autocheckpoint=1000")  # SQLite's default
        self._sync_pending = False

    def _check_meta(self, conn: GuardedConnection, *, fresh: bool) -> None:
        """Record who owns a new file; check it on an existing one."""
        if not fresh:
            try:
                meta = dict(conn.execute(_META_READ).fetchall())
            except sqlite3.OperationalError:
                if conn.execute(_META_EXISTS).fetchone() is not None:
                    raise
                meta = {}  # created but never initialised (crash at creation)
            if meta:
                if meta != {"actor_type": self._actor_type, "key": self._key}:
                    raise StorageError(f"{self._path.name} belongs to another actor")
                return
        conn.roost_own = True
        try:
            conn.execute(BEGIN_TURN)
            self._write_meta(conn)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.roost_own = False

    def _write_meta(self, conn: GuardedConnection) -> None:
        """Create and fill ``_roost_meta`` in the transaction that is open on ``conn``."""
        conn.execute(_META_CREATE)
        conn.executemany(
            _META_INSERT,
            [("actor_type", self._actor_type), ("key", self._key), ("format", FORMAT_VERSION)],
        )

    def _begin_transaction(self, conn: GuardedConnection) -> None:
        self._account()  # writes made outside turns committed one by one
        conn.roost_own = True
        try:
            if conn.roost_stale:
                conn.roost_expire_statements()
            conn.isolation_level = "DEFERRED"  # DML after an aborted transaction hits the guard
            conn.execute(BEGIN_TURN)
        except sqlite3.Error as exc:
            conn.isolation_level = None
            raise StorageError(f"cannot begin a turn: {exc}") from exc
        finally:
            conn.roost_own = False
        conn.roost_turn = True
        self._turn_txn = True

    def _begin_savepoint(self, conn: GuardedConnection) -> None:
        """Start a turn inside the group's open transaction."""
        if not conn.in_transaction:  # SQLite ended it (e.g. a failed statement's rollback)
            self._group = False
            raise CommitFailed("the group's transaction was lost between turns")
        self._own(conn, "SAVEPOINT roost_turn")
        self._savepoint_changes = conn.total_changes
        self._deleting_mark = (self._deleting, self._deleted_alarms)
        conn.roost_turn = True
        self._turn_txn = self._savepoint = True

    def _checkpoint_if_due(self) -> None:
        """After a COMMIT, with a checkpointer (storage/_checkpoints.py): hand a long WAL to
        its thread, or copy here what is left of it (or all of it, the thread being far
        behind or its queue full), as SQLite's automatic checkpoint would. A checkpoint that
        fails, or finds the thread's under way, leaves it to the next COMMIT."""
        checkpoints, conn = self._checkpoints, self._conn
        if checkpoints is None or conn is None:
            return
        if self._shm is None:  # kept open with the handle: one pread per COMMIT
            try:
                self._shm = os.open(f"{self._path}-shm", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return
        try:
            due = checkpoint_due(wal_frames(self._shm))
        except OSError:
            return
        if due == QUEUE and checkpoints.want(self._path, self._synchronous):
            return
        if due != NOTHING:
            with suppress(sqlite3.Error):
                self._own(conn, "PRAGMA wal_checkpoint(PASSIVE)")

    @staticmethod
    def _own(conn: GuardedConnection, statement: str) -> None:
        """Run a transaction-control statement as roost (the guard lets it through)."""
        conn.roost_own = True
        try:
            conn.execute(statement)
        finally:
            conn.roost_own = False

    def _end_transaction(self, *, commit: bool) -> None:
        """COMMIT or ROLLBACK as roost; a failed ROLLBACK drops the handle (reopens later).

        Raises:
            sqlite3.Error: if COMMIT fails; the transaction is then still open.
        """
        conn = self._conn
        assert conn is not None
        conn.roost_turn = False
        conn.roost_own = True
        try:
            if commit:
                conn.commit()
            else:
                conn.rollback()
        except sqlite3.Error:
            if commit:
                raise
            # A handle that cannot roll back is not trusted any more; closing it discards
            # the transaction (SQLite recovers the file on the next open).
            self._pool._unregister(self)
            self._drop_handle()
            self._forget_delete()
            return
        finally:
            conn.roost_own = False
        if not commit:
            self._clean = conn.total_changes  # what the transaction changed is undone
            self._forget_delete()
        conn.isolation_level = None  # not in a transaction now, so this commits nothing
        self._pool._touch(self)

    def _drop_handle(self, *, keep_wal: bool = False) -> None:
        """Close the handle. With ``keep_wal`` (the pool closing an idle handle) a small WAL
        stays beside the file with its -shm, so the next open creates neither and syncs no
        new WAL header; the actor's own close checkpoints and removes them as before."""
        self._account()
        conn = self._conn
        self._conn = self._db = self._kv = None
        self._turn_txn = False
        if self._shm is not None:
            os.close(self._shm)
            self._shm = None
        if self._checkpoints is not None:
            self._checkpoints.forget(self._path)
        if conn is None:
            return
        try:
            if self._sync_pending:
                if conn.in_transaction:  # SQLite refuses to change synchronous inside one
                    conn.roost_own = True
                    try:
                        conn.rollback()  # what closing would do anyway
                    finally:
                        conn.roost_own = False
                self._apply_synchronous(conn)  # the checkpoint at close must sync
            if keep_wal and not conn.in_transaction:
                size = self._wal_bytes()
                if size <= KEEP_WAL_MAX_BYTES:
                    self._wal_kept = keep_wal_on_close(conn)
                    self._wal_kept_bytes = size
        except (OSError, sqlite3.Error):
            pass  # closing checkpoints as usual
        finally:
            conn.roost_close()

    def _wal_bytes(self) -> int:
        try:
            return os.stat(f"{self._path}-wal").st_size
        except FileNotFoundError:
            return 0
