"""Durable output's log across a lost lease that the same node claims again (same fence):
a rebuild starts a new history, and what the old one left beyond a gap never mixes in."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import trio

from roost import Actor, App, rpc
from roost.runtime._durable import rebuild_file
from roost.storage import open_shared_store
from roost.storage._shared._history import LogEntry
from roost.storage._wal import WalTail, encode_commit
from tests.support import http, running


class Origin:
    """An actor's file written through sqlite3, its commits encoded as the shipper does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.tail = WalTail(path)
        self.tail.skip_to_end()

    def commit(self, sql: str, *args: object) -> bytes:
        self.conn.execute(sql, args)
        (commit,) = self.tail.read()
        return encode_commit(commit)

    def close(self) -> bytes:
        data = self.conn.serialize()
        self.conn.close()
        return data


def expire(url: str, actor_type: str, key: str) -> None:
    """The lease's expiry passes (the database's clock, without waiting for it)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE roost_actor_lease SET expires_at = now() - interval '1 second'"
            " WHERE actor_type = %s AND actor_key = %s",
            (actor_type, key),
        )


async def test_a_history_rebuilt_under_the_same_fence_never_takes_the_old_ones_leftovers(
    tmp_path: Path, pg_store_url: str
) -> None:
    """Found by chaos (seed 204275404): a node whose append failed (entry 3) while a later
    batch landed (entry 4) lost its lease, claimed it again with the same fence, rebuilt the
    file up to entry 2 and wrote its own 3, 4, ...: the old 4 stayed (same fence), and the
    next rebuild applied its delta over the new 3 ("a log entry's delta does not fit")."""
    with trio.fail_after(30):
        async with open_shared_store(pg_store_url, data_dir=tmp_path) as store:
            lease = await store.acquire_lease("counter", "c2", "n1", ttl=30)
            assert lease is not None
            fence = lease.fence

            def entry(seq: int, blob: bytes) -> LogEntry:
                return LogEntry("counter", "c2", fence, seq, blob)

            old = Origin(tmp_path / "old.sqlite")
            e1 = old.commit("CREATE TABLE n (k INTEGER PRIMARY KEY, v INTEGER)")
            e2 = old.commit("INSERT INTO n VALUES (1, 0)")
            e3 = old.commit("UPDATE n SET v = v + 5 WHERE k = 1")
            e4 = old.commit("UPDATE n SET v = v + 7 WHERE k = 1")
            assert await store.append_log("n1", [entry(1, e1), entry(2, e2)]) == []
            assert await store.append_log("n1", [entry(4, e4)]) == []  # 3's batch failed
            del e3
            old.close()

            expire(pg_store_url, "counter", "c2")
            again = await store.acquire_lease("counter", "c2", "n1", ttl=30)
            assert again is not None and again.fence == fence  # the same owner: same fence

            path = tmp_path / "new.sqlite"
            last = await rebuild_file(store, path, "counter", "c2", node_id="n1", fence=fence)
            assert last == 2
            new = Origin(path)
            blobs = [
                new.commit("UPDATE n SET v = v + 100 WHERE k = 1"),
                new.commit("UPDATE n SET v = v + 1000 WHERE k = 1"),
                new.commit("UPDATE n SET v = v + 10000 WHERE k = 1"),
            ]
            assert (
                await store.append_log("n1", [entry(3 + i, b) for i, b in enumerate(blobs)]) == []
            )
            expected = new.close()

            rebuilt = tmp_path / "rebuilt.sqlite"
            assert await rebuild_file(store, rebuilt, "counter", "c2") == 5
            with sqlite3.connect(rebuilt) as conn:
                assert conn.execute("SELECT v FROM n").fetchall() == [(11100,)]
                assert conn.serialize() == expected


async def test_the_log_past_a_position_is_dropped_only_under_the_lease(
    tmp_path: Path, pg_store_url: str
) -> None:
    with trio.fail_after(30):
        async with open_shared_store(pg_store_url, data_dir=tmp_path) as store:
            lease = await store.acquire_lease("counter", "c2", "n1", ttl=30)
            assert lease is not None
            entries = [LogEntry("counter", "c2", lease.fence, seq, b"x") for seq in (1, 2, 3)]
            assert await store.append_log("n1", entries) == []
            for node_id, fence in (("n1", lease.fence + 1), ("n2", lease.fence)):
                assert not await store.truncate_log(
                    "counter", "c2", after=1, fence=fence, node_id=node_id
                )
            assert (await store.read_file_history("counter", "c2")).last_seq == 3
            assert await store.truncate_log(
                "counter", "c2", after=1, fence=lease.fence, node_id="n1"
            )
            assert (await store.read_file_history("counter", "c2")).last_seq == 1


class Tally(Actor):
    durable = True

    @rpc
    async def add(self, conn: Any, by: int) -> int:
        db = self.storage.db
        db.execute("CREATE TABLE IF NOT EXISTS n (k INTEGER PRIMARY KEY, v INTEGER)")
        db.execute("INSERT INTO n VALUES (1, ?) ON CONFLICT DO UPDATE SET v = v + ?", [by, by])
        return int(db.execute("SELECT v FROM n").fetchone()[0])


def damage_last_delta(url: str) -> int:
    """Flip the CRC of the newest log entry whose first page is a delta; its position."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT seq, entry FROM roost_actor_log WHERE actor_type = 'tally' ORDER BY seq DESC"
        ).fetchall()
        for seq, entry in rows:
            blob = bytearray(entry)
            if blob[:1] == b"\x01" and blob[17] != 0:  # version 1, first page not whole
                blob[18] ^= 0xFF
                conn.execute(
                    "UPDATE roost_actor_log SET entry = %s WHERE actor_type = 'tally' AND seq = %s",
                    (bytes(blob), seq),
                )
                return int(seq)
    raise AssertionError("no delta entry")


