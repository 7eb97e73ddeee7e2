"""Evicted actors' files cost no fsync on the way out or back in (issue 16, alarms at scale):

* an actor whose file was checkpointed (no -wal) gets a new WAL at its first commit, and
  under NORMAL SQLite syncs that WAL's header and its directory: inside a turn the commit
  runs with synchronous=OFF, like a new file's first one (FULL keeps its syncs);
* a file the activation created and wrote keeps its WAL when the activation ends
  (``discard(keep_wal=True)``, the runtime's eviction), as any other evicted file;
* the WALs the pool keeps are bounded in count and in bytes on disk.

What a turn commits under OFF is read back from ``PRAGMA synchronous`` during the turn, the
way the tests of new files do (tests/storage/test_storage_cold_files.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from roost import ConfigError
from roost.storage import ActorStorage, HandlePool
from roost.storage._pool import SHM_BYTES

from .conftest import MakeStorage
from .test_storage_cold_files import evicted, put_in_turn, side_files, synchronous


def checkpointed(make_storage: MakeStorage, key: str, pool: HandlePool) -> ActorStorage:
    """An actor with data whose file stands alone (no -wal, no -shm)."""
    storage = make_storage(key, pool=pool)
    put_in_turn(storage, "v", key)
    storage.close()
    assert side_files(storage.path) == set()
    return storage


def writing_turn(
    make_storage: MakeStorage, key: str, pool: HandlePool, **kwargs: str
) -> ActorStorage:
    """A new storage object for ``key`` inside a turn that wrote ``w``."""
    storage = make_storage(key, pool=pool, **kwargs)
    storage.begin_turn()
    storage.kv.put("w", 2)
    return storage


def test_the_first_commit_after_reopening_a_file_without_a_wal_is_not_synced(
    make_storage: MakeStorage, pool: HandlePool
) -> None:
    checkpointed(make_storage, "a", pool)
    again = writing_turn(make_storage, "a", pool)
    assert synchronous(again) == 0  # OFF: the new WAL's header is not synced
    again.commit_turn()
    assert synchronous(again) == 1  # NORMAL from the next commit on
    assert again.db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    again.close()
    reread = make_storage("a", pool=pool)
    assert reread.kv.get("v") == "a" and reread.kv.get("w") == 2


def test_a_file_with_its_wal_and_a_full_actor_keep_their_syncs(
    make_storage: MakeStorage, pool: HandlePool
) -> None:
    kept = evicted(make_storage, "a", pool)  # its -wal stays
    again = writing_turn(make_storage, "a", pool)
    assert synchronous(again) == 1
    again.commit_turn()
    assert side_files(kept.path) == {"-wal", "-shm"}
    checkpointed(make_storage, "b", pool)
    full = writing_turn(make_storage, "b", pool, synchronous="FULL")
    assert synchronous(full) == 2  # FULL: every commit synced, the first too
    full.commit_turn()


def test_a_new_file_of_a_full_actor_syncs_its_first_commit(make_storage: MakeStorage) -> None:
    storage = make_storage("new", synchronous="FULL")
    storage.begin_turn()
    storage.kv.put("w", 1)
    assert synchronous(storage) == 2 and storage.created
    storage.commit_turn()
    assert synchronous(storage) == 2


def test_a_rolled_back_first_turn_leaves_the_reopened_file_unsynced_until_a_commit(
    make_storage: MakeStorage, pool: HandlePool
) -> None:
    checkpointed(make_storage, "a", pool)
    again = writing_turn(make_storage, "a", pool)
    again.rollback_turn()
    assert synchronous(again) == 0
    again.close()  # what closing checkpoints is synced: NORMAL is applied first
    assert side_files(again.path) == set()
    assert make_storage("a", pool=pool).kv.get("w") is None


def test_a_created_file_that_holds_data_keeps_its_wal_when_discarded(
    make_storage: MakeStorage, pool: HandlePool
) -> None:
    storage = make_storage("a", pool=pool)
    put_in_turn(storage, "v", 1)
    assert storage.created
    assert storage.discard(prune_upto=Path(os.sep), keep_wal=True) is False
    assert side_files(storage.path) == {"-wal", "-shm"} and pool.kept_wals == 1
    assert make_storage("a", pool=pool).kv.get("v") == 1


def test_a_created_file_with_schema_only_goes_whole_whatever_keep_wal_says(
    make_storage: MakeStorage, pool: HandlePool, tmp_path: Path
) -> None:
    storage = make_storage("a", pool=pool)
    storage.begin_turn()
    storage.db.execute("CREATE TABLE t (x)")
    storage.commit_turn()
    assert storage.discard(prune_upto=tmp_path, keep_wal=True) is True
    assert not storage.path.exists() and side_files(storage.path) == set()
    assert pool.kept_wals == 0


def test_kept_wals_are_bounded_in_bytes_and_forgotten_when_reopened(
    make_storage: MakeStorage,
) -> None:
    pool = HandlePool(max_open=4, max_kept_bytes=2 * SHM_BYTES + 64 * 1024)
    a, b = (evicted(make_storage, key, pool) for key in "ab")
    assert pool.kept_wals == 2  # two small WALs and their -shm fit
    c = evicted(make_storage, "c", pool)
    assert side_files(a.path) == set()  # the oldest, checkpointed to make room
    assert side_files(b.path) == side_files(c.path) == {"-wal", "-shm"}
    make_storage("b", pool=pool).kv.get("v")  # open again: no longer kept
    assert pool.kept_wals == 1
    evicted(make_storage, "d", pool)
    assert side_files(c.path) == {"-wal", "-shm"} and pool.kept_wals == 2


def test_a_wal_bigger_than_the_whole_budget_is_checkpointed_once(
    make_storage: MakeStorage,
) -> None:
    pool = HandlePool(max_open=4, max_kept_bytes=SHM_BYTES)
    storage = evicted(make_storage, "a", pool)
    assert side_files(storage.path) == set() and pool.kept_wals == 0


def test_max_kept_bytes_is_a_non_negative_int() -> None:
    assert HandlePool(max_kept_bytes=0).kept_wals == 0
    for value in (-1, True, 1.5, "2"):
        with pytest.raises(ConfigError):
            HandlePool(max_kept_bytes=value)  # type: ignore[arg-type]
