"""A test app for the clients' failover tests: an actor that says which server answered and
closes a connection with a given code on request.

``roost serve clients/js/test/failover_app.py`` serves ``/where/<key>``.
"""

from __future__ import annotations

import os

from roost import Actor, App, Connection, rpc


class Where(Actor):
    """Answers with the serving process's id; ``kick`` closes the caller's connection."""

    @rpc
    async def pid(self, conn: Connection | None) -> int:
        return os.getpid()

    @rpc
    async def kick(self, conn: Connection | None, code: int) -> None:
        assert conn is not None
        conn.close(code, "kicked")


app = App()
app.actor("where", Where)