async def test_a_history_that_does_not_rebuild_makes_the_actor_unavailable_loudly_once(
    tmp_path: Path, pg_store_url: str, caplog: Any
) -> None:
    """A delta that does not fit (a damaged entry here): every activation answers a clear
    `unavailable` (503, no traceback), the metric counts each, one ERROR line says why."""
    app = App()
    app.actor("tally", Tally)
    settings = {"cluster_secret": "s", "lease_ttl": 3.0, "store": pg_store_url}
    add = b'{"by": 1}'
    json_body = [("content-type", "application/json")]
    with trio.fail_after(60):
        async with running(app, tmp_path / "a", **settings) as a:
            for _ in range(5):
                status, _, _ = await http(
                    a, "POST", "/tally/t/rpc/add", body=add, headers=json_body
                )
                assert status == 200
        damage_last_delta(pg_store_url)
        caplog.clear()
        async with running(app, tmp_path / "b", **settings) as b:
            for _ in range(3):
                status, _, body = await http(
                    b, "POST", "/tally/t/rpc/add", body=add, headers=json_body
                )
                assert status == 503, body
                assert b"unavailable" in body
            assert b.stats.durable_rebuild_failures_total == 3
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert errors[0].startswith(
        "cannot rebuild the file of tally/t from the store: a log entry's delta does not fit"
    )
    assert not any(r.exc_info for r in caplog.records if r.name.startswith("roost"))


class Breaking(Tally):
    @rpc
    async def add_unreadable(self, conn: Any, by: int) -> int:
        """An add whose commit the shipper cannot read (its WAL's magic damaged first)."""
        result = await self.add(conn, by)
        path = self.storage.db.execute("PRAGMA database_list").fetchone()[2]
        with open(f"{path}-wal", "r+b") as wal:  # noqa: ASYNC230 (inside the turn, on purpose)
            wal.write(b"\0\0\0\0")
        return result


async def test_a_commit_the_shipper_cannot_read_restarts_the_actor_from_the_store(
    tmp_path: Path, pg_store_url: str
) -> None:
    """Its output is dropped (G4) and the file holds a commit the log does not: the actor
    must not go on serving from that file (later output would leave unlogged, and later
    deltas would be based on a page the log never had); it starts again from the store."""
    app = App()
    app.actor("tally", Breaking)
    settings = {"cluster_secret": "s", "lease_ttl": 3.0, "store": pg_store_url}
    json_body = [("content-type", "application/json")]

    async def call(server: Any, method: str, by: int) -> tuple[int, bytes]:
        body = b'{"by": %d}' % by
        path = f"/tally/t/rpc/{method}"
        status, _, answer = await http(server, "POST", path, body=body, headers=json_body)
        return status, answer

    with trio.fail_after(60):
        async with running(app, tmp_path / "a", **settings) as a:
            assert await call(a, "add", 1) == (200, b'{"value":1}')
            status, _ = await call(a, "add_unreadable", 10)
            assert status == 503  # never acknowledged
            assert await call(a, "add", 100) == (200, b'{"value":101}')  # from the store's history
            assert await call(a, "add", 1000) == (200, b'{"value":1101}')
        async with running(app, tmp_path / "b", **settings) as b:
            assert await call(b, "add", 0) == (200, b'{"value":1101}')
