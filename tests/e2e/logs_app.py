"""The app tests/e2e/test_logs.py serves: an authenticate hook that reads a bearer header or
a ``?token=`` (both must stay out of the logs), an echo over WebSockets and HTTP, and an actor
whose ``on_request`` raises for the key ``boom``."""

from __future__ import annotations

from typing import Any

from roost import Actor, App, Connection, Request, Response, rpc

#: The secret the clients send; the test checks it never reaches stderr.
TOKEN = "s3cret-tok3n-4a7f"
#: The identity of a bearer; a query token's is longer than the access log keeps.
BEARER_IDENTITY = "ann"
QUERY_IDENTITY = "q-" + "x" * 300


class Echo(Actor):
    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send(message)

    async def on_request(self, request: Request) -> Response:
        if self.key == "boom":
            raise RuntimeError("kaboom in on_request")
        return Response.text(f"echo {request.body.decode()}")

    @rpc
    async def ping(self, conn: Any) -> str:
        return "pong"


async def authenticate(request: Request) -> Any:
    if request.headers.get("authorization") == f"Bearer {TOKEN}":
        return BEARER_IDENTITY
    if request.query.get("token") == TOKEN:
        return QUERY_IDENTITY
    return None


app = App()
app.actor("echo", Echo)
app.authenticate(authenticate)
