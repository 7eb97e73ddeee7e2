"""Actors' WAL checkpoints run in a worker thread, not inside a COMMIT (storage/_checkpoints.py).

SQLite's automatic checkpoint copies and syncs a WAL from inside the COMMIT that takes it
past 1,000 frames, stalling the event loop for milliseconds: with a checkpointer the COMMIT
only queues the file, the checkpointer's task copies it aside, and the WAL stays bounded
when that task is behind or its queue is full. Real SQLite files, real worker threads.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import trio
import trio.lowlevel
import trio.testing

from roost import ConfigError
from roost.storage import ActorStorage, HandlePool
from roost.storage._checkpoints import (
    CHECKPOINT_FRAMES,
    HERE,
    INLINE_FRAMES,
    NOTHING,
    QUEUE,
    Checkpointer,
    checkpoint_aside,
    checkpoint_due,
)
from roost.storage._connection import keep_wal_on_close
from roost.storage._wal import wal_frames

from .conftest import MakeStorage

#: Pages one turn writes (a 4 KiB page per row of this size, about).
PAGES_PER_TURN = 40


def write_turn(storage: ActorStorage, turn: int) -> None:
    """One committed turn that adds about PAGES_PER_TURN pages to the WAL."""
    storage.begin_turn()
    conn = storage.db.conn
    conn.execute("CREATE TABLE IF NOT EXISTS blobs (n INTEGER PRIMARY KEY, b BLOB)")
    conn.executemany(
        "INSERT INTO blobs (n, b) VALUES (?, randomblob(3500))",
        [(turn * PAGES_PER_TURN + i,) for i in range(PAGES_PER_TURN)],
    )
    storage.commit_turn()


def frames(storage: ActorStorage) -> tuple[int, int]:
    """The WAL's frames since it started over, and how many are copied into the file."""
    shm = os.open(f"{storage.path}-shm", os.O_RDONLY)
    try:
        found = wal_frames(shm)
    finally:
        os.close(shm)
    assert found is not None
    return found


def backlog(storage: ActorStorage) -> int:
    last, copied = frames(storage)
    return last - copied


def rows_in_file_alone(path: Path) -> int:
    """Rows the database file holds without its WAL (a copy of the file alone)."""
    copy = path.with_name("copy.sqlite")
    copy.write_bytes(path.read_bytes())
    with closing(sqlite3.connect(copy)) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM blobs").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def turns_past(frames: int) -> int:
    return frames // PAGES_PER_TURN + 2


async def test_a_commit_hands_its_checkpoint_to_the_thread(make_storage: MakeStorage) -> None:
    ran: list[bool] = []
    checkpoints = Checkpointer(counted=ran.append)
    storage = make_storage("a", checkpoints=checkpoints)
    with trio.fail_after(30):
        for turn in range(turns_past(CHECKPOINT_FRAMES)):
            write_turn(storage, turn)
        # No COMMIT checkpointed: the frames wait in the WAL, the file waits in the queue.
        assert backlog(storage) >= CHECKPOINT_FRAMES
        assert checkpoints.pending == 1
        assert rows_in_file_alone(storage.path) == 0
        await checkpoints.run_pending()
    assert ran == [True]
    assert backlog(storage) == 0  # everything copied into the file, by the thread
    written = turns_past(CHECKPOINT_FRAMES) * PAGES_PER_TURN
    assert rows_in_file_alone(storage.path) == written
    # The actor goes on writing on its own connection as before.
    write_turn(storage, 10_000)
    assert storage.db.conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == written + 40


def test_without_a_checkpointer_sqlite_checkpoints_as_before(make_storage: MakeStorage) -> None:
    storage = make_storage("plain")
    for turn in range(turns_past(CHECKPOINT_FRAMES)):
        write_turn(storage, turn)
        assert backlog(storage) < CHECKPOINT_FRAMES + PAGES_PER_TURN + 10
    assert rows_in_file_alone(storage.path) > 0


