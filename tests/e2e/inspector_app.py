"""The app the inspector's tests serve: boards that keep notes, an alarm, and a synced state.

A WebSocket client (raw mode) sends a note as a text message: the board stores it in its
own table ``notes``, sets the alarm ``reminder`` an hour out, marks itself dirty (its snapshot
is the list of notes) and answers ``ok <count>``. The authenticate hook makes the ``user``
query parameter the connection's identity.
"""

from __future__ import annotations

from typing import Any

from roost import Actor, App, Connection, Request


class Board(Actor):
    """Notes in SQLite, one alarm, and a snapshot for the shared store."""

    async def on_start(self) -> None:
        self.storage.db.execute(
            "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT)"
        )
        self.notes = [
            row[0] for row in self.storage.db.execute("SELECT text FROM notes ORDER BY id")
        ]

    async def on_connect(self, conn: Connection, request: Request) -> None:
        conn.tags = {"viewer"}

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        self.storage.db.execute("INSERT INTO notes (text) VALUES (?)", [text])
        self.notes.append(text)
        self.alarms.set("reminder", after=3600, payload={"note": text})
        self.mark_dirty()
        conn.send(f"ok {len(self.notes)}")

    def snapshot(self) -> Any:
        return {"notes": self.notes}


app = App()
app.actor("board", Board)


@app.authenticate
async def who(request: Request) -> dict[str, str]:
    return {"user": request.query.get("user", "anonymous")}
