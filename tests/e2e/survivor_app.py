"""The app tests/e2e/test_server_survives.py serves with ``roost serve``: a bit of everything.

rpc over envelopes and HTTP, raw messages, plain HTTP: every way input reaches an actor.
"""

from __future__ import annotations

from typing import Any

from roost import Actor, App, Connection, Request, Response, rpc


class Echo(Actor):
    """Echoes rpc arguments, raw messages and HTTP requests; counts what it saw."""

    @rpc
    async def echo(self, conn: Connection | None, value: Any = None) -> Any:
        self.storage.kv.put("calls", self.storage.kv.get("calls", 0) + 1)
        return value

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send(message)

    async def on_request(self, request: Request) -> Response:
        return Response.json({"rest": request.rest, "size": len(request.body)})


app = App()
app.actor("echo", Echo)