def test_a_checkpointer_that_falls_behind_leaves_the_wal_bounded(
    make_storage: MakeStorage,
) -> None:
    """Nothing runs the queue here: past INLINE_FRAMES the COMMIT checkpoints itself."""
    checkpoints = Checkpointer()
    storage = make_storage("behind", checkpoints=checkpoints)
    seen = []
    for turn in range(turns_past(INLINE_FRAMES) + 5):
        write_turn(storage, turn)
        seen.append(backlog(storage))
    # It grew to just under INLINE_FRAMES (no checkpoint before), then a COMMIT copied it.
    assert INLINE_FRAMES - 3 * PAGES_PER_TURN < max(seen) < INLINE_FRAMES
    assert seen[-1] < max(seen) // 2
    assert checkpoints.pending == 1  # queued once, however often asked


def test_a_full_queue_makes_the_commit_checkpoint_itself(make_storage: MakeStorage) -> None:
    checkpoints = Checkpointer(max_pending=1)
    first = make_storage("first", checkpoints=checkpoints)
    second = make_storage("second", checkpoints=checkpoints)
    for turn in range(turns_past(CHECKPOINT_FRAMES)):
        write_turn(first, turn)
    assert checkpoints.pending == 1 and backlog(first) >= CHECKPOINT_FRAMES
    for turn in range(turns_past(CHECKPOINT_FRAMES)):
        write_turn(second, turn)
        assert backlog(second) < CHECKPOINT_FRAMES + PAGES_PER_TURN + 10
    assert checkpoints.pending == 1


async def test_a_queued_file_that_is_gone_is_left_alone(tmp_path: Path) -> None:
    ran: list[bool] = []
    checkpoints = Checkpointer(counted=ran.append)
    gone = tmp_path / "gone.sqlite"
    assert checkpoints.want(gone, "NORMAL")
    with trio.fail_after(10):
        await checkpoints.run_pending()
    assert os.listdir(tmp_path) == []  # no file, no -wal, no -shm created
    assert ran == [True]


async def test_an_evicted_handle_leaves_the_checkpoint_to_sqlite(
    make_storage: MakeStorage, tmp_path: Path
) -> None:
    """A file whose handle the pool closed meanwhile is checkpointed on a connection of the
    thread's own; the actor reopens it with every row."""
    pool = HandlePool(max_open=1)
    checkpoints = Checkpointer()
    storage = make_storage("evicted", pool=pool, checkpoints=checkpoints)
    for turn in range(turns_past(CHECKPOINT_FRAMES)):
        write_turn(storage, turn)
    other = make_storage("other", pool=pool)
    other.kv.put("x", 1)  # the pool closes the first handle (its WAL is too big to keep)
    with trio.fail_after(30):
        await checkpoints.run_pending()
    written = turns_past(CHECKPOINT_FRAMES) * PAGES_PER_TURN
    assert rows_in_file_alone(storage.path) == written
    assert storage.db.conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == written


def test_max_pending_is_checked() -> None:
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigError):
            Checkpointer(max_pending=bad)  # type: ignore[arg-type]


async def test_the_task_wakes_for_a_file_queued_while_it_waits(make_storage: MakeStorage) -> None:
    ran: list[bool] = []
    checkpoints = Checkpointer(counted=ran.append)
    storage = make_storage("woken", checkpoints=checkpoints)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(checkpoints.run)
            await trio.testing.wait_all_tasks_blocked()  # it waits: nothing is queued
            for turn in range(turns_past(CHECKPOINT_FRAMES)):
                write_turn(storage, turn)
            while backlog(storage) >= CHECKPOINT_FRAMES:  # noqa: ASYNC110 - a worker thread
                await trio.sleep(0.01)  # the worker thread copies it meanwhile
            nursery.cancel_scope.cancel()
    assert ran == [True] and checkpoints.pending == 0


