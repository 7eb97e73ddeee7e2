"""The app the chaos clients drive: append-only logs, so a history can be checked.

Every write names itself with an operation id chosen by the client (``op``), and the actor
appends that id to a log in its SQLite file: the log's order is the actor's order of
writes, a write's reply is its position in the log (1-based), and the final log says which
acknowledged writes survived. Every reply carries the serving process id (``pid``), so the
harness knows which node served it, and the turn's start and end (``turn``: unix times), so
the checker can tell whether the turn ran while another node held the actor's lease (G1).

- ``counter/<key>``: ``add(op, pause=0)`` -> ``{"n": position, "pid"}`` (``pause``: seconds the
  turn awaits before it writes, a slow turn that may outlive its lease); ``read()`` ->
  ``{"n": length}``.
- ``chat/<key>``: ``post(op, text)`` appends a message and broadcasts ``{"n", "op"}`` as the
  event ``message`` to the room's clients; ``read()`` as above.
- ``ledger/<key>``: ``ACCOUNTS`` accounts of ``BALANCE`` each; ``transfer(op, src, dst,
  amount)`` moves money when the source has enough (logged, ``{"n", "balances"}``) and
  answers ``{"refused": True, "balances"}`` otherwise (not logged); ``balances()``.
- every actor: ``dump()`` -> ``{"log": [...], "balances": {...} | None, "pid"}``, what the
  final convergence check compares.

The snapshot is the whole log (and the balances), so whatever the shared store holds is
exactly what a new owner restores. The log never deduplicates: an id twice in it means the
runtime ran one call twice, which the checker reports.
"""

from __future__ import annotations

import os
import time
from typing import Any

import trio

from roost import Actor, App, RpcError, rpc

ACCOUNTS = ("a", "b", "c", "d", "e")
BALANCE = 1000
TOTAL = BALANCE * len(ACCOUNTS)

_LOG = "CREATE TABLE IF NOT EXISTS log (pos INTEGER PRIMARY KEY, op TEXT NOT NULL)"
_ACCOUNTS = "CREATE TABLE IF NOT EXISTS accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL)"


class LogActor(Actor):
    """An actor whose state is an append-only log of operation ids."""

    sync_on_write = True

    def _tables(self) -> None:
        self.storage.db.execute(_LOG)

    async def on_start(self) -> None:
        self._tables()

    def _append(self, op: str) -> int:
        if not isinstance(op, str) or not op:
            raise RpcError("bad_request", "op must be a non-empty string")
        cursor = self.storage.db.execute("INSERT INTO log (op) VALUES (?)", [op])
        return int(cursor.lastrowid or 0)

    def _length(self) -> int:
        return int(self.storage.db.execute("SELECT count(*) FROM log").fetchone()[0])

    def _log(self) -> list[str]:
        return [row[0] for row in self.storage.db.execute("SELECT op FROM log ORDER BY pos")]

    def _balances(self) -> dict[str, int] | None:
        return None

    def _served(self, began: float) -> dict[str, Any]:
        """What every reply carries: the serving process and the turn's [start, end]."""
        return {"pid": os.getpid(), "turn": [began, time.time()]}

    @rpc
    async def read(self, conn: Any) -> dict[str, Any]:
        return {"n": self._length(), **self._served(time.time())}

    @rpc
    async def dump(self, conn: Any) -> dict[str, Any]:
        return {"log": self._log(), "balances": self._balances(), "pid": os.getpid()}

    def snapshot(self) -> dict[str, Any]:
        return {"log": self._log(), "balances": self._balances()}

    async def restore(self, snapshot: Any) -> None:
        self._tables()
        db = self.storage.db
        db.execute("DELETE FROM log")
        for pos, op in enumerate(snapshot["log"], start=1):
            db.execute("INSERT INTO log (pos, op) VALUES (?, ?)", [pos, op])


class Counter(LogActor):
    """A counter whose value is the length of its log."""

    @rpc
    async def add(self, conn: Any, op: str, pause: float = 0.0) -> dict[str, Any]:
        began = time.time()
        if pause > 0:
            await trio.sleep(min(pause, 10.0))
        return {"n": self._append(op), **self._served(began)}


class Chat(LogActor):
    """A chat room: each post is logged and broadcast to the room."""

    @rpc
    async def post(self, conn: Any, op: str, text: str) -> dict[str, Any]:
        began = time.time()
        n = self._append(op)
        self.emit("message", {"n": n, "op": op})
        return {"n": n, **self._served(began)}


class Ledger(LogActor):
    """Accounts whose balances only transfers change: their sum stays ``TOTAL``."""

    def _tables(self) -> None:
        super()._tables()
        db = self.storage.db
        db.execute(_ACCOUNTS)
        if db.execute("SELECT count(*) FROM accounts").fetchone()[0] == 0:
            for name in ACCOUNTS:
                db.execute("INSERT INTO accounts VALUES (?, ?)", [name, BALANCE])

    def _balances(self) -> dict[str, int]:
        rows = self.storage.db.execute("SELECT name, balance FROM accounts ORDER BY name")
        return {name: int(balance) for name, balance in rows}

    @rpc
    async def transfer(self, conn: Any, op: str, src: str, dst: str, amount: int) -> dict[str, Any]:
        began = time.time()
        balances = self._balances()
        if src not in balances or dst not in balances or src == dst or amount <= 0:
            raise RpcError("bad_request", "unknown or equal accounts, or a bad amount")
        if balances[src] < amount:
            return {"refused": True, "balances": balances, **self._served(began)}
        db = self.storage.db
        db.execute("UPDATE accounts SET balance = balance - ? WHERE name = ?", [amount, src])
        db.execute("UPDATE accounts SET balance = balance + ? WHERE name = ?", [amount, dst])
        return {"n": self._append(op), "balances": self._balances(), **self._served(began)}

    @rpc
    async def balances(self, conn: Any) -> dict[str, Any]:
        return {"n": self._length(), "balances": self._balances(), **self._served(time.time())}

    async def restore(self, snapshot: Any) -> None:
        await super().restore(snapshot)
        db = self.storage.db
        for name, balance in snapshot["balances"].items():
            db.execute("UPDATE accounts SET balance = ? WHERE name = ?", [balance, name])


app = App()
app.actor("counter", Counter)
app.actor("chat", Chat)
app.actor("ledger", Ledger)
