"""The app the cluster tests serve from real ``roost serve`` processes.

Each actor can say which process serves it (``whoami``), so a test sees the single instance
(G1) from every node; ``Timer`` rings alarms and remembers which process rang them.
"""

from __future__ import annotations

import os
import time
from typing import Any

from roost import Actor, App, Connection, Request, Response, rpc


class Counter(Actor):
    """Counts in its KV; every reply says the count; its snapshot is the count."""

    sync_on_write = True

    def _n(self) -> int:
        return int(self.storage.kv.get("n", 0))

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if message == "pid":
            conn.send(str(os.getpid()))
            return
        self.storage.kv.put("n", self._n() + 1)
        self.broadcast(str(self._n()))

    async def on_request(self, request: Request) -> Response:
        return Response.json({"pid": os.getpid(), "n": self._n()})

    @rpc
    async def whoami(self, conn: Any) -> dict[str, int]:
        return {"pid": os.getpid(), "n": self._n()}

    @rpc
    async def add(self, conn: Any, by: int) -> int:
        self.storage.kv.put("n", self._n() + by)
        return self._n()

    @rpc
    async def add_via(self, conn: Any, other: str, by: int) -> int:
        """Ask another counter (perhaps on another node) to add: actor-to-actor over links."""
        result: int = await self.call("counter", other).add(by=by)
        return result

    def snapshot(self) -> dict[str, Any]:
        return {"n": self._n()}

    async def restore(self, snapshot: Any) -> None:
        self.storage.kv.put("n", snapshot["n"])


class Timer(Actor):
    """Rings an alarm; remembers (process, unix time) of every ring."""

    async def on_alarm(self, alarm: Any) -> None:
        rings = list(self.storage.kv.get("rings", []))
        rings.append([os.getpid(), time.time()])
        self.storage.kv.put("rings", rings)
        self.mark_dirty()

    @rpc
    async def arm(self, conn: Any, after: float) -> float:
        alarm = self.alarms.set("ring", after=after)
        self.mark_dirty()
        return alarm.due_at

    @rpc
    async def pid(self, conn: Any) -> int:
        return os.getpid()

    @rpc
    async def rings(self, conn: Any) -> list[Any]:
        return list(self.storage.kv.get("rings", []))

    def snapshot(self) -> dict[str, Any]:
        return {"rings": self.storage.kv.get("rings", [])}

    async def restore(self, snapshot: Any) -> None:
        self.storage.kv.put("rings", snapshot["rings"])


app = App()
app.actor("counter", Counter)
app.actor("timer", Timer)
