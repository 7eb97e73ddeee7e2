"""ActorStorage: lazy open, atomic turns (G3), commit failures, and the transaction guard."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import cbor2
import pytest

from roost import CommitFailed, ConfigError, StorageError
from roost.storage import ActorStorage, HandlePool, actor_db_path

from .conftest import ACTOR_TYPE, MakeStorage


def peek(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Read the file through a separate connection: only committed data is visible."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def tables(path: Path) -> list[str]:
    return [r[0] for r in peek(path, "SELECT name FROM sqlite_master WHERE type = 'table'")]


def write_everything(storage: ActorStorage, n: int = 1) -> None:
    """Writes through every route a handler may take: kv, sqlite-utils, raw SQL, DDL."""
    db = storage.db
    storage.kv.put(f"kv{n}", {"n": n})
    storage.kv.put_many({f"many{n}": n})
    db["items"].insert_all([{"id": n, "name": "a"}, {"id": n + 100, "name": "b"}], pk="id")
    db["items"].upsert({"id": n, "name": "upserted"}, pk="id")
    db[f"created{n}"].create({"id": int, "v": str}, pk="id")
    db[f"created{n}"].create_index(["v"])
    db["items"].add_column(f"extra{n}", str)
    db.execute("INSERT INTO items (id, name) VALUES (?, ?)", [n + 200, "raw"])
    db.executescript(f"CREATE TABLE script{n} (x); INSERT INTO script{n} VALUES (1);")


# -- lazy open -------------------------------------------------------------------------------


def test_nothing_on_disk_until_first_access(make_storage: MakeStorage, tmp_path: Path) -> None:
    storage = make_storage()
    for _ in range(3):
        storage.begin_turn()
        storage.commit_turn()
        storage.begin_turn()
        storage.rollback_turn()
    assert not storage.opened
    assert list(tmp_path.iterdir()) == []
    storage.db  # noqa: B018
    assert storage.opened
    assert storage.path.exists()


def test_file_settings_and_meta(make_storage: MakeStorage) -> None:
    key = "odd key \0 ✓"
    storage = make_storage(key)
    assert (storage.actor_type, storage.key) == (ACTOR_TYPE, key)
    db = storage.db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    storage.close()
    meta = dict(peek(storage.path, "SELECT name, value FROM _roost_meta"))
    assert meta == {"actor_type": ACTOR_TYPE, "key": key, "format": 1}


def test_synchronous_full(make_storage: MakeStorage) -> None:
    storage = make_storage(synchronous="FULL")
    assert storage.db.execute("PRAGMA synchronous").fetchone()[0] == 2
    storage.close()
    assert storage.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # also on reopen


@pytest.mark.parametrize("value", ["OFF", "normal; DROP TABLE x", ""])
def test_bad_synchronous_is_a_config_error(make_storage: MakeStorage, value: str) -> None:
    with pytest.raises(ConfigError):
        make_storage(synchronous=value)


def test_data_survives_close_and_reopen(make_storage: MakeStorage) -> None:
    storage = make_storage()
    storage.begin_turn()
    write_everything(storage)
    storage.commit_turn()
    storage.close()
    storage.close()  # idempotent
    assert not storage.opened
    again = make_storage()  # another object for the same key
    assert again.kv.get("kv1") == {"n": 1}
    assert again.db["items"].count == 3


def test_file_of_another_actor_is_refused(tmp_path: Path, pool: HandlePool) -> None:
    path = actor_db_path(tmp_path, ACTOR_TYPE, "a")
    first = ActorStorage(path, actor_type=ACTOR_TYPE, key="a", pool=pool)
    first.kv.put("x", 1)
    first.close()
    impostor = ActorStorage(path, actor_type=ACTOR_TYPE, key="b", pool=pool)
    with pytest.raises(StorageError, match="another actor"):
        impostor.db  # noqa: B018
    assert not impostor.opened
    assert pool.statistics().open == 0


def test_existing_file_without_meta_gets_it(tmp_path: Path, pool: HandlePool) -> None:
    path = actor_db_path(tmp_path, ACTOR_TYPE, "a")
    path.parent.mkdir(parents=True)
    sqlite3.connect(path).close()  # an empty file, as left by a crash during creation
    storage = ActorStorage(path, actor_type=ACTOR_TYPE, key="a", pool=pool)
    storage.kv.put("x", 1)
    storage.close()
    assert dict(peek(path, "SELECT name, value FROM _roost_meta"))["key"] == "a"


def test_unopenable_file_is_a_storage_error(tmp_path: Path, pool: HandlePool) -> None:
    path = actor_db_path(tmp_path, ACTOR_TYPE, "a")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    storage = ActorStorage(path, actor_type=ACTOR_TYPE, key="a", pool=pool)
    with pytest.raises(StorageError):
        storage.kv.get("x")


# -- atomic turns ----------------------------------------------------------------------------


def test_turn_commits_everything(make_storage: MakeStorage) -> None:
    storage = make_storage()
    storage.begin_turn()
    assert storage.in_turn
    write_everything(storage)
    storage.commit_turn()
    assert not storage.in_turn
    path = storage.path
    assert {"items", "created1", "script1", "_roost_kv"} <= set(tables(path))
    assert peek(path, "SELECT id, name FROM items ORDER BY id") == [
        (1, "upserted"),
        (101, "b"),
        (201, "raw"),
    ]


def test_rollback_discards_everything_including_tables(make_storage: MakeStorage) -> None:
    storage = make_storage()
    storage.db  # noqa: B018
    storage.begin_turn()
    write_everything(storage)
    storage.rollback_turn()
    assert storage.db.table_names() == ["_roost_meta"]
    assert tables(storage.path) == ["_roost_meta"]
    assert storage.kv.get("kv1") is None
    # and the storage is usable
    storage.begin_turn()
    write_everything(storage, 2)
    storage.commit_turn()
    assert storage.kv.get("kv2") == {"n": 2}


def test_storage_first_opened_mid_turn_is_in_the_turn(make_storage: MakeStorage) -> None:
    storage = make_storage()
    storage.begin_turn()
    assert not storage.opened
    write_everything(storage)
    storage.rollback_turn()
    # The file exists; the turn's data and even the owner record (written in the same
    # transaction, to save a commit per new actor) do not.
    assert tables(storage.path) == []
    storage.begin_turn()
    storage.kv.put("a", 1)
    storage.commit_turn()
    assert storage.kv.get("a") == 1
    assert "_roost_meta" in tables(storage.path)


def test_turns_are_independent(make_storage: MakeStorage) -> None:
    storage = make_storage()
    storage.begin_turn()
    storage.kv.put("kept", 1)
    storage.commit_turn()
    storage.begin_turn()
    storage.kv.put("kept", 2)
    storage.kv.put("dropped", 3)
    storage.rollback_turn()
    assert storage.kv.list() == [("kept", 1)]


def test_atomic_block_nests_in_the_turn(make_storage: MakeStorage) -> None:
    storage = make_storage()
    storage.begin_turn()
    db = storage.db
    db["t"].insert({"id": 1}, pk="id")
    with pytest.raises(RuntimeError), db.atomic():
        db["t"].insert({"id": 2})
        raise RuntimeError("handler error caught by the handler")
    with db.atomic():
        db["t"].insert({"id": 3})
    storage.commit_turn()
    assert peek(storage.path, "SELECT id FROM t ORDER BY id") == [(1,), (3,)]


def test_writes_outside_turns_autocommit(make_storage: MakeStorage) -> None:
    storage = make_storage()
    storage.kv.put("a", 1)
    storage.db["t"].insert({"id": 1})
    assert not storage.db.conn.in_transaction
    assert peek(storage.path, "SELECT count(*) FROM _roost_kv") == [(1,)]
    assert peek(storage.path, "SELECT count(*) FROM t") == [(1,)]


def test_turn_state_errors(make_storage: MakeStorage) -> None:
    storage = make_storage()
    with pytest.raises(StorageError):
        storage.commit_turn()
    storage.rollback_turn()  # nothing to roll back: no error
    storage.begin_turn()
    with pytest.raises(StorageError):
        storage.begin_turn()
    storage.commit_turn()


def test_close_during_a_turn_rolls_back(make_storage: MakeStorage) -> None:
    storage = make_storage()
    storage.begin_turn()
    storage.kv.put("a", 1)
    storage.close()
    assert not storage.in_turn
    storage.rollback_turn()  # the runtime's error path after close: harmless
    assert storage.kv.get("a") is None


def test_transaction_left_open_outside_a_turn(make_storage: MakeStorage) -> None:
    storage = make_storage()
    storage.db.execute("BEGIN")
    storage.kv.put("stray", 1)
    with pytest.raises(StorageError, match="left open"):
        storage.begin_turn()
    assert not storage.in_turn
    assert storage.kv.get("stray") is None
    storage.begin_turn()
    storage.kv.put("a", 1)
    storage.commit_turn()
    assert storage.kv.list() == [("a", 1)]


# -- commit failures -------------------------------------------------------------------------


def make_deferred_fk(storage: ActorStorage) -> None:
    storage.db.executescript(
        """
        CREATE TABLE parent (id INTEGER PRIMARY KEY);
        CREATE TABLE child (
            id INTEGER PRIMARY KEY,
            parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED
        );
        """
    )


def test_commit_failure_raises_and_rolls_back(make_storage: MakeStorage) -> None:
    storage = make_storage()
    make_deferred_fk(storage)
    storage.begin_turn()
    storage.kv.put("a", 1)
    storage.db.execute("INSERT INTO child (id, parent_id) VALUES (1, 99)")  # fine until COMMIT
    with pytest.raises(CommitFailed) as info:
        storage.commit_turn()
    assert isinstance(info.value.__cause__, sqlite3.IntegrityError)
    assert isinstance(info.value, StorageError)
    assert not storage.in_turn
    assert not storage.db.conn.in_transaction
    assert storage.kv.get("a") is None
    assert peek(storage.path, "SELECT count(*) FROM child") == [(0,)]
    # usable again
    storage.begin_turn()
    storage.db.execute("INSERT INTO parent (id) VALUES (99)")
    storage.db.execute("INSERT INTO child (id, parent_id) VALUES (1, 99)")
    storage.commit_turn()
    assert peek(storage.path, "SELECT count(*) FROM child") == [(1,)]


# -- the guard: user code cannot end the turn's transaction ----------------------------------


TRANSACTION_ESCAPES = {
    "conn.commit": lambda db: db.conn.commit(),
    "conn.rollback": lambda db: db.conn.rollback(),
    "db.commit": lambda db: db.commit(),
    "db.rollback": lambda db: db.rollback(),
    "COMMIT": lambda db: db.execute("COMMIT"),
    "END": lambda db: db.execute("END TRANSACTION"),
    "ROLLBACK": lambda db: db.execute("ROLLBACK"),
    "BEGIN": lambda db: db.execute("BEGIN"),
    "conn.executescript": lambda db: db.conn.executescript("INSERT INTO t VALUES (3);"),
}


@pytest.mark.parametrize("escape", TRANSACTION_ESCAPES.values(), ids=TRANSACTION_ESCAPES.keys())
def test_user_code_cannot_end_the_turn(make_storage: MakeStorage, escape: Any) -> None:
    storage = make_storage()
    storage.db["t"].create({"x": int})
    storage.begin_turn()
    storage.db["t"].insert({"x": 1})
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        escape(storage.db)
    assert storage.db.conn.in_transaction
    storage.kv.put("after", 2)
    storage.rollback_turn()
    assert peek(storage.path, "SELECT count(*) FROM t") == [(0,)]
    assert storage.kv.get("after") is None


def test_guard_holds_for_statements_cached_outside_turns(make_storage: MakeStorage) -> None:
    storage = make_storage()
    db = storage.db
    db.execute("BEGIN")
    db.execute("COMMIT")  # sqlite3 caches this prepared statement
    db["t"].insert({"x": 0})  # sqlite-utils' own BEGIN/COMMIT outside a turn
    storage.begin_turn()
    db["t"].insert({"x": 1})
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        db.execute("COMMIT")
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        db.commit()
    storage.rollback_turn()
    assert peek(storage.path, "SELECT x FROM t") == [(0,)]


def test_guard_allows_transactions_outside_turns(make_storage: MakeStorage) -> None:
    storage = make_storage()
    db = storage.db
    db.execute("BEGIN")
    db.execute("CREATE TABLE t (x)")
    db.conn.commit()
    with db.atomic():
        db["t"].insert({"x": 1})
    assert peek(storage.path, "SELECT x FROM t") == [(1,)]


def test_user_code_cannot_change_isolation_level_in_a_turn(make_storage: MakeStorage) -> None:
    storage = make_storage()
    storage.begin_turn()
    storage.kv.put("a", 1)
    with pytest.raises(StorageError):
        storage.db.conn.isolation_level = None
    assert storage.db.conn.isolation_level == "DEFERRED"
    storage.rollback_turn()
    assert storage.db.conn.isolation_level is None
    assert storage.kv.get("a") is None


@pytest.mark.parametrize("close", [lambda db: db.close(), lambda db: db.conn.close()])
def test_user_code_cannot_close_the_handle(make_storage: MakeStorage, close: Any) -> None:
    storage = make_storage()
    with pytest.raises(StorageError):
        close(storage.db)
    storage.kv.put("a", 1)
    assert storage.kv.get("a") == 1


ABORTS = {
    "or-rollback": "INSERT OR ROLLBACK INTO u (id) VALUES (1)",
    "trigger": "INSERT INTO aborter (x) VALUES (1)",
}


@pytest.mark.parametrize("statement", ABORTS.values(), ids=ABORTS.keys())
def test_transaction_aborted_by_sqlite_fails_the_turn(
    make_storage: MakeStorage, statement: str
) -> None:
    storage = make_storage()
    storage.db.executescript(
        """
        CREATE TABLE u (id INTEGER PRIMARY KEY);
        INSERT INTO u VALUES (1);
        CREATE TABLE aborter (x);
        CREATE TRIGGER abort_it BEFORE INSERT ON aborter BEGIN SELECT RAISE(ROLLBACK, 'no'); END;
        CREATE TABLE t (x);
        """
    )
    storage.begin_turn()
    db = storage.db
    storage.kv.put("before", 1)
    db["t"].insert({"x": "before"})
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(statement)  # SQLite rolls the whole transaction back
    # the handler swallows the error and goes on: nothing it does may autocommit
    with pytest.raises(StorageError):
        storage.kv.put("after", 2)
    with pytest.raises(sqlite3.DatabaseError):
        db.execute("INSERT INTO t VALUES ('after')")
    with pytest.raises(sqlite3.DatabaseError):
        db["t"].insert({"x": "after"})
    with pytest.raises(sqlite3.DatabaseError):
        db.execute("CREATE TABLE later (x)")
    with pytest.raises(CommitFailed, match="rolled back"):
        storage.commit_turn()
    assert peek(storage.path, "SELECT count(*) FROM t") == [(0,)]
    assert "later" not in tables(storage.path)
    assert storage.kv.list() == []
    # usable again
    storage.begin_turn()
    storage.kv.put("next", 3)
    storage.commit_turn()
    assert storage.kv.list() == [("next", 3)]


def test_lock_held_by_another_process_fails_the_write_not_the_storage(
    make_storage: MakeStorage,
) -> None:
    storage = make_storage(busy_timeout=0.01)
    storage.kv.put("a", 1)
    tool = sqlite3.connect(storage.path, isolation_level=None)
    try:
        tool.execute("BEGIN IMMEDIATE")  # e.g. `roost sql` writing
        storage.begin_turn()
        assert storage.kv.get("a") == 1  # readers are not blocked in WAL mode
        with pytest.raises(StorageError, match="locked"):
            storage.kv.put("a", 2)
        storage.rollback_turn()
        tool.execute("ROLLBACK")
    finally:
        tool.close()
    storage.begin_turn()
    storage.kv.put("a", 3)
    storage.commit_turn()
    assert storage.kv.get("a") == 3


def test_repr(make_storage: MakeStorage) -> None:
    storage = make_storage("k1")
    assert repr(storage) == "<ActorStorage room/'k1' closed>"
    storage.begin_turn()
    storage.db  # noqa: B018
    assert repr(storage) == "<ActorStorage room/'k1' open, in turn>"
    storage.rollback_turn()


def _committed(storage: ActorStorage, key: str) -> object:
    """What another connection sees: only committed data."""
    with sqlite3.connect(f"file:{storage.path}?mode=ro", uri=True) as other:
        row = other.execute("SELECT value FROM _roost_kv WHERE key = ?", [key.encode()]).fetchone()
    return None if row is None else cbor2.loads(row[0])


def test_group_commit_keeps_turns_open_and_a_failed_turn_rolls_back_alone(
    make_storage: MakeStorage,
) -> None:
    storage = make_storage()
    storage.begin_turn()
    storage.kv.put("a", 1)
    storage.commit_turn()  # the table exists and is committed
    storage.begin_turn()
    storage.kv.put("a", 2)
    storage.commit_turn(keep_open=True)
    assert storage.group_open and _committed(storage, "a") == 1  # not durable yet
    storage.begin_turn()
    storage.kv.put("b", 3)
    storage.kv.put("a", 99)
    storage.rollback_turn()  # only this turn goes
    assert storage.group_open
    storage.begin_turn()
    storage.kv.put("c", 4)
    storage.commit_turn()  # the last turn commits the whole group
    assert not storage.group_open
    assert [_committed(storage, k) for k in "abc"] == [2, None, 4]


def test_commit_group_after_the_last_turn_and_a_failing_group(make_storage: MakeStorage) -> None:
    storage = make_storage()
    storage.begin_turn()
    storage.db.execute("CREATE TABLE p (id INTEGER PRIMARY KEY)")
    storage.db.execute(
        "CREATE TABLE c (id INTEGER PRIMARY KEY,"
        " p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)"
    )
    storage.commit_turn()
    storage.begin_turn()
    storage.kv.put("x", 1)
    storage.commit_turn(keep_open=True)
    storage.commit_group()
    assert _committed(storage, "x") == 1 and not storage.group_open
    storage.begin_turn()
    storage.kv.put("y", 1)
    storage.commit_turn(keep_open=True)
    storage.begin_turn()
    storage.db.execute("INSERT INTO c (p) VALUES (42)")  # violates the deferred key at COMMIT
    storage.commit_turn(keep_open=True)
    with pytest.raises(CommitFailed):
        storage.commit_group()
    assert _committed(storage, "y") is None  # the whole group is gone
    storage.begin_turn()
    storage.kv.put("z", 1)
    storage.commit_turn()
    assert _committed(storage, "z") == 1  # and the storage is usable
