"""The Autobahn TestSuite's test server: every text or binary message comes back to its sender.

ROOST_PORT=9001 roost serve scripts/autobahn/echo.py
ws://127.0.0.1:9001/echo/autobahn
"""

from roost import Actor, App, Connection


class Echo(Actor):
    """Sends each message back, unchanged, to the connection it came from."""

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send(message)


app = App()
app.actor("echo", Echo)
