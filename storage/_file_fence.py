"""Which owner last wrote an actor's file: its fence, stamped in the file's header.

Once actors move between nodes, a node's local file is a cache, not the truth: the node may
hold a file from an earlier ownership while another node has owned the actor since and synced
newer state. Every activation under a lease stamps the file it opens with the lease's fence
(SQLite's ``user_version``, a header field: no table, so it is not the actor's data and a file
that holds schema only is still removed as such). A node taking the actor compares the stamp
with the fence of the state in the store: a higher stored fence means the file is stale, and
the actor restores from the store instead.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing, suppress
from pathlib import Path

from roost._errors import StorageError

__all__ = ["read_file_fence", "remove_actor_file", "stamp_fence"]

#: The files SQLite keeps beside a database.
SIDE_FILES = ("-wal", "-shm", "-journal")
#: user_version is a signed 32-bit field; fences beyond it are stamped as its largest value,
#: which errs on the side of believing the file (never reached: a fence grows by one per move).
_MAX_STAMP = 2**31 - 1


def read_file_fence(path: Path) -> int:
    """The fence stamped in ``path``; 0 for a file never stamped (or a single node's).

    Raises:
        StorageError: the file cannot be read.
    """
    try:
        uri = f"file:{path}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as exc:
        raise StorageError(f"cannot read the fence of {path.name}: {exc}") from exc


def stamp_fence(conn: sqlite3.Connection, fence: int) -> None:
    """Stamp an open file with ``fence`` when it holds a lower one (outside a transaction)."""
    stamp = min(fence, _MAX_STAMP)
    if int(conn.execute("PRAGMA user_version").fetchone()[0]) < stamp:
        conn.execute(f"PRAGMA user_version = {int(stamp)}")


def remove_actor_file(path: Path) -> None:
    """Remove a stale actor file and its side files (the caller holds the actor's lease)."""
    with suppress(FileNotFoundError):
        path.unlink()
    for suffix in SIDE_FILES:
        with suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
