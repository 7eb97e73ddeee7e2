"""A ledger of accounts in one actor: the "transfer" workload of the benchmarks.

    roost serve examples/ledger.py
    ws://127.0.0.1:8787/ledger/<name>   (envelope clients: roost.v1.cbor or roost.v1.json)
    POST /ledger/<name>/rpc/transfer    {"from_account": 1, "to_account": 2, "amount": 5}

Each ledger holds ``ROOST_LEDGER_ACCOUNTS`` accounts (default 100,000), numbered from 0,
created on its first start in one transaction, each with ``ROOST_LEDGER_BALANCE`` (default
1,000,000) in its balance. rpc methods, each one turn:

- ``transfer(from_account, to_account, amount)`` moves ``amount`` (an integer > 0) between
  two different accounts and returns both new balances ``{"from": ..., "to": ...}``; an
  unknown account, a bad amount or insufficient funds is refused with ``bad_request`` and
  changes nothing;
- ``balance(account)``, ``total()`` (the sum of all balances: no transfer changes it) and
  ``accounts()`` (how many there are).

A transfer's reply leaves only after its turn committed (G4), so a transfer the client saw
succeed is durable: with the default ``ROOST_SYNCHRONOUS=NORMAL``, across a crash of the
process; with ``FULL``, across a power loss too.
"""

from __future__ import annotations

import os
from typing import Any

from roost import Actor, App, Connection, RpcError, rpc

DEFAULT_ACCOUNTS = 100_000
DEFAULT_BALANCE = 1_000_000

_SCHEMA = "CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)"
# Rows 0..n-1 in one statement, generated inside SQLite (no Python loop over 100,000 rows).
_CREATE = (
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) "
    "INSERT INTO accounts (id, balance) SELECT i, ? FROM n"
)
_DEBIT = "UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ? RETURNING balance"
_CREDIT = "UPDATE accounts SET balance = balance + ? WHERE id = ? RETURNING balance"
_BALANCE = "SELECT balance FROM accounts WHERE id = ?"


def _setting(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = int(raw)
    if value < 0 or (name == "ROOST_LEDGER_ACCOUNTS" and value < 2):
        raise ValueError(f"{name}={raw!r} is out of range")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Ledger(Actor):
    """Accounts with integer balances; money moves only by transfers, so the total is fixed."""

    async def on_start(self) -> None:
        db = self.storage.db
        db.execute(_SCHEMA)
        count = db.execute("SELECT count(*) FROM accounts").fetchone()[0]
        if count == 0:  # first start: this turn is the one transaction that creates them all
            count = _setting("ROOST_LEDGER_ACCOUNTS", DEFAULT_ACCOUNTS)
            balance = _setting("ROOST_LEDGER_BALANCE", DEFAULT_BALANCE)
            db.execute(_CREATE, [count, balance])
        self._count: int = count

    @rpc
    async def transfer(
        self, conn: Connection | None, from_account: int, to_account: int, amount: int
    ) -> dict[str, int]:
        """Move ``amount`` from one account to another; returns both new balances."""
        self._check_account(from_account)
        self._check_account(to_account)
        if from_account == to_account:
            raise RpcError("bad_request", "from_account and to_account must differ")
        if not _is_int(amount) or amount <= 0:
            raise RpcError("bad_request", "amount must be an integer > 0")
        sql = self.storage.db.conn
        debited = sql.execute(_DEBIT, (amount, from_account, amount)).fetchone()
        if debited is None:
            raise RpcError("bad_request", f"insufficient funds in account {from_account}")
        credited = sql.execute(_CREDIT, (amount, to_account)).fetchone()
        if credited is None:  # cannot happen while accounts are only created at start
            raise RpcError("bad_request", f"no account {to_account}")  # rolls the debit back
        return {"from": debited[0], "to": credited[0]}

    @rpc
    async def balance(self, conn: Connection | None, account: int) -> int:
        """The balance of ``account``."""
        self._check_account(account)
        row = self.storage.db.conn.execute(_BALANCE, (account,)).fetchone()
        if row is None:
            raise RpcError("bad_request", f"no account {account}")
        value: int = row[0]
        return value

    @rpc
    async def total(self, conn: Connection | None) -> int:
        """The sum of all balances."""
        row: Any = self.storage.db.conn.execute("SELECT sum(balance) FROM accounts").fetchone()
        return int(row[0] or 0)

    @rpc
    async def accounts(self, conn: Connection | None) -> int:
        """How many accounts the ledger holds."""
        return self._count

    def _check_account(self, account: object) -> None:
        if not isinstance(account, int) or isinstance(account, bool):
            raise RpcError("bad_request", f"no account {account!r}")
        if not 0 <= account < self._count:
            raise RpcError("bad_request", f"no account {account!r}")


app = App()
app.actor("ledger", Ledger)
