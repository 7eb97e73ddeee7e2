"""Bench app for alarm lateness: many actors, each with several pending alarms.

    roost serve bench/apps/alarms.py --idle-timeout 5
    GET /ctl/main/prepare  from now on, GET /alarm/<key> only creates the actor's file
    GET /ctl/main/plan?start=<unix s>&span=<s>&per_actor=<n>   fix the firing window
    GET /alarm/<key>      the actor sets ``per_actor`` alarms, each due at a time drawn
                          uniformly from [start, start + span] (seeded by key and alarm)
    GET /ctl/main/count   {"fired": n} so far
    GET /ctl/main/report  lateness percentiles of every alarm fired so far, and when the
                          last one fired (unix s)

Lateness is measured by the actor itself when ``on_alarm`` runs: ``self.now()`` (the node's
clock, the one alarms use) minus ``alarm.scheduled_at``. The figures collect in this module's
memory (one float per alarm), so reading them costs one turn of the control actor.
"""

import random
from array import array

from roost import Actor, App, Request, Response
from roost.actors import Alarm

PLAN: dict[str, float] = {}
LATENESS = array("d")
FIRED: set[str] = set()  # "<key>/<alarm>", to count duplicate firings (at least once)
LAST = array("d", [0.0])  # when the latest alarm fired (the node's unix time)


class Control(Actor):
    """Sets the plan and reports what fired; lives in the same process as the alarms."""

    async def on_request(self, request: Request) -> Response:
        if request.rest == "/prepare":
            PLAN.clear()
            PLAN["prepare"] = 1.0
            return Response.json(PLAN)
        if request.rest == "/plan":
            PLAN.clear()
            PLAN.update({k: float(request.query[k]) for k in ("start", "span", "per_actor")})
            LATENESS[:] = array("d")
            FIRED.clear()
            LAST[0] = 0.0
            return Response.json(PLAN)
        if request.rest == "/count":
            return Response.json({"fired": len(LATENESS)})
        if request.rest == "/report":
            return Response.json(_summary())
        return Response.text("unknown\n", status=404)


class Sleeper(Actor):
    """Sets its alarms on its first request; records how late each one fires."""

    async def on_request(self, request: Request) -> Response:
        if not PLAN:
            return Response.text("no plan: GET /ctl/main/plan first\n", status=409)
        if "prepare" in PLAN:  # create the file (a warm-up that is not measured)
            self.storage.kv.put("ready", True)
            return Response.text(self.key)
        rng = random.Random(f"{self.key}/{PLAN['start']}")
        start, span = PLAN["start"], PLAN["span"]
        for n in range(int(PLAN["per_actor"])):
            self.alarms.set(f"a{n}", at=start + span * rng.random())
        return Response.text(self.key)

    async def on_alarm(self, alarm: Alarm) -> None:
        now = self.now()
        LATENESS.append(now - alarm.scheduled_at)
        LAST[0] = max(LAST[0], now)
        FIRED.add(f"{self.key}/{alarm.name}")


def _summary() -> dict[str, float]:
    values = sorted(LATENESS)
    if not values:
        return {"fired": 0, "distinct": 0}

    def pct(p: float) -> float:
        return values[min(len(values) - 1, int(p / 100 * len(values)))]

    return {
        "fired": len(values),
        "distinct": len(FIRED),
        "min": values[0],
        "p50": pct(50),
        "p99": pct(99),
        "p999": pct(99.9),
        "max": values[-1],
        "last": LAST[0],
    }


app = App()
app.actor("ctl", Control)
app.actor("alarm", Sleeper)