async def test_a_wal_starts_over_while_the_actor_commits_during_its_checkpoints(
    make_storage: MakeStorage,
) -> None:
    """The actor commits without a pause while the thread checkpoints (for real, in its
    worker thread), so every checkpoint leaves frames behind: the COMMIT that finds the WAL
    INLINE_FRAMES long copies them, and the WAL starts over. Without that step it grows
    without end (here: to three times INLINE_FRAMES)."""
    ran: list[bool] = []
    checkpoints = Checkpointer(counted=ran.append)
    storage = make_storage("steady", checkpoints=checkpoints)
    turns = 3 * turns_past(INLINE_FRAMES)
    longest = 0
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(checkpoints.run)
            for turn in range(turns):
                write_turn(storage, turn)
                longest = max(longest, frames(storage)[0])
                await trio.lowlevel.checkpoint()  # the checkpointer's task may start one
            nursery.cancel_scope.cancel()
    assert len(ran) >= 2 and all(ran)
    # INLINE_FRAMES, and what the actor wrote while a checkpoint of the thread ran.
    assert longest < INLINE_FRAMES * 3 // 2
    count = storage.db.conn.execute("SELECT count(*) FROM blobs").fetchone()[0]
    assert count == turns * PAGES_PER_TURN


@pytest.mark.parametrize(
    ("frames", "due"),
    [
        (None, NOTHING),  # no wal-index
        ((10, 0), NOTHING),
        ((CHECKPOINT_FRAMES - 1, 0), NOTHING),
        ((CHECKPOINT_FRAMES, 0), QUEUE),
        ((INLINE_FRAMES - 1, 0), QUEUE),
        ((INLINE_FRAMES, 0), HERE),  # the thread is that far behind
        ((INLINE_FRAMES + 5, INLINE_FRAMES - 20), HERE),  # it copied the bulk: start over
        ((INLINE_FRAMES - 5, INLINE_FRAMES - 20), NOTHING),
        ((3 * CHECKPOINT_FRAMES, CHECKPOINT_FRAMES), QUEUE),
    ],
)
def test_what_a_commit_does_about_its_wal(frames: tuple[int, int] | None, due: str) -> None:
    assert checkpoint_due(frames) == due


def test_a_wal_under_steady_writes_stays_bounded(make_storage: MakeStorage) -> None:
    """Whoever checkpoints (the thread, never run here, or the COMMIT), the WAL never
    holds more than INLINE_FRAMES and a turn."""
    checkpoints = Checkpointer()
    storage = make_storage("bounded", checkpoints=checkpoints)
    for turn in range(3 * turns_past(INLINE_FRAMES)):
        write_turn(storage, turn)
        assert frames(storage)[0] < INLINE_FRAMES + 2 * PAGES_PER_TURN


def test_the_threads_connection_never_deletes_a_wal(tmp_path: Path) -> None:
    """SQLite deletes a WAL by name when its last connection closes; the thread's never
    does, since the actor's file may have been removed and made anew meanwhile (the name
    is then the new file's WAL). The checkpoint itself is done."""
    path = tmp_path / "a.sqlite"
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE t (v)")
        writer.execute("INSERT INTO t VALUES (1)")
        assert keep_wal_on_close(writer)  # the WAL outlives the writer, with its frames
    assert Path(f"{path}-wal").stat().st_size > 0
    assert checkpoint_aside(str(path), "NORMAL", 5.0)  # the only connection, closed last
    assert Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
    assert rows_in_file_alone_of(path) == 1  # copied into the file


def rows_in_file_alone_of(path: Path) -> int:
    copy = path.with_name("alone.sqlite")
    copy.write_bytes(path.read_bytes())
    with closing(sqlite3.connect(copy)) as conn:
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])


def test_a_closed_handle_takes_its_file_out_of_the_queue(make_storage: MakeStorage) -> None:
    """Its close checkpoints the file (or keeps a small WAL); a connection of the thread
    opened afterwards would be the file's first and replay the whole WAL."""
    checkpoints = Checkpointer()
    storage = make_storage("closing", checkpoints=checkpoints)
    for turn in range(turns_past(CHECKPOINT_FRAMES)):
        write_turn(storage, turn)
    assert checkpoints.pending == 1
    storage.close()
    assert checkpoints.pending == 0
    assert not Path(f"{storage.path}-wal").exists()  # the close checkpointed it
