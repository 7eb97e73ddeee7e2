"""Cold files: a new actor file is a copy of an empty WAL-mode image (storage/_template.py),
nothing is synced before its first commit, and a handle the pool closes keeps its WAL and
-shm so the next open creates neither (storage/_connection.keep_wal_on_close)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from roost import ConfigError, StorageError
from roost.storage import ActorStorage, HandlePool, actor_db_path
from roost.storage._actor_storage import KEEP_WAL_MAX_BYTES
from roost.storage._connection import keep_wal_on_close
from roost.storage._template import create_from_template, empty_wal_image
from roost.storage._wal import WalTail, apply_commits

from .conftest import ACTOR_TYPE, MakeStorage


def side_files(path: Path) -> set[str]:
    return {s for s in ("-wal", "-shm", "-journal") if os.path.exists(f"{path}{s}")}


def put_in_turn(storage: ActorStorage, name: str, value: object) -> None:
    storage.begin_turn()
    storage.kv.put(name, value)
    storage.commit_turn()


def synchronous(storage: ActorStorage) -> int:
    return int(storage.db.conn.execute("PRAGMA synchronous").fetchone()[0])


def test_the_image_is_one_empty_wal_mode_page(tmp_path: Path) -> None:
    image = empty_wal_image()
    assert image[:16] == b"SQLite format 3\0" and image[18:20] == b"\x02\x02"
    path = tmp_path / "a.sqlite"
    create_from_template(path, image)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_a_template_never_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    path.write_bytes(b"someone's data")
    with pytest.raises(FileExistsError):
        create_from_template(path, empty_wal_image())
    assert path.read_bytes() == b"someone's data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.sqlite"]  # no temporary left


def test_a_new_actor_file_is_made_without_a_journal_and_synced_after_its_first_commit(
    make_storage: MakeStorage,
) -> None:
    storage = make_storage("new")
    storage.begin_turn()
    storage.kv.put("v", 1)
    conn = storage.db.conn
    assert synchronous(storage) == 0  # OFF: nothing synced yet
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert not os.path.exists(f"{storage.path}-journal")
    storage.commit_turn()
    assert synchronous(storage) == 1  # NORMAL from now on
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    assert storage.created
    storage.close()
    with sqlite3.connect(storage.path) as check:
        assert check.execute("SELECT value FROM _roost_meta WHERE name = 'key'").fetchone() == (
            "new",
        )


def test_a_stale_wal_beside_a_new_file_is_not_replayed(
    tmp_path: Path, make_storage: MakeStorage
) -> None:
    """A crash between a discard's unlinks can leave an old -wal: the new file must not
    take the old file's pages from it."""
    old = make_storage("k")
    put_in_turn(old, "secret", "old")
    wal = Path(f"{old.path}-wal").read_bytes()
    old.close()
    old.path.unlink()
    Path(f"{old.path}-wal").write_bytes(wal)
    new = make_storage("k")
    assert new.kv.get("secret") is None
    assert new.created


def test_the_first_commit_of_a_new_file_holds_every_page_for_the_durable_log(
    tmp_path: Path, make_storage: MakeStorage
) -> None:
    """Durable output ships the WAL's commits; the copied image must not hold pages that no
    commit carries (a log-only rebuild would lack them)."""
    storage = make_storage("durable")
    tail = WalTail(storage.path)
    tail.skip_to_end()  # as after a rebuild that found no history
    storage.begin_turn()
    storage.db.execute("CREATE TABLE t (x)")
    storage.db.execute("INSERT INTO t VALUES (42)")
    storage.commit_turn()
    commits = tail.read()
    assert commits and 1 in commits[0].pages
    rebuilt = tmp_path / "rebuilt.sqlite"
    apply_commits(rebuilt, commits)
    with sqlite3.connect(rebuilt) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(42,)]


def test_a_handle_the_pool_closes_keeps_its_wal_and_reopens_without_creating_files(
    make_storage: MakeStorage,
) -> None:
    pool = HandlePool(max_open=1)
    a, b = make_storage("a", pool=pool), make_storage("b", pool=pool)
    put_in_turn(a, "v", "a")
    b.kv.put("v", "b")  # the pool closes a's handle
    assert not a.opened
    assert side_files(a.path) == {"-wal", "-shm"}
    inodes = {s: os.stat(f"{a.path}{s}").st_ino for s in ("-wal", "-shm")}
    assert a.kv.get("v") == "a"  # replayed from the kept WAL
    assert {s: os.stat(f"{a.path}{s}").st_ino for s in ("-wal", "-shm")} == inodes
    a.close()  # the actor's own close checkpoints and removes them
    assert side_files(a.path) == set()
    with sqlite3.connect(f"file:{a.path}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM _roost_kv").fetchone()[0] == 1


