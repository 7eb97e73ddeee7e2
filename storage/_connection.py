"""The sqlite3 connection of one actor, guarded so a turn's transaction stays roost's (G3).

A turn is one explicit transaction (``BEGIN`` at the start, ``COMMIT`` or ``ROLLBACK`` at the
end). User code holds the same connection (``storage.db.conn``), and a stray ``COMMIT`` in the
middle of a turn would make the first half of the turn durable even if the turn later fails.
The guard stops that with SQLite's authorizer, which is consulted whenever a statement is
prepared:

* While a turn runs, every transaction statement (``BEGIN``, ``COMMIT``, ``END``,
  ``ROLLBACK``) that roost does not issue itself is denied: ``conn.commit()``,
  ``conn.rollback()``, ``conn.executescript()`` (which commits first) and
  ``conn.execute("COMMIT")`` all raise ``sqlite3.DatabaseError: not authorized``. Savepoints
  stay allowed, so ``Database.atomic()`` nests inside the turn.
* If SQLite itself ended the transaction mid-turn (``INSERT OR ROLLBACK``, ``RAISE(ROLLBACK)``,
  a full disk), later statements are denied instead of silently autocommitting; writes go
  through Python's implicit ``BEGIN`` during a turn (``isolation_level = "DEFERRED"``), which is
  denied too. The turn then fails with :class:`~roost.CommitFailed`.
* sqlite3 caches prepared statements, and a cached statement is not authorized again. So a
  transaction statement prepared outside a turn marks the cache stale, and the next turn
  expires every prepared statement (by re-installing the authorizer) before it begins.

``close()`` is refused (the handle belongs to roost; the pool closes it), and
``isolation_level`` cannot change during a turn (roost switches it around turns).
"""

from __future__ import annotations

import ctypes
import functools
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roost._errors import ConfigError, StorageError

__all__ = [
    "SYNCHRONOUS_MODES",
    "GuardedConnection",
    "check_synchronous",
    "keep_wal_on_close",
    "open_connection",
    "set_synchronous",
]

#: Accepted values of ``PRAGMA synchronous`` for actor files. NORMAL (the default) is durable
#: across application crashes and may lose the last commits on power loss; FULL also survives
#: power loss at the cost of an fsync per commit.
SYNCHRONOUS_MODES = frozenset({"NORMAL", "FULL", "EXTRA"})
_ALL_SYNCHRONOUS_MODES = SYNCHRONOUS_MODES | {"OFF"}  # OFF only while creating a file

#: roost's own BEGIN; a distinct text so user code never shares its cached statement.
BEGIN_TURN = "BEGIN DEFERRED /* roost turn */"

_OK = sqlite3.SQLITE_OK
_DENY = sqlite3.SQLITE_DENY
_TRANSACTION = sqlite3.SQLITE_TRANSACTION
_ISOLATION_LEVEL: Any = vars(sqlite3.Connection)["isolation_level"]  # the C-level descriptor


class GuardedConnection(sqlite3.Connection):
    """A sqlite3 connection whose transaction control is reserved to roost during turns."""

    __slots__ = ("roost_closable", "roost_own", "roost_stale", "roost_turn")

    roost_turn: bool  # a turn's transaction is running: deny transaction control
    roost_own: bool  # roost is issuing a statement itself: allow everything
    roost_stale: bool  # a transaction statement was prepared (and maybe cached) outside turns
    roost_closable: bool

    def roost_setup(self) -> None:
        """Initialise the guard state and install the authorizer."""
        self.roost_turn = False
        self.roost_own = False
        self.roost_stale = False
        self.roost_closable = False
        self.set_authorizer(self._roost_authorize)

    def roost_expire_statements(self) -> None:
        """Force every cached prepared statement to be prepared (and authorized) again."""
        self.set_authorizer(self._roost_authorize)  # SQLite expires statements on this call
        self.roost_stale = False

    def roost_close(self) -> None:
        """Close for real (rolls back anything uncommitted)."""
        self.roost_closable = True
        self.set_authorizer(None)  # break the reference cycle through the bound method
        super().close()

    @property  # type: ignore[override]
    def isolation_level(self) -> str | None:
        """sqlite3's ``isolation_level``; roost switches it around turns, so it is read-only
        for user code during a turn (assigning None would also try to commit)."""
        level: str | None = _ISOLATION_LEVEL.__get__(self)
        return level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        if self.roost_turn:
            raise StorageError("isolation_level cannot change during a turn")
        _ISOLATION_LEVEL.__set__(self, value)

    def close(self) -> None:
        """Refused: an actor's handle is closed by its ActorStorage or the pool."""
        if not self.roost_closable:
            raise StorageError("an actor's database handle is closed by roost, not by user code")
        super().close()

    def _roost_authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, src: str | None
    ) -> int:
        if self.roost_own:
            return _OK
        if action == _TRANSACTION:
            if self.roost_turn:
                return _DENY
            self.roost_stale = True
            return _OK
        if self.roost_turn and not self.in_transaction:
            return _DENY  # SQLite rolled the turn back; nothing more may run in this turn
        return _OK


