"""A new actor file made from a prepared image instead of by SQLite's journal-mode switch.

Switching a brand-new file to WAL mode makes SQLite write a rollback journal, the file's
first page, then create the WAL and sync its header at the first commit: on ext4 the syncs
and the extra file dominate a cold activation. The file SQLite would end up with before the
actor's first commit is always the same page: an empty database whose header says WAL. So it
is built once per process (by SQLite itself, in a temporary directory) and each new actor
file is a copy of it:

1. stale ``-wal``/``-shm``/``-journal`` files at the target name are removed first (left by a
   crash between a discard's unlinks): a WAL beside the new file would be replayed into it;
2. the image is written under a temporary name in the same directory and hard-linked to the
   final name, which fails if a file appeared there meanwhile (never replaced): a crash never
   leaves a half-written file under an actor's name, only a ``*.tmp`` file;
3. nothing is synced: like every commit under ``synchronous=NORMAL``, the file reaches the
   disk by the first checkpoint, which syncs it.

The image holds no table and no WAL: the actor's first commit creates ``_roost_meta`` and
rewrites page 1 in a WAL that SQLite creates with fresh random salts, so the commits that the
durable output reads from the WAL (storage/_wal.py) still hold every page of the file.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import tempfile
from contextlib import closing, suppress
from pathlib import Path

from roost._errors import StorageError

from ._file_fence import SIDE_FILES

__all__ = ["create_from_template", "empty_wal_image"]


@functools.cache
def empty_wal_image() -> bytes:
    """The bytes of an empty WAL-mode database as this process's SQLite writes it.

    Built once per process (an immutable constant, cached).

    Raises:
        StorageError: SQLite did not produce a one-page WAL-mode file.
    """
    with tempfile.TemporaryDirectory(prefix="roost-template-") as directory:
        path = Path(directory) / "empty.sqlite"
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("PRAGMA synchronous=OFF")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        image = path.read_bytes()
    if str(mode).lower() != "wal" or len(image) < 100 or image[18:20] != b"\x02\x02":
        raise StorageError("SQLite did not produce an empty WAL-mode database")
    return image


def create_from_template(path: Path, image: bytes) -> None:
    """Create the database file ``path`` holding ``image``; never replaces an existing file.

    Raises:
        FileExistsError: ``path`` exists (its temporary copy is removed).
        OSError: the directory or the file cannot be written.
    """
    for suffix in SIDE_FILES:
        with suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
    temporary = f"{path}.{os.urandom(4).hex()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(temporary, flags, 0o644)
    except FileNotFoundError:  # the first file of its shard directory
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, flags, 0o644)
    try:
        try:
            written = os.write(fd, image)
        finally:
            os.close(fd)
        if written != len(image):
            raise OSError(f"short write creating {path.name}")
        os.link(temporary, path)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
