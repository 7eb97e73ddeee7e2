"""Bench app for hibernation: one actor per key, each holding one idle WebSocket.

    roost serve bench/apps/hold.py --idle-timeout 2
    ws://HOST:PORT/hold/<key>
    GET /ctl/main/trim    collect garbage and hand free heap memory back to the OS

Like a typical room, on_start loads a small state from storage (creating the file the first
time) and on_connect counts the visitor; after ``--idle-timeout`` seconds without a turn the
actor hibernates, its instance and SQLite handle leave memory and the socket stays open.

``trim`` lets the harness tell memory that live objects hold from memory the allocator
keeps after a peak (freed instances and SQLite handles): it runs ``gc.collect()`` and
glibc's ``malloc_trim(0)`` in the server process. It is an actor of its own type, so it
never counts among the ``hold`` actors (it does count in the node's gauges).
"""

import ctypes
import ctypes.util
import gc

from roost import Actor, App, Connection, Request, Response


class Holder(Actor):
    """An actor with one connection and a little state."""

    async def on_start(self) -> None:
        self.visits: int = self.storage.kv.get("visits", 0)

    async def on_connect(self, conn: Connection, request: Request) -> None:
        self.visits += 1
        self.storage.kv.put("visits", self.visits)


class Control(Actor):
    """``GET /ctl/main/trim``: {"collected": objects, "trimmed": whether memory was released}."""

    async def on_request(self, request: Request) -> Response:
        if request.rest != "/trim":
            return Response.text("unknown\n", status=404)
        collected = gc.collect()
        return Response.json({"collected": collected, "trimmed": _malloc_trim()})


def _malloc_trim() -> bool:
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None)  # glibc only
    return bool(trim(0)) if trim is not None else False


app = App()
app.actor("hold", Holder)
app.actor("ctl", Control)
