"""A test app for the clients' credential tests (Python and JS): an authenticate hook that
accepts a bearer header or a query token, and an actor that reports the identity it got.

``roost serve tests/client/auth_app.py`` serves ``/me/<key>``; ``Bearer good`` or
``?token=good`` gets in, anything else is refused with 401 before any actor activates.
"""

from __future__ import annotations

from typing import Any

from roost import Actor, App, Connection, Request, rpc

TOKEN = "good"


class Me(Actor):
    """Tells each client who the authenticate hook said it is."""

    @rpc
    async def me(self, conn: Connection | None) -> Any:
        return conn.identity if conn is not None else None


app = App()
app.actor("me", Me)


@app.authenticate
async def authenticate(request: Request) -> dict[str, str] | None:
    if request.headers.get("authorization") == f"Bearer {TOKEN}":
        return {"user": "ann", "via": "header"}
    if request.query.get("token") == TOKEN:
        return {"user": "ann", "via": "query"}
    if request.cookies.get("session") == TOKEN:
        return {"user": "ann", "via": "cookie"}
    return None
