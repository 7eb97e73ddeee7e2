"""A node checkpoints busy actors' WALs in its worker thread (storage/_checkpoints.py): the
COMMIT that crosses 1,000 frames does not, the thread does, the metrics count it, and the
actor's data is whole in its file after a graceful shutdown. A real server, a real client."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import trio

from roost import Actor, App, Connection
from roost.storage import actor_db_path
from tests.runtime.test_sync import metric
from tests.support import connect, running

#: Rows of about a page each that one message writes.
ROWS_PER_MESSAGE = 50


class Writer(Actor):
    """Each message writes ROWS_PER_MESSAGE rows of 3,500 random bytes (a page each)."""

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        db = self.storage.db.conn
        db.execute("CREATE TABLE IF NOT EXISTS blobs (b BLOB)")
        db.executemany("INSERT INTO blobs (b) VALUES (randomblob(3500))", [()] * ROWS_PER_MESSAGE)
        conn.send("ok")


def make_app() -> App:
    app = App()
    app.actor("writer", Writer)
    return app


async def test_a_busy_actors_wal_is_checkpointed_by_the_thread(tmp_path: Path) -> None:
    messages = 40  # 2,000 pages: past the 1,000 frames at which a WAL goes to the thread
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/writer/w") as ws:
                for _ in range(messages):
                    await ws.send_message("write")
                    assert await ws.get_message() == "ok"
            while await metric(server, "roost_wal_checkpoints_total") < 1:  # noqa: ASYNC110 - a worker thread
                await trio.sleep(0.02)
            assert await metric(server, "roost_wal_checkpoint_failures_total") == 0
            path = actor_db_path(tmp_path, "writer", "w")
            # The thread copied the WAL into the file while the actor was still open: the
            # file alone (a copy of it without its -wal) holds rows.
            copy = tmp_path / "copy.sqlite"
            copy.write_bytes(path.read_bytes())
            with closing(sqlite3.connect(copy)) as conn:
                assert conn.execute("SELECT count(*) FROM blobs").fetchone()[0] > 0
    # The thread stopped before the actors closed their files: each close was its file's
    # last, which checkpoints it and removes its WAL (a stopped node's files stand alone).
    assert sorted(os.listdir(path.parent)) == [path.name]
    with closing(sqlite3.connect(path)) as conn:  # every row, after the shutdown
        assert conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == (
            messages * ROWS_PER_MESSAGE
        )
