"""The transfer baselines: a Python HTTP server over PostgreSQL or over SQLite.

The same ledger as examples/ledger.py (accounts 0..N-1, each created with the same balance),
behind an aiohttp server on uvloop, one process:

    POST /transfer  {"from_account": 1, "to_account": 2, "amount": 5}
                    200 {"from": <balance>, "to": <balance>}, or 400 {"error": "..."}
    GET  /total     200 {"total": <sum of balances>, "accounts": <count>}

Backends:

* ``postgres``: the transfer is one call of a plpgsql function (one statement, its own
  transaction), through an asyncpg pool of ``BENCH_PG_POOL`` connections (default 16).
  The function updates the two rows in id order, so concurrent transfers between the same
  two accounts cannot deadlock. ``BENCH_PG_SYNCHRONOUS_COMMIT`` (``off`` by default, the
  setting closest to roost's default durability; ``on`` is PostgreSQL's default) is set
  per connection. Everything lives in a schema of its own, dropped at exit.
* ``sqlite``: one sqlite3 connection, the only writer, used inline on the event loop (as
  Node's better-sqlite3 servers do): ``BEGIN IMMEDIATE``, two ``UPDATE ... RETURNING``,
  ``COMMIT`` per request. WAL, ``synchronous`` from ``BENCH_SQLITE_SYNCHRONOUS`` (NORMAL by
  default, like roost).

Usage: python transfer_http.py postgres|sqlite HOST PORT DATA_DIR
Prints "listening on http://HOST:PORT" once the accounts exist and it accepts connections.
Accounts: ``BENCH_ACCOUNTS`` (100,000), balance ``BENCH_BALANCE`` (1,000,000).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

ACCOUNTS = int(os.environ.get("BENCH_ACCOUNTS", "100000"))
BALANCE = int(os.environ.get("BENCH_BALANCE", "1000000"))
PG_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_POOL = int(os.environ.get("BENCH_PG_POOL", "16"))
PG_SYNC = os.environ.get("BENCH_PG_SYNCHRONOUS_COMMIT", "off")
SQLITE_SYNC = os.environ.get("BENCH_SQLITE_SYNCHRONOUS", "NORMAL")


class Refused(Exception):
    """A transfer the ledger does not make (400)."""


def parse_transfer(body: bytes) -> tuple[int, int, int]:
    """The three integers of a transfer request, checked the way examples/ledger.py does."""
    try:
        data = json.loads(body)
        source, target, amount = data["from_account"], data["to_account"], data["amount"]
    except (ValueError, KeyError, TypeError):
        raise Refused("expected {from_account, to_account, amount}") from None
    for value in (source, target, amount):
        if not isinstance(value, int) or isinstance(value, bool):
            raise Refused("integers expected")
    if not (0 <= source < ACCOUNTS and 0 <= target < ACCOUNTS):
        raise Refused("no such account")
    if source == target:
        raise Refused("from_account and to_account must differ")
    if amount <= 0:
        raise Refused("amount must be > 0")
    return source, target, amount


def reply(value: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(value, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


# ---- PostgreSQL --------------------------------------------------------------------------

PG_FUNCTION = """
CREATE FUNCTION transfer(p_from integer, p_to integer, p_amount bigint,
                         OUT from_balance bigint, OUT to_balance bigint)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_from < p_to THEN  -- lock rows in id order: no deadlock between opposite transfers
        UPDATE accounts SET balance = balance - p_amount
            WHERE id = p_from AND balance >= p_amount RETURNING balance INTO from_balance;
        IF NOT FOUND THEN RAISE EXCEPTION 'insufficient funds' USING ERRCODE = 'P0001'; END IF;
        UPDATE accounts SET balance = balance + p_amount
            WHERE id = p_to RETURNING balance INTO to_balance;
    ELSE
        UPDATE accounts SET balance = balance + p_amount
            WHERE id = p_to RETURNING balance INTO to_balance;
        UPDATE accounts SET balance = balance - p_amount
            WHERE id = p_from AND balance >= p_amount RETURNING balance INTO from_balance;
        IF NOT FOUND THEN RAISE EXCEPTION 'insufficient funds' USING ERRCODE = 'P0001'; END IF;
    END IF;
