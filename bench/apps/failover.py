"""Bench app of the failover benchmark (bench/cluster_failover.py): which process answers.

    roost serve bench/apps/failover.py --store postgresql://... --cluster-secret S
    rpc where() on /probe/<key>   the serving process id, so a client sees the move

The actor counts its calls in memory only: the benchmark times how long an actor is out of
reach when its node dies, not what it keeps.
"""

import os
from typing import Any

from roost import Actor, App, rpc


class Probe(Actor):
    """Answers with the id of the process that serves it."""

    @rpc
    async def where(self, conn: Any) -> int:
        return os.getpid()


app = App()
app.actor("probe", Probe)
