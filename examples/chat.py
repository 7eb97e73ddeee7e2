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

Messages live in the room actor's SQLite, so they survive restarts. Each room's summary is
synced to the shared store (``roost_actor_state``), so other services can ask, for example::

    select actor_key, state->>'message_count' from roost_actor_state where actor_type = 'chat'
"""

from __future__ import annotations

import json
import time
from typing import Any

from roost import Actor, App, Connection, ConnectionRefused, Request

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
        conn.send(_dumps({"type": "history", "messages": self.history(HISTORY_LIMIT)}))
        self.presence.track(conn, user, {"name": user})
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
        text = data.get("text")
        if not isinstance(text, str) or not text:
            return conn.send(_error("text must be a non-empty string"))
        if len(text) > MAX_TEXT:
            return conn.send(_error(f"text longer than {MAX_TEXT} characters"))
        self.post(conn.state["user"], text)

    def post(self, user: str, text: str) -> dict[str, Any]:
        """Store a message and send it to every member; returns it."""
        ts = int(time.time() * 1000)
        cursor = self.storage.db.execute(
            "INSERT INTO messages (user, text, ts) VALUES (?, ?, ?)", [user, text, ts]
        )
        message = {"type": "message", "id": cursor.lastrowid, "user": user, "text": text, "ts": ts}
        self.broadcast(_dumps(message))
        return message

    def snapshot(self) -> dict[str, Any]:
        """The room's summary in the shared store."""
        count = self.storage.db.execute("SELECT count(*) FROM messages").fetchone()[0]
        last = self.history(1)
        return {
            "room": self.key,
            "message_count": count,
            "last_message": last[0] if last else None,
            "online": sorted(self.presence.state()),
        }

    def history(self, limit: int) -> list[dict[str, Any]]:
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


def _error(reason: str) -> str:
    return _dumps({"type": "error", "error": reason})


app = App()
app.actor("chat", ChatRoom)
