"""A test app for the clients' resume tests: an actor that emits what it is told, and closes
the caller's connection before emitting what only a resumed connection can get.

``roost serve clients/js/test/resume_app.py`` serves ``/feed/<key>``.
"""

from __future__ import annotations

from roost import Actor, App, Connection, rpc


class Feed(Actor):
    """``say`` emits to everyone; ``kick_then_say`` closes the caller, then emits."""

    @rpc
    async def say(self, conn: Connection | None, text: str) -> None:
        self.emit("said", text)

    @rpc
    async def kick_then_say(self, conn: Connection | None, code: int, text: str) -> None:
        assert conn is not None
        conn.close(code, "kicked")
        self.emit("said", text)


app = App()
app.actor("feed", Feed)
