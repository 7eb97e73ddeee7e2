"""The app the fault tests serve: actors that write rows of a chosen size and say what they hold.

    POST /box/<key>/rpc/put   {"n": 7, "size": 65536}   -> {"value": 7} once row 7 committed
    POST /box/<key>/rpc/rows  {}                        -> {"value": [0, 1, ..., 7]}

An acknowledged ``put`` is a row in the actor's file (G4); the test checks the files against
the acknowledgements after the fault. ``remind`` sets an alarm for a wall-clock time; each
firing appends a row to ``fired``, which ``fired`` returns, so a test sees how many times and
at which wall time each alarm rang. ``on_stop`` and snapshots stay trivial: the sync is not
what these tests look at, except the one with PostgreSQL, which reads ``snapshot()``.
"""

from __future__ import annotations

import time
from typing import Any

from roost import Actor, App, Connection, rpc
from roost.actors import Alarm

_SCHEMA = "CREATE TABLE IF NOT EXISTS rows (n INTEGER PRIMARY KEY, blob BLOB NOT NULL)"
_FIRED = "CREATE TABLE IF NOT EXISTS fired (name TEXT NOT NULL, at REAL NOT NULL)"


class Box(Actor):
    """Rows of filler bytes, numbered by the client."""

    sync_on_write = True

    async def on_start(self) -> None:
        self.storage.db.execute(_SCHEMA)
        self.storage.db.execute(_FIRED)

    @rpc
    async def put(self, conn: Connection | None, n: int, size: int) -> int:
        """Store row ``n`` with ``size`` filler bytes; returns ``n`` once committed."""
        self.storage.db.execute("INSERT INTO rows (n, blob) VALUES (?, zeroblob(?))", [n, size])
        return n

    @rpc
    async def rows(self, conn: Connection | None) -> list[int]:
        """The numbers of the rows this actor holds, in order."""
        return [r[0] for r in self.storage.db.execute("SELECT n FROM rows ORDER BY n")]

    @rpc
    async def remind(self, conn: Connection | None, name: str, at: float) -> float:
        """Set the alarm ``name`` for unix time ``at``; returns the server's wall clock."""
        self.alarms.set(name, at=at)
        return time.time()

    @rpc
    async def now(self, conn: Connection | None) -> float:
        """The server's wall clock (a test waits until it sees a jump)."""
        return time.time()

    @rpc
    async def pending(self, conn: Connection | None) -> list[str]:
        """The names of the alarms set and not rung yet."""
        return [alarm.name for alarm in self.alarms.list()]

    @rpc
    async def fired(self, conn: Connection | None) -> list[list[Any]]:
        """Every alarm firing so far: ``[name, wall time it rang]``."""
        rows = self.storage.db.execute("SELECT name, at FROM fired ORDER BY rowid")
        return [[name, at] for name, at in rows]

    async def on_alarm(self, alarm: Alarm) -> None:
        self.storage.db.execute(
            "INSERT INTO fired (name, at) VALUES (?, ?)", [alarm.name, time.time()]
        )

    def snapshot(self) -> dict[str, Any]:
        return {"rows": [r[0] for r in self.storage.db.execute("SELECT n FROM rows ORDER BY n")]}


app = App()
app.actor("box", Box)
