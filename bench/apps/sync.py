"""Bench app for the sync worker: many dirty actors, each with a ~200-byte snapshot.

    roost serve bench/apps/sync.py --store URL --max-active-actors 1000000 --idle-timeout 600
    GET /item/<key>           the actor counts the request and marks itself dirty
    GET /gate/g/touch         activate the gate actor
    GET /ctl/main/mark        mark the (idle) gate dirty
    GET /ctl/closer/close     mark the gate dirty and hold its lock until /ctl/main/release
    GET /ctl/main/holding     {"holding": true} while the gate's lock is held
    GET /ctl/main/release     let the gate go
    GET /ctl/main/reset       forget the snapshot figures
    GET /ctl/main/report      {"snapshots", "first", "last", "gate_at"} (time.monotonic())

The gate lets the harness choose when a sync round starts. The worker snapshots dirty actors
in the order they became dirty, each in a turn of its own, so it waits for each actor's lock;
once the gate is dirty and its lock held, the next round stops at the gate, and every actor
dirtied meanwhile waits for the round after it. The harness dirties its actors, releases the
gate, and times the round that follows from its first snapshot (``time.monotonic()`` is the
machine's clock, the same in the harness) to ``roost_sync_pending`` reaching 0.

``close`` marks the idle gate from outside its turns (the mark takes effect at once), then
takes the gate's lock with a call, a few microseconds later; should a sync round slip in
between and sync the gate, the harness sees ``roost_sync_pending`` at 0 and closes again.
"""

import time

import trio

from roost import Actor, App, Connection, Request, Response, rpc

#: Snapshot figures of the item actors, reset by the harness before each round.
SNAPSHOTS = {"snapshots": 0, "first": 0.0, "last": 0.0, "gate_at": 0.0}

_TEXT = "see you all at the retro tomorrow, and bring the numbers from last week's run, please"


class Item(Actor):
    """A chat-room-like actor whose snapshot is about 200 bytes of JSON."""

    async def on_start(self) -> None:
        self.count = 0

    async def on_request(self, request: Request) -> Response:
        self.count += 1
        self.mark_dirty()
        return Response.text(self.key)

    def snapshot(self) -> dict[str, object]:
        now = time.monotonic()
        if not SNAPSHOTS["snapshots"]:
            SNAPSHOTS["first"] = now
        SNAPSHOTS["snapshots"] += 1
        SNAPSHOTS["last"] = now
        return {
            "room": self.key,
            "message_count": self.count,
            "last_message": {"from": "user-17", "text": _TEXT, "at": 1718000000.25},
            "online": ["alice", "bob", "carol"],
        }


class _GateState:
    """The gate actor's instance and the event its held call waits for."""

    actor: "Gate | None" = None
    release: trio.Event | None = None


GATE = _GateState()


class Gate(Actor):
    """Dirty and locked on demand, so the sync round after the harness's release is known."""

    async def on_start(self) -> None:
        GATE.actor = self

    async def on_request(self, request: Request) -> Response:
        return Response.text(self.key)

    @rpc
    async def hold(self, conn: Connection | None) -> bool:
        release = GATE.release = trio.Event()
        await release.wait()
        return True

    def snapshot(self) -> dict[str, object]:
        SNAPSHOTS["gate_at"] = time.monotonic()
        return {"gate": self.key}


class Control(Actor):
    """Closes and releases the gate and reports the snapshot figures."""

    async def on_request(self, request: Request) -> Response:
        gate, release = GATE.actor, GATE.release
        if request.rest in ("/mark", "/close"):
            if gate is None:
                return Response.text("GET /gate/g/touch first\n", status=409)
            gate.mark_dirty()  # outside the gate's turns: dirty at once
            if request.rest == "/close":
                await self.call("gate", gate.key).hold()
            return Response.json({"marked": gate.key})
        if request.rest == "/holding":
            return Response.json({"holding": release is not None and not release.is_set()})
        if request.rest == "/release":
            if release is None or release.is_set():
                return Response.text("the gate is not held\n", status=409)
            release.set()
            return Response.json({"released": True})
        if request.rest == "/reset":
            SNAPSHOTS.update(snapshots=0, first=0.0, last=0.0, gate_at=0.0)
            return Response.json(SNAPSHOTS)
        if request.rest == "/report":
            return Response.json(SNAPSHOTS)
        return Response.text("unknown\n", status=404)


app = App()
app.actor("item", Item)
app.actor("gate", Gate)
app.actor("ctl", Control)
