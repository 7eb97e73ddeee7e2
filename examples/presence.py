"""Who is looking at a document: presence channels in raw mode, JSON text frames.

    roost serve examples/presence.py
    ws://127.0.0.1:8787/presence/<doc>?user=<id>
    (build it with roost.client.actor_url(base, "presence", doc, params={"user": id}), or
    actorUrl in JS: both percent-encode the document's name and the query)

The protocol, fixed because editor clients are written against it:

- the first frame is ``{"type": "presence_state", "presences": {"<user>": {"metas": [...]}}}``;
- a client sends ``{"type": "track", "meta": {...}}`` (cursor, name, colour, ...) to appear or
  to change its meta, and ``{"type": "heartbeat"}`` to stay;
- everyone else receives ``{"type": "presence_diff", "joins": {...}, "leaves": {...}}``;
- closing, or sending no heartbeat for ``ttl`` seconds (``ROOST_PRESENCE_TTL``, default 30),
  produces a leave;
- bad input gets ``{"type": "error", "error": "<reason>"}`` and the connection stays open.

Envelope clients (subprotocol ``roost.v1.cbor`` or ``roost.v1.json``, e.g. ``roost.client`` or
the JS client) get the same state and diffs as events named ``presence_state`` and
``presence_diff`` whose data is the message above without its ``type``; they call the rpc
methods ``track(meta)`` and ``heartbeat()`` instead of sending frames.

Several connections of one user (two tabs) give that user several metas. Who is present is
synced to the shared store as ``{"doc": ..., "users": [...]}``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from roost import Actor, App, Connection, ConnectionRefused, Request, RpcError, rpc
from roost.actors import PresenceLimitError

MAX_USER = 64


class PresenceDoc(Actor):
    """One document's presence channel."""

    presence_ttl = float(os.environ.get("ROOST_PRESENCE_TTL", "30"))

    @rpc
    async def who(self, conn: Connection | None) -> list[str]:
        """Who is present, sorted (over the envelope protocol or HTTP)."""
        return sorted(self.presence.state())

    @rpc
    async def track(self, conn: Connection | None, meta: dict[str, Any]) -> None:
        """Appear with ``meta``, or change it (envelope clients; raw ones send a frame)."""
        if not isinstance(conn, Connection):  # HTTP (an HttpCaller) or another actor
            raise RpcError("bad_request", "track needs a WebSocket connection")
        if not isinstance(meta, dict):
            raise RpcError("bad_request", "meta must be an object")
        try:
            self.presence.track(conn, conn.state["user"], meta)
        except (PresenceLimitError, TypeError, ValueError) as exc:
            raise RpcError("bad_request", str(exc)) from None

    @rpc
    async def heartbeat(self, conn: Connection | None) -> None:
        """Stay present for another ``presence_ttl`` seconds."""
        if isinstance(conn, Connection):
            self.presence.heartbeat(conn)

    def snapshot(self) -> dict[str, object]:
        return {"doc": self.key, "users": sorted(self.presence.state())}

    async def on_connect(self, conn: Connection, request: Request) -> None:
        user = request.query.get("user", "")
        if not 0 < len(user) <= MAX_USER:
            raise ConnectionRefused(f"?user=<id> of 1 to {MAX_USER} characters", status=400)
        conn.state = {"user": user}
        self.presence.send_state(conn)

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        try:
            data = json.loads(message)
        except ValueError:
            return conn.send(_error("malformed JSON"))
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "heartbeat":
            self.presence.heartbeat(conn)
        elif kind == "track":
            meta = data.get("meta", {})
            if not isinstance(meta, dict):
                return conn.send(_error("meta must be an object"))
            try:
                self.presence.track(conn, conn.state["user"], meta)
            except (PresenceLimitError, TypeError, ValueError) as exc:
                conn.send(_error(str(exc)))
        else:
            conn.send(_error("unknown message type"))


def _error(reason: str) -> str:
    return json.dumps({"type": "error", "error": reason})


app = App()
app.actor("presence", PresenceDoc)
