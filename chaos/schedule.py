"""The seeded fault schedule: which fault hits which node when, and for how long.

A pure function of the seed and the run's shape, so a seed names one schedule: a failing
run is replayed with the same ``--seed`` (the interleaving of client operations differs from
run to run, the faults do not).
"""

from __future__ import annotations

import random

import attrs

#: Fault kinds and their weights. ``kill``: kill -9, restarted with the same data dir after
#: the duration; ``stop``: SIGSTOP, SIGCONT after the duration (mostly past the lease TTL);
#: ``terminate``: pg_terminate_backend of the node's PostgreSQL connections (instant);
#: ``cut_store`` / ``hang_store``: the node's PostgreSQL proxy drops or silences every
#: connection; ``cut_link``: the proxy in front of the node's advertised address (its node
#: links) drops every connection.
KINDS: dict[str, int] = {
    "kill": 3,
    "stop": 2,
    "terminate": 2,
    "cut_store": 2,
    "hang_store": 1,
    "cut_link": 2,
}
#: The faults that take a node out of the cluster while they last; at least one node is
#: always spared them, so the cluster as a whole stays available.
DISRUPTIVE = frozenset({"kill", "stop", "cut_store", "hang_store"})
WARM_UP = 2.0  # seconds of traffic before the first fault
COOL_DOWN = 2.0  # every fault has ended this long before the run's end


@attrs.frozen
class Planned:
    """A fault to inject at ``at`` seconds into the run, lasting ``duration`` seconds."""

    at: float
    kind: str
    node: int
    duration: float


def plan(seed: int, seconds: float, nodes: int, lease_ttl: float) -> list[Planned]:
    """The schedule of ``seed`` for a run of ``seconds`` over ``nodes`` nodes, by start time."""
    if nodes < 1:
        raise ValueError("a cluster needs at least one node")
    rng = random.Random(seed)
    names, weights = list(KINDS), list(KINDS.values())
    busy: list[float] = [0.0] * nodes  # when each node's disruptive fault ends
    schedule: list[Planned] = []
    t = WARM_UP + rng.uniform(0, 1)
    end = seconds - COOL_DOWN
    while t < end - 0.5:
        kind = rng.choices(names, weights)[0]
        duration = _duration(rng, kind, lease_ttl)
        duration = max(0.0, min(duration, end - t))
        node = rng.randrange(nodes)
        if kind in DISRUPTIVE:
            free = [n for n in range(nodes) if busy[n] <= t]
            spared = sum(1 for n in range(nodes) if busy[n] <= t) - 1
            if nodes == 1 or spared < 1:
                kind, duration = "terminate", 0.0  # never every node at once
            else:
                node = rng.choice(free)
                busy[node] = t + duration
        schedule.append(Planned(round(t, 3), kind, node, round(duration, 3)))
        t += rng.uniform(1.5, 5.0)
    return schedule


def _duration(rng: random.Random, kind: str, lease_ttl: float) -> float:
    if kind == "terminate":
        return 0.0
    if kind == "stop":  # mostly past the lease, sometimes a short pause the lease survives
        if rng.random() < 0.75:
            return rng.uniform(lease_ttl + 0.5, lease_ttl + 3.0)
        return rng.uniform(0.3, lease_ttl / 3)
    if kind == "kill":
        return rng.uniform(0.5, 2 * lease_ttl)
    return rng.uniform(1.0, 2 * lease_ttl)
