"""A chat room per key, speaking a small JSON protocol in raw mode.

    ROOST_DEMO_AUTH=1 roost serve examples/chat.py
    ws://127.0.0.1:8787/chat/<room>?user=<name>

Who is chatting is decided by the app's ``authenticate`` hook, never by what a client claims
in a message or an rpc argument: the room takes the user name from ``conn.identity``.

- **Demo mode** (``ROOST_DEMO_AUTH=1``): ``?user=<name>`` is trusted as it is, so anyone can
  be anyone. It is for trying the example on your own machine, never for a server others
  can reach.
- **Otherwise** a client presents a token signed with the secret in ``ROOST_CHAT_SECRET``
  (:func:`make_token`), as ``Authorization: Bearer <token>`` (roost's Python client, Node),
  as ``?token=<token>`` (browsers cannot set WebSocket headers) or in a ``chat_token`` cookie.
  Without a secret every connection is refused with 401. A real app checks its identity
  provider's tokens (with an expiry) here instead.

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
the same calls work over HTTP: ``POST /chat/<room>/rpc/say`` with ``{"text": "..."}`` and the
same credentials (a JSON body: form posts are refused, so another site cannot post for you).

Messages live in the room actor's SQLite, so they survive restarts. Each room's summary is
synced to the shared store (``roost_actor_state``), so other services can ask, for example::

    select actor_key, state->>'message_count' from roost_actor_state where actor_type = 'chat'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from typing import Any

from roost import Actor, App, Connection, ConnectionRefused, HttpCaller, Request, RpcError, rpc

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
        user = _user_of(conn)
        if user is None:  # the room is served by an app without the hook below
            raise ConnectionRefused("unauthorized", status=401)
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
        user = _user_of(conn)
        assert user is not None  # on_connect refused connections without one
        self.post(user, data["text"])

    @rpc
    async def say(self, conn: Connection | HttpCaller | None, text: str) -> int:
        """Post ``text`` as the caller's user (from the authenticate hook); returns the id.

        The user is never an argument: over HTTP it would let anyone post as anyone.
        """
        problem = _check_text(text)
        if problem:
            raise RpcError("bad_request", problem)
        user = _user_of(conn)
        if user is None:  # another actor, or an app without the hook
            raise RpcError("bad_request", "say needs a caller with a chat identity")
        message_id: int = self.post(user, text)["id"]
        return message_id

    @rpc
    async def history(
        self, conn: Connection | HttpCaller | None, limit: int = HISTORY_LIMIT
    ) -> list[dict[str, Any]]:
        """The last ``limit`` messages (at most 50), oldest first."""
        if not isinstance(limit, int) or not 0 <= limit <= HISTORY_LIMIT:
            raise RpcError("bad_request", f"limit must be an integer from 0 to {HISTORY_LIMIT}")
        return self.recent(limit)

    @rpc
    async def who(self, conn: Connection | HttpCaller | None) -> list[str]:
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


async def authenticate(request: Request) -> dict[str, str] | None:
    """The chat's ``authenticate`` hook: ``{"user": name}``, or None (401).

    See the module's docstring for demo mode and tokens.

    Raises:
        ConnectionRefused: 400 for a missing or oversized ``?user=`` in demo mode
            (:func:`demo_authenticate`).
    """
    if os.environ.get("ROOST_DEMO_AUTH") == "1":
        return await demo_authenticate(request)
    secret = os.environ.get("ROOST_CHAT_SECRET", "")
    token = (
        request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        or request.query.get("token")
        or request.cookies.get("chat_token")
    )
    user = verify_token(token, secret) if secret and token else None
    return None if user is None else {"user": user}


async def demo_authenticate(request: Request) -> dict[str, str]:
    """Demo mode: ``?user=<name>`` is the identity, unchecked (anyone can be anyone).

    Raises:
        ConnectionRefused: 400 when ``?user=`` is missing or over MAX_USER characters.
    """
    user = request.query.get("user", "")
    if not 0 < len(user) <= MAX_USER:
        raise ConnectionRefused(f"?user=<name> of 1 to {MAX_USER} characters", status=400)
    return {"user": user}


def make_token(user: str, secret: str) -> str:
    """A token for ``user``: ``<user>.<HMAC-SHA256 of user, hex>`` (no expiry: a sketch)."""
    return f"{user}.{_signature(user, secret)}"


def verify_token(token: str, secret: str) -> str | None:
    """The user a token made by :func:`make_token` names, or None if it is not genuine."""
    user, _, signature = token.rpartition(".")
    if not 0 < len(user) <= MAX_USER:
        return None
    genuine = hmac.compare_digest(signature.encode(), _signature(user, secret).encode())
    return user if genuine else None


def _signature(user: str, secret: str) -> str:
    return hmac.new(secret.encode(), user.encode(), hashlib.sha256).hexdigest()


def _user_of(conn: Connection | HttpCaller | None) -> str | None:
    """The user name the authenticate hook gave the caller, or None."""
    identity = conn.identity if conn is not None else None
    return identity.get("user") if isinstance(identity, dict) else None


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
app.authenticate(authenticate)
