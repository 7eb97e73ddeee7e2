"""Raw broadcast: every frame a member sends goes, unchanged, to every other member.

    roost serve examples/relay.py
    ws://127.0.0.1:8787/relay/<room>      (<room> percent-encoded: actor_url / actorUrl)

    url = roost.client.actor_url("ws://127.0.0.1:8787", "relay", "room/1")  # .../relay/room%2F1
    async with roost.client.connect(url, encoding="raw") as relay: ...

It is the workload of the broadcast benchmarks (bench/), so it is deliberately nothing more.
"""

from roost import Actor, App, Connection


class Relay(Actor):
    """A room that repeats each text or binary frame to everyone but its sender."""

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        self.broadcast(message, exclude=(conn,))


app = App()
app.actor("relay", Relay)