def check_synchronous(synchronous: str) -> str:
    """Return ``synchronous`` if it is one of :data:`SYNCHRONOUS_MODES`.

    Raises:
        ConfigError: otherwise.
    """
    if synchronous not in SYNCHRONOUS_MODES:
        raise ConfigError(f"synchronous must be one of {sorted(SYNCHRONOUS_MODES)}")
    return synchronous


def set_synchronous(conn: sqlite3.Connection, synchronous: str) -> None:
    """Apply ``PRAGMA synchronous`` (validated: PRAGMA values cannot be bound)."""
    if synchronous not in _ALL_SYNCHRONOUS_MODES:
        raise ConfigError(f"synchronous must be one of {sorted(SYNCHRONOUS_MODES)}")
    conn.execute(f"PRAGMA synchronous={synchronous}")


def open_connection(
    path: Path, *, synchronous: str, busy_timeout: float, creating: bool = False
) -> GuardedConnection:
    """Open ``path`` (creating the file) in WAL mode with roost's settings and guard.

    The connection uses sqlite3's default (legacy) transaction handling, which sqlite-utils
    requires, with ``isolation_level=None`` outside turns so writes made outside a turn
    commit at once instead of leaving a transaction open.

    With ``creating``, the file is set up with ``synchronous=OFF``: switching a new file to
    WAL goes through a rollback journal and would cost four fsyncs (plus two for the WAL
    header) before the actor has stored anything; the caller applies ``synchronous`` with
    :func:`set_synchronous` once its own setup is written. The first checkpoint syncs the file.

    Raises:
        ConfigError: if ``synchronous`` is not one of :data:`SYNCHRONOUS_MODES`.
        sqlite3.Error: if SQLite cannot open or configure the file.
    """
    check_synchronous(synchronous)
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, factory=GuardedConnection
    )
    assert isinstance(conn, GuardedConnection)
    try:
        conn.roost_setup()
        set_synchronous(conn, "OFF" if creating else synchronous)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StorageError(f"cannot use WAL journal mode for {path.name} (got {mode!r})")
        conn.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        conn.roost_close()
        raise
    return conn


#: ``SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`` (sqlite3.h; Python 3.12 names it in its module).
_NO_CKPT_ON_CLOSE = 1006


def keep_wal_on_close(conn: sqlite3.Connection) -> bool:
    """Make closing ``conn`` skip the checkpoint, leaving its -wal and -shm files in place;
    return whether SQLite agreed (False: closing checkpoints and removes them as usual).

    Closing the last connection of a WAL file normally checkpoints it (an fsync of the WAL
    and of the file under ``synchronous=NORMAL``) and deletes -wal and -shm, and the next
    open creates both again and syncs the new WAL's header at its first commit: on ext4 that
    is most of the cost of touching an actor whose handle was closed. A WAL kept in place is
    as durable as any commit under NORMAL (its frames are checksummed; SQLite replays them
    on the next open, and its next checkpoint syncs them), and reopening finds both files.

    Python 3.12 exposes the option as ``Connection.setconfig``; on 3.11 (CPython) it is set
    through ``sqlite3_db_config`` of the library the ``_sqlite3`` module uses. Elsewhere it
    is not set.
    """
    setconfig = getattr(conn, "setconfig", None)
    if setconfig is not None:
        try:
            setconfig(_NO_CKPT_ON_CLOSE, True)
            return bool(conn.getconfig(_NO_CKPT_ON_CLOSE))  # type: ignore[attr-defined]
        except sqlite3.Error:
            return False
    db_config = _db_config()
    if db_config is None:
        return False
    handle = ctypes.c_void_p.from_address(id(conn) + object.__basicsize__).value
    state = ctypes.c_int(0)
    if db_config(handle, _NO_CKPT_ON_CLOSE, 1, ctypes.byref(state)) != sqlite3.SQLITE_OK:
        return False
    return state.value == 1


@functools.cache
def _db_config() -> Callable[..., int] | None:
    """``sqlite3_db_config`` of the SQLite that ``sqlite3`` uses, on CPython 3.11 only.

    CPython 3.11's connection object starts with its ``sqlite3 *`` right after the object
    header; later versions have ``setconfig`` and never come here. The function is looked up
    in the ``_sqlite3`` module's own shared object, which finds the very library that module
    is linked with (statically or not), and used only when that library's version is the one
    the module reports.
    """
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        return None
    try:
        import _sqlite3

        library = ctypes.CDLL(_sqlite3.__file__)
        version = library.sqlite3_libversion_number
        db_config = library.sqlite3_db_config
    except (ImportError, AttributeError, OSError, TypeError):
        return None
    major, minor, patch = sqlite3.sqlite_version_info
    if version() != major * 1_000_000 + minor * 1_000 + patch or (major, minor) < (3, 16):
        return None
    db_config.restype = ctypes.c_int
    db_config.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    function: Callable[..., int] = db_config
    return function