END $$;
"""


class Postgres:
    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.pool: Any = None

    async def start(self) -> None:
        import asyncpg

        setup = await asyncpg.connect(PG_DSN)
        try:
            await setup.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            await setup.execute(f"CREATE SCHEMA {self.schema}")
            await setup.execute(f"SET search_path = {self.schema}")
            await setup.execute(
                "CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL)"
            )
            await setup.execute(
                "INSERT INTO accounts SELECT i, $2 FROM generate_series(0, $1 - 1) AS i",
                ACCOUNTS,
                BALANCE,
            )
            await setup.execute(PG_FUNCTION)
            await setup.execute("VACUUM ANALYZE accounts")
        finally:
            await setup.close()
        self.pool = await asyncpg.create_pool(
            PG_DSN,
            min_size=PG_POOL,
            max_size=PG_POOL,
            server_settings={
                "search_path": self.schema,
                "synchronous_commit": PG_SYNC,
                "application_name": f"roost-bench-{self.schema}",
            },
        )

    async def transfer(self, source: int, target: int, amount: int) -> dict[str, int]:
        import asyncpg

        async with self.pool.acquire() as conn:
            try:
                row = await conn.fetchrow(
                    "SELECT from_balance, to_balance FROM transfer($1, $2, $3)",
                    source,
                    target,
                    amount,
                )
            except asyncpg.RaiseError as error:
                raise Refused(str(error)) from None
        return {"from": row[0], "to": row[1]}

    async def total(self) -> dict[str, int]:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT sum(balance)::bigint, count(*) FROM accounts")
        return {"total": row[0], "accounts": row[1]}

    async def stop(self) -> None:
        import asyncpg

        if self.pool is not None:
            await self.pool.close()
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        finally:
            await conn.close()


# ---- SQLite ------------------------------------------------------------------------------

DEBIT = "UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ? RETURNING balance"
CREDIT = "UPDATE accounts SET balance = balance + ? WHERE id = ? RETURNING balance"


class Sqlite:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None

    async def start(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={SQLITE_SYNC}")
        db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
        db.execute("BEGIN")
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
            "INSERT INTO accounts SELECT i, ? FROM n",
            (ACCOUNTS, BALANCE),
        )
        db.execute("COMMIT")
        self.db = db

    async def transfer(self, source: int, target: int, amount: int) -> dict[str, int]:
        db = self.db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            debited = db.execute(DEBIT, (amount, source, amount)).fetchone()
            if debited is None:
                raise Refused("insufficient funds")
            credited = db.execute(CREDIT, (amount, target)).fetchone()
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return {"from": debited[0], "to": credited[0]}

    async def total(self) -> dict[str, int]:
        assert self.db is not None
        total, count = self.db.execute("SELECT sum(balance), count(*) FROM accounts").fetchone()
        return {"total": total, "accounts": count}

    async def stop(self) -> None:
        if self.db is not None:
            self.db.close()


# ---- the server --------------------------------------------------------------------------


async def serve(backend: Postgres | Sqlite, host: str, port: int) -> None:
    async def transfer(request: web.Request) -> web.Response:
        try:
            moved = await backend.transfer(*parse_transfer(await request.read()))
        except Refused as error:
            return reply({"error": str(error)}, status=400)
        return reply(moved)

    async def total(request: web.Request) -> web.Response:
        return reply(await backend.total())

    app = web.Application()
    app.router.add_post("/transfer", transfer)
    app.router.add_get("/total", total)
    await backend.start()
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    print(f"listening on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await backend.stop()


def main() -> None:
    if len(sys.argv) != 5 or sys.argv[1] not in ("postgres", "sqlite"):
        raise SystemExit("usage: transfer_http.py postgres|sqlite HOST PORT DATA_DIR")
    kind, host, port, data_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    backend: Postgres | Sqlite = (
        Postgres(f"roost_bench_{port}") if kind == "postgres" else Sqlite(data_dir / "ledger.db")
    )
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(backend, host, port))
    else:
        uvloop.run(serve(backend, host, port))


if __name__ == "__main__":
    main()
