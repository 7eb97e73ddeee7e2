"""ActorStorage.discard: a file this object created and that holds schema only goes, with its
-wal/-shm and the directories it made; anything holding data, or older, stays (G10)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from roost.storage import ActorStorage, HandlePool

from .conftest import MakeStorage

DDL = "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT)"


def everything(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def turn(storage: ActorStorage, *statements: str) -> None:
    storage.begin_turn()
    for statement in statements:
        storage.db.execute(statement)
    storage.commit_turn()


def test_a_file_with_schema_only_is_removed_with_its_side_files_and_dirs(
    tmp_path: Path, make_storage: MakeStorage
) -> None:
    storage = make_storage("stranger")
    turn(storage, DDL, "CREATE INDEX IF NOT EXISTS by_text ON messages (text)")
    turn(storage, "SELECT * FROM messages")  # reads write nothing
    assert storage.created and storage.path.exists()
    assert storage.discard(prune_upto=tmp_path) is True
    assert everything(tmp_path) == []  # no .sqlite, -wal, -shm, shard or type directory


@pytest.mark.parametrize(
    "statements",
    [
        [DDL, "INSERT INTO messages (text) VALUES ('hi')"],
        # Written, then deleted: no row remains, but the actor changed data (and the
        # AUTOINCREMENT counter remembers it).
        [DDL, "INSERT INTO messages (text) VALUES ('hi')", "DELETE FROM messages"],
        ["CREATE TABLE plain (x)", "INSERT INTO plain VALUES (1)", "DELETE FROM plain"],
        ["CREATE TABLE copied AS SELECT 1 AS x"],  # rows without a counted change
    ],
)
def test_a_file_whose_turns_changed_rows_stays(
    tmp_path: Path, make_storage: MakeStorage, statements: list[str]
) -> None:
    storage = make_storage("keeper")
    turn(storage, *statements)
    assert storage.discard(prune_upto=tmp_path) is False
    assert storage.path.exists()
    with sqlite3.connect(storage.path) as db:
        assert db.execute("SELECT value FROM _roost_meta WHERE name = 'key'").fetchone() == (
            "keeper",
        )


def test_rolled_back_writes_do_not_keep_a_file(tmp_path: Path, make_storage: MakeStorage) -> None:
    storage = make_storage("rolled-back")
    turn(storage, DDL)
    storage.begin_turn()
    storage.db.execute("INSERT INTO messages (text) VALUES ('never')")
    storage.rollback_turn()
    # Group commit: a turn rolled back inside the group's savepoint.
    storage.begin_turn()
    storage.db.execute("SELECT 1")
    storage.commit_turn(keep_open=True)
    storage.begin_turn()
    storage.db.execute("INSERT INTO messages (text) VALUES ('never either')")
    storage.rollback_turn()
    storage.commit_group()
    assert storage.discard(prune_upto=tmp_path) is True
    assert everything(tmp_path) == []


def test_writes_outside_a_turn_and_through_a_reopened_handle_count(
    tmp_path: Path, make_storage: MakeStorage
) -> None:
    outside = make_storage("outside")
    outside.db.execute(DDL)
    outside.db.execute("INSERT INTO messages (text) VALUES ('autocommitted')")
    outside.db.execute("DELETE FROM messages")
    assert outside.discard(prune_upto=tmp_path) is False

    tiny = HandlePool(max_open=1)
    reopened = make_storage("reopened", pool=tiny)
    turn(reopened, DDL, "INSERT INTO messages (text) VALUES ('x')", "DELETE FROM messages")
    make_storage("other", pool=tiny).db.execute(DDL)  # evicts the first handle from the pool
    assert not reopened.opened
    assert reopened.discard(prune_upto=tmp_path) is False


def test_an_existing_file_is_never_removed(tmp_path: Path, make_storage: MakeStorage) -> None:
    first = make_storage("old")
    turn(first, DDL)
    first.close()  # an earlier activation, whose file was kept
    second = make_storage("old")
    turn(second, DDL)
    assert not second.created
    assert second.discard(prune_upto=tmp_path) is False
    assert second.path.exists()


def test_pruning_stops_at_a_directory_that_holds_another_file(
    tmp_path: Path, make_storage: MakeStorage
) -> None:
    kept = make_storage("kept")
    turn(kept, DDL, "INSERT INTO messages (text) VALUES ('x')")
    kept.close()
    stranger = make_storage("stranger")
    turn(stranger, DDL)
    assert stranger.discard(prune_upto=tmp_path) is True
    assert not stranger.path.exists()
    assert kept.path.exists()
    assert (tmp_path / "actors").is_dir()


def test_a_file_deleted_meanwhile_is_not_created_again(
    tmp_path: Path, make_storage: MakeStorage
) -> None:
    storage = make_storage("gone")
    turn(storage, DDL)
    storage.close()
    storage.path.unlink()
    assert storage.discard(prune_upto=tmp_path) is True
    assert not storage.path.exists()


def test_discard_during_a_turn_keeps_the_file(tmp_path: Path, make_storage: MakeStorage) -> None:
    storage = make_storage("busy")
    storage.begin_turn()
    storage.db.execute(DDL)
    assert storage.discard(prune_upto=tmp_path) is False  # the turn's writes roll back
    assert storage.path.exists()


def test_turn_changes_count_the_actors_rows_never_the_owner_record(
    make_storage: MakeStorage,
) -> None:
    """The runtime's "did this turn write?" (sync_on_write, the stranger let-go): the turn
    that creates the file writes roost's owner record, which is not the actor's data."""
    storage = make_storage("fresh")
    storage.begin_turn()
    before = storage.turn_changes
    storage.db.execute(DDL)  # creates the file (and its owner record) in this turn
    assert storage.turn_changes == before == 0
    storage.commit_turn()
    assert storage.created and not storage.wrote
    storage.begin_turn()
    storage.db.execute("INSERT INTO messages (text) VALUES ('x')")
    assert storage.turn_changes == 1
    storage.commit_turn()
    assert storage.wrote and storage.turn_changes == 0
