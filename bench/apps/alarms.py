"""Bench app for alarm lateness: many actors, each with several pending alarms.

    roost serve bench/apps/alarms.py --idle-timeout 5
    GET /ctl/main/plan?start=<unix s>&span=<s>&per_actor=<n>   fix the firing window
    GET /alarm/<key>      the actor sets ``per_actor`` alarms, each due at a time drawn
                          uniformly from [start, start + span] (seeded by key and alarm)
    GET /ctl/main/count   {"fired": n} so far
    GET /ctl/main/report  lateness percentiles of every alarm fired so far

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


class Control(Actor):
    """Sets the plan and reports what fired; lives in the same process as the alarms."""

    async def on_request(self, request: Request) -> Response:
        if request.rest == "/plan":
            PLAN.update({k: float(request.query[k]) for k in ("start", "span", "per_actor")})
            LATENESS[:] = array("d")
            FIRED.clear()
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
        rng = random.Random(self.key)
        start, span = PLAN["start"], PLAN["span"]
        for n in range(int(PLAN["per_actor"])):
            self.alarms.set(f"a{n}", at=start + span * rng.random())
        return Response.text(self.key)

    async def on_alarm(self, alarm: Alarm) -> None:
        LATENESS.append(self.now() - alarm.scheduled_at)
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
    }


app = App()
app.actor("ctl", Control)
app.actor("alarm", Sleeper)
