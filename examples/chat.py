"""A chat room per key, speaking a small JSON protocol in raw mode.

    roost serve examples/chat.py
    ws://127.0.0.1:8787/chat/<room>?user=<name>

The protocol is fixed because outside clients are written against it:

- on connect the server sends ``{"type": "history", "messages": [...]}``: up to the last 50
  messages, oldest first;
- a client sends ``{"type": "say", "text": "..."}`` (at most 4000 characters);
- every member, the sender included, receives
  ``{"type": "message", "id": <int>, "user": "...", "text": "...", "ts": <unix ms>}``, where
  ids strictly increase within a room;
- malformed JSON, an unknown type or an oversized text get
  ``{"type": "error", "error": "<reason>"}`` and the connection stays open;
- who is online comes from roost's built-in presence: right after the history a member gets
  ``{"type": "presence_state", "presences": {"<name>": {"metas": [...]}}}``, and then
  ``{"type": "presence_diff", "joins": {...}, "leaves": {...}}`` as members come and go
  (clients that do not show presence ignore these types).

Clients of roost's envelope protocol (``roost.v1.json`` / ``roost.v1.cbor``, for example
roost's Python and JavaScript clients) call ``say(text)`` (returns the message id),
``history(limit)`` and ``who()``, and receive each new message as an event ``message``;
the same calls work over HTTP: ``POST /chat/<room>/rpc/say`` with ``{"text": "..."}``.

Messages live in the room actor's SQLite, so they survive restarts. Each room's summary is
synced to the shared store (``roost_actor_state``), so other services can ask, for example::

    select actor_key, state->>'message_count' from roost_actor_state where actor_type = 'chat'
"""

from __future__ import annotations

import json
import time
from typing import Any

from roost import Actor, App, Connection, ConnectionRefused, Request, RpcError, rpc

HISTORY_LIMIT = 50
MAX_TEXT = 4000
MAX_USER = 64


class ChatRoom(Actor):
    """One room: its members' connections and its messages."""

    sync_on_write = True  # every stored message makes the room's summary due for a sync

    async def on_start(self) -> None:
        # AUTOINCREMENT: ids never go back, even if old messages are deleted one day.
        self.storage.db.execute(
            "CREATE TABLE IF NOT EXISTS messages ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL,"
            " text TEXT NOT NULL, ts INTEGER NOT NULL)"
        )

    async def on_connect(self, conn: Connection, request: Request) -> None:
        user = request.query.get("user", "")
        if not 0 < len(user) <= MAX_USER:
            raise ConnectionRefused(f"?user=<name> of 1 to {MAX_USER} characters", status=400)
        conn.state = {"user": user}
        self.presence.track(conn, user, {"name": user})
        if conn.subprotocol is None:  # raw clients get the protocol's opening frames
            conn.send(_dumps({"type": "history", "messages": self.recent(HISTORY_LIMIT)}))
            self.presence.send_state(conn)

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if isinstance(message, bytes):
            return conn.send(_error("expected a JSON text frame"))
        try:
            data = json.loads(message)
        except ValueError:
            return conn.send(_error("malformed JSON"))
        if not isinstance(data, dict) or data.get("type") != "say":
            return conn.send(_error("unknown message type"))
        problem = _check_text(data.get("text"))
        if problem:
            return conn.send(_error(problem))
        self.post(conn.state["user"], data["text"])

    @rpc
    async def say(self, conn: Connection | None, text: str, user: str | None = None) -> int:
        """Post ``text``; returns the message id. Over HTTP or from an actor, give ``user``."""
        problem = _check_text(text)
        if problem:
            raise RpcError("bad_request", problem)
        name = conn.state["user"] if conn is not None else user
        if not isinstance(name, str) or not 0 < len(name) <= MAX_USER:
            raise RpcError("bad_request", f"user must be 1 to {MAX_USER} characters")
        message_id: int = self.post(name, text)["id"]
        return message_id

    @rpc
    async def history(
        self, conn: Connection | None, limit: int = HISTORY_LIMIT
    ) -> list[dict[str, Any]]:
        """The last ``limit`` messages (at most 50), oldest first."""
        if not isinstance(limit, int) or not 0 <= limit <= HISTORY_LIMIT:
            raise RpcError("bad_request", f"limit must be an integer from 0 to {HISTORY_LIMIT}")
        return self.recent(limit)

    @rpc
    async def who(self, conn: Connection | None) -> list[str]:
        """Who is online, sorted."""
        return sorted(self.presence.state())

    def post(self, user: str, text: str) -> dict[str, Any]:
        """Store a message and send it to every member; returns it."""
        ts = int(time.time() * 1000)
        cursor = self.storage.db.execute(
            "INSERT INTO messages (user, text, ts) VALUES (?, ?, ?)", [user, text, ts]
        )
        message = {"type": "message", "id": cursor.lastrowid, "user": user, "text": text, "ts": ts}
        self.broadcast(_dumps(message))  # raw clients
        self.emit("message", message)  # envelope clients
        return message

    def snapshot(self) -> dict[str, Any]:
        """The room's summary in the shared store."""
        count = self.storage.db.execute("SELECT count(*) FROM messages").fetchone()[0]
        last = self.recent(1)
        return {
            "room": self.key,
            "message_count": count,
            "last_message": last[0] if last else None,
            "online": sorted(self.presence.state()),
        }

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` messages, oldest first."""
        rows = self.storage.db.execute(
            "SELECT id, user, text, ts FROM messages ORDER BY id DESC LIMIT ?", [limit]
        ).fetchall()
        return [
            {"type": "message", "id": i, "user": u, "text": t, "ts": ts}
            for i, u, t, ts in reversed(rows)
        ]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _check_text(text: object) -> str | None:
    """Why ``text`` cannot be posted, or None."""
    if not isinstance(text, str) or not text:
        return "text must be a non-empty string"
    if len(text) > MAX_TEXT:
        return f"text longer than {MAX_TEXT} characters"
    return None


def _error(reason: str) -> str:
    return _dumps({"type": "error", "error": reason})


app = App()
app.actor("chat", ChatRoom)
