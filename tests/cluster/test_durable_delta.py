"""Durable output ships page deltas (storage/_wal.py): a small change makes a small log
entry, and a new owner rebuilds exactly the acknowledged file from image plus deltas, across
the WAL's automatic checkpoint, an eviction (the WAL checkpointed and removed) and images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import trio

from roost import Actor, App, rpc
from tests.cluster.test_durable import connect_actor
from tests.support import running

ACCOUNTS = 3000


class Accounts(Actor):
    """Balances in a table of its own; every change durable before its reply."""

    durable = True

    @rpc
    async def open(self, conn: Any) -> int:
        db = self.storage.db
        db.execute("CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER, name TEXT)")
        db["acct"].insert_all({"id": i, "balance": 100, "name": f"a{i}"} for i in range(ACCOUNTS))
        return ACCOUNTS

    @rpc
    async def transfer(self, conn: Any, src: int, dst: int, amount: int) -> int:
        db = self.storage.db
        db.execute("UPDATE acct SET balance = balance - ? WHERE id = ?", [amount, src])
        db.execute("UPDATE acct SET balance = balance + ? WHERE id = ?", [amount, dst])
        return int(db.execute("SELECT balance FROM acct WHERE id = ?", [dst]).fetchone()[0])

    @rpc
    async def blob(self, conn: Any, size: int) -> None:
        """A big commit: the WAL outgrows SQLite's automatic checkpoint (1000 pages)."""
        db = self.storage.db
        db.execute("CREATE TABLE IF NOT EXISTS big (b BLOB)")
        db.execute("DELETE FROM big")
        db.execute("INSERT INTO big VALUES (randomblob(?))", [size])

    @rpc
    async def balances(self, conn: Any) -> list[int]:
        db = self.storage.db
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [row[0] for row in db.execute("SELECT balance FROM acct ORDER BY id")]


async def test_small_changes_ship_small_entries_and_rebuild_exactly(
    tmp_path: Path, pg_store_url: str
) -> None:
    app = App()
    app.actor("accounts", Accounts)
    settings = {"cluster_secret": "s", "lease_ttl": 3.0, "store": pg_store_url}
    expected = [100] * ACCOUNTS

    async def transfers(actor: Any, count: int, salt: int) -> None:
        for i in range(count):
            src, dst = (i * 97 + salt) % ACCOUNTS, (i * 31 + 7 * salt + 1) % ACCOUNTS
            if src == dst:
                continue
            expected[src] -= 3
            expected[dst] += 3
            assert await actor.call("transfer", src=src, dst=dst, amount=3) == expected[dst]

    with trio.fail_after(90):
        async with running(app, tmp_path / "a", idle_timeout=0.3, **settings) as a:
            async with connect_actor(a, "accounts", "x") as actor:
                assert await actor.call("open") == ACCOUNTS
                await transfers(actor, 60, 1)
                await actor.call("blob", size=6_000_000)  # automatic checkpoint; an image
                await transfers(actor, 60, 2)
            await trio.sleep(1.0)  # idle: evicted, its WAL checkpointed into the file
            async with connect_actor(a, "accounts", "x") as actor:
                await transfers(actor, 60, 3)
                assert await actor.call("balances") == expected
        with psycopg.connect(pg_store_url) as conn:
            sizes = [
                size
                for (size,) in conn.execute(
                    "SELECT length(entry) FROM roost_actor_log"
                    " WHERE actor_type = 'accounts' ORDER BY seq"
                ).fetchall()
            ]
        small = [size for size in sizes if size < 300]
        assert len(small) >= 150, sizes  # the transfers' entries: deltas of a few bytes
        async with running(app, tmp_path / "b", **settings) as b:  # an empty data dir
            async with connect_actor(b, "accounts", "x") as actor:
                assert await actor.call("balances") == expected
                await transfers(actor, 10, 4)
                assert await actor.call("balances") == expected
