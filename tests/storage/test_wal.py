"""WAL frames of each commit, replayed over a base image, give the same database
(storage/_wal.py: what durable output ships and rebuilds from)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roost._errors import StorageError
from roost.storage._wal import WalTail, apply_commits, decode_commit, encode_commit


def open_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn


def rows(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return conn.execute("SELECT k, v FROM t ORDER BY k").fetchall()


def fresh(tmp_path: Path) -> tuple[Path, Path, sqlite3.Connection, WalTail]:
    """A database with a table, its base image (checkpointed copy), and a tail at its end."""
    db, image = tmp_path / "a.sqlite", tmp_path / "rebuilt.sqlite"
    conn = open_db(db)
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(db, image)
    tail = WalTail(db)
    tail.skip_to_end()
    return db, image, conn, tail


def test_replaying_the_commits_rebuilds_the_file(tmp_path: Path) -> None:
    db, image, conn, tail = fresh(tmp_path)
    shipped = []
    for i in range(300):  # enough to split pages and grow the tree
        conn.execute("BEGIN")
        conn.execute("INSERT OR REPLACE INTO t VALUES (?, ?)", (i % 97, f"value {i} " * (i % 40)))
        if i % 7 == 0:
            conn.execute("DELETE FROM t WHERE k < ?", (i % 13,))
        conn.execute("COMMIT")
        commits = tail.read()
        assert len(commits) == 1
        shipped.extend(encode_commit(c) for c in commits)
    apply_commits(image, [decode_commit(blob) for blob in shipped])
    conn.close()
    assert rows(image) == rows(db)


def test_a_wal_that_restarts_is_read_from_its_start(tmp_path: Path) -> None:
    db, image, conn, tail = fresh(tmp_path)
    commits = []
    for i in range(20):
        conn.execute("INSERT INTO t VALUES (?, ?)", (i, "x" * 500))
        commits += tail.read()
        if i == 9:  # the owner checkpoints (a new base image is shipped meanwhile)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert len(commits) == 20
    apply_commits(image, commits)
    conn.close()
    assert rows(image) == rows(db)


def test_a_missing_wal_reads_nothing_and_garbage_is_refused(tmp_path: Path) -> None:
    assert WalTail(tmp_path / "none.sqlite").read() == []
    (tmp_path / "bad.sqlite-wal").write_bytes(b"x" * 100)
    with pytest.raises(StorageError):
        WalTail(tmp_path / "bad.sqlite").read()
    with pytest.raises(StorageError):
        decode_commit(b"not a commit")


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300))
def test_decoding_any_bytes_is_a_commit_or_a_clean_error(blob: bytes) -> None:
    import zlib

    for candidate in (blob, zlib.compress(blob)):
        try:
            decode_commit(candidate)
        except StorageError:
            pass
