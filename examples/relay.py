"""Raw broadcast: every frame a member sends goes, unchanged, to every other member.

    roost serve examples/relay.py
    ws://127.0.0.1:8787/relay/<room>

It is the workload of the broadcast benchmarks (bench/), so it is deliberately nothing more.
"""

from roost import Actor, App, Connection


class Relay(Actor):
    """A room that repeats each text or binary frame to everyone but its sender."""

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        self.broadcast(message, exclude=(conn,))


app = App()
app.actor("relay", Relay)