def test_the_actors_close_checkpoints_a_wal_the_pool_kept(make_storage: MakeStorage) -> None:
    """After an eviction or a shutdown a file stands alone (docs/operations.md: a stopped
    node's directory can be copied as it is), also when the pool closed its handle."""
    pool = HandlePool(max_open=1)
    a, b = make_storage("a", pool=pool), make_storage("b", pool=pool)
    put_in_turn(a, "v", "a")
    b.kv.put("v", "b")
    assert side_files(a.path) == {"-wal", "-shm"}
    a.close()
    assert side_files(a.path) == set()
    with sqlite3.connect(f"file:{a.path}?mode=ro&immutable=1", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM _roost_kv").fetchone()[0] == 1
    a.path.unlink()
    a.close()  # nothing kept any more, nothing created
    assert not a.path.exists()


def test_a_big_wal_is_checkpointed_when_the_pool_closes_its_handle(
    make_storage: MakeStorage,
) -> None:
    pool = HandlePool(max_open=1)
    a, b = make_storage("a", pool=pool), make_storage("b", pool=pool)
    put_in_turn(a, "blob", os.urandom(KEEP_WAL_MAX_BYTES + 4096))
    b.kv.put("v", "b")
    assert not a.opened
    assert side_files(a.path) == set()
    assert len(a.kv.get("blob")) == KEEP_WAL_MAX_BYTES + 4096


def test_discard_removes_a_file_made_from_the_template_and_its_kept_wal(
    tmp_path: Path, make_storage: MakeStorage
) -> None:
    pool = HandlePool(max_open=1)
    stranger, other = make_storage("s", pool=pool), make_storage("o", pool=pool)
    stranger.begin_turn()
    stranger.db.execute("CREATE TABLE IF NOT EXISTS messages (t TEXT)")
    stranger.commit_turn()
    other.kv.put("v", 1)  # the stranger's handle closes, its WAL kept
    assert side_files(stranger.path) == {"-wal", "-shm"}
    assert stranger.discard(prune_upto=tmp_path)
    assert not stranger.path.exists() and side_files(stranger.path) == set()


def test_a_turn_rolled_back_on_a_new_file_leaves_it_openable_and_unsynced_until_a_commit(
    make_storage: MakeStorage,
) -> None:
    storage = make_storage("r")
    storage.begin_turn()
    storage.kv.put("v", 1)
    storage.rollback_turn()
    assert synchronous(storage) == 0
    put_in_turn(storage, "v", 2)
    assert synchronous(storage) == 1
    assert storage.kv.get("v") == 2


def test_closing_a_new_file_inside_its_first_turn_syncs_what_closing_checkpoints(
    make_storage: MakeStorage,
) -> None:
    storage = make_storage("c", fence=7)  # the fence stamp commits before the turn's writes
    storage.begin_turn()
    storage.kv.put("v", 1)
    storage.close()  # rolls the turn back, then closes (checkpointing the stamp, synced)
    reopened = make_storage("c")
    assert reopened.kv.get("v") is None
    assert reopened.db.conn.execute("PRAGMA user_version").fetchone()[0] == 7


def test_keep_wal_on_close_leaves_the_wal_of_a_plain_connection(tmp_path: Path) -> None:
    path = tmp_path / "plain.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    kept = keep_wal_on_close(conn)
    conn.close()
    assert side_files(path) == ({"-wal", "-shm"} if kept else set())
    with sqlite3.connect(path) as again:
        assert again.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_an_unwritable_directory_fails_the_open_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "actors"
    blocker.write_text("not a directory")
    storage = ActorStorage(
        actor_db_path(tmp_path, ACTOR_TYPE, "k"), actor_type=ACTOR_TYPE, key="k",
        pool=HandlePool(max_open=2),
    )  # fmt: skip
    with pytest.raises(StorageError, match="cannot open storage"):
        storage.kv.put("v", 1)
    assert not storage.opened


def evicted(make_storage: MakeStorage, key: str, pool: HandlePool) -> ActorStorage:
    """An actor that wrote one value and was closed as an idle eviction does it."""
    storage = make_storage(key, pool=pool)
    put_in_turn(storage, "v", key)
    storage.close(keep_wal=True)
    return storage


def test_an_evicted_actor_keeps_its_wal_for_its_next_activation(
    make_storage: MakeStorage,
) -> None:
    pool = HandlePool(max_open=4)
    first = evicted(make_storage, "a", pool)
    assert side_files(first.path) == {"-wal", "-shm"} and pool.kept_wals == 1
    inodes = {s: os.stat(f"{first.path}{s}").st_ino for s in ("-wal", "-shm")}
    again = make_storage("a", pool=pool)  # the next activation
    assert again.kv.get("v") == "a" and not again.created
    assert pool.kept_wals == 0  # open again: its handle's business
    assert {s: os.stat(f"{again.path}{s}").st_ino for s in ("-wal", "-shm")} == inodes
    again.close()
    assert side_files(again.path) == set()


def test_the_pool_checkpoints_the_oldest_kept_wal_past_its_limit_and_all_at_shutdown(
    make_storage: MakeStorage,
) -> None:
    pool = HandlePool(max_open=4, max_kept_wals=2)
    a, b, c = (evicted(make_storage, key, pool) for key in "abc")
    assert side_files(a.path) == set()  # the oldest, checkpointed when c was kept
    assert side_files(b.path) == side_files(c.path) == {"-wal", "-shm"}
    c.path.unlink()  # removed meanwhile (a stale file after a takeover): nothing is created
    assert pool.checkpoint_kept() == 2
    assert pool.kept_wals == 0 and side_files(b.path) == set() and not c.path.exists()
    with sqlite3.connect(f"file:{b.path}?mode=ro&immutable=1", uri=True) as conn:
        assert conn.execute("SELECT value FROM _roost_kv").fetchone() is not None


def test_a_pool_that_keeps_no_wal_checkpoints_at_close(make_storage: MakeStorage) -> None:
    pool = HandlePool(max_open=4, max_kept_wals=0)
    storage = evicted(make_storage, "a", pool)
    assert side_files(storage.path) == set() and pool.kept_wals == 0


@pytest.mark.parametrize("max_kept_wals", [-1, True, 1.5, "2"])
def test_max_kept_wals_must_be_a_non_negative_int(max_kept_wals: object) -> None:
    with pytest.raises(ConfigError):
        HandlePool(max_kept_wals=max_kept_wals)  # type: ignore[arg-type]
