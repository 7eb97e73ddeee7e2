"""A test app for the clients' tests (Python and JS): an actor that reports what reached it.

``roost serve tests/client/whoami_app.py`` serves ``/whoami/<key>``; its rpc ``whoami`` and
its HTTP answer give back the key, the query and the credential headers of the request.
"""

from __future__ import annotations

from typing import Any

from roost import Actor, App, Connection, Request, Response, rpc

#: The headers whoami reports (the others differ between clients and are of no interest).
SHOWN_HEADERS = ("authorization", "x-token", "x-trace")


def _seen(request: Request) -> dict[str, Any]:
    headers = {name: request.headers[name] for name in SHOWN_HEADERS if name in request.headers}
    return {"query": dict(request.query), "headers": headers}


class WhoAmI(Actor):
    """Tells each client what it sent: the key it reached, its query and its headers."""

    async def on_connect(self, conn: Connection, request: Request) -> None:
        conn.state = _seen(request)

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send(self.key)  # raw mode: the key as the actor sees it

    async def on_request(self, request: Request) -> Response:
        return Response.json({"key": self.key, **_seen(request)})

    @rpc
    async def whoami(self, conn: Connection | None) -> dict[str, Any]:
        seen = conn.state if isinstance(conn, Connection) else {}
        return {"type": self.type, "key": self.key, **seen}


app = App()
app.actor("whoami", WhoAmI)
