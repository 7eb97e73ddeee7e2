"""Bench app for cold activations: every request to a new key activates a new actor.

    roost serve bench/apps/cold.py
    GET /bare/<key>   an actor that never touches storage (no file is created)
    GET /kv/<key>     an actor whose on_start writes one KV value (creates its SQLite file)

Both answer with their own key, which the load generator checks.
"""

from roost import Actor, App, Request, Response


class Bare(Actor):
    """Activation without storage: the runtime's own cost of a new actor."""

    async def on_request(self, request: Request) -> Response:
        return Response.text(self.key)


class Stored(Actor):
    """Activation that creates the actor's SQLite file by writing one value in on_start."""

    async def on_start(self) -> None:
        self.storage.kv.put("created", self.now())

    async def on_request(self, request: Request) -> Response:
        return Response.text(self.key)


app = App()
app.actor("bare", Bare)
app.actor("kv", Stored)
