"""The rules judged from the store samples and the node processes: fences and ownership,
crashes, and the ledger's balances wherever they were seen."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from .history import Final, History, NodeExit, NodeStart, Op, Sample
from .violation import Violation

#: Seconds trimmed from each end of a turn before samples inside it count: a sample's time
#: is taken just before its query, and a reply's times on the node's clock.
SLACK = 0.1


def check_fences(history: History) -> list[Violation]:
    """``fence-owners``, ``fence-regress`` and ``stale-write`` over the samples, in order.

    Lease rows count only while the actor has a state row (in the same snapshot): before
    its first write, a release deletes the lease row and the next owner starts again at
    fence 1 (docs/shared-store.md), so fences seen then may be reused; once a state row
    exists the lease row stays and its fences only grow.
    """
    found: list[Violation] = []
    owners: dict[tuple[str, int], str] = {}
    reported: set[tuple[str, int]] = set()
    last_state: dict[str, tuple[int, int]] = {}  # actor -> (fence, version)
    last_lease: dict[str, int] = {}
    max_lease: dict[str, int] = {}  # the highest lease fence seen in an earlier sample
    for sample in sorted(history.of(Sample), key=lambda s: s.t):
        states = {actor: (fence, version) for actor, fence, version, _b in sample.states}
        for actor, node_id, fence, _live in sample.leases:
            if actor not in states:
                continue
            if node_id is not None:
                first = owners.setdefault((actor, fence), node_id)
                if first != node_id and (actor, fence) not in reported:
                    reported.add((actor, fence))
                    found.append(
                        Violation(
                            "fence-owners", actor, f"fence {fence} held by {first} and by "
                            f"{node_id} (seen at {sample.t:.3f})"
                        )
                    )  # fmt: skip
            before = last_lease.get(actor)
            if before is not None and fence < before:
                found.append(
                    Violation(
                        "fence-regress", actor,
                        f"lease fence went from {before} to {fence} at {sample.t:.3f}",
                    )
                )  # fmt: skip
            last_lease[actor] = fence
        for actor, (fence, version) in states.items():
            previous = last_state.get(actor)
            if previous is not None:
                if fence < previous[0] or version < previous[1]:
                    found.append(
                        Violation(
                            "fence-regress", actor, f"state (fence, version) went from "
                            f"{previous} to {(fence, version)} at {sample.t:.3f}"
                        )
                    )  # fmt: skip
                elif version > previous[1] and fence < max_lease.get(actor, 0):
                    found.append(
                        Violation(
                            "stale-write", actor, f"version {version} written under fence "
                            f"{fence} after fence {max_lease[actor]} existed "
                            f"(landed before {sample.t:.3f})"
                        )
                    )  # fmt: skip
            last_state[actor] = (fence, version)
        for actor, _node, fence, _live in sample.leases:
            if actor in states:
                max_lease[actor] = max(max_lease.get(actor, 0), fence)
    return found


def check_crashes(history: History) -> list[Violation]:
    """A node that exited by itself crashed (the harness records its own kills as expected)."""
    return [
        Violation(
            "crash",
            f"node {e.node}",
            e.detail or f"process {e.pid} exited with {e.code} at {e.t:.3f}",
        )
        for e in history.of(NodeExit)
        if not e.expected
    ]


def check_balances(
    history: History, ops: Iterable[Op], finals: Iterable[Final], total: int
) -> list[Violation]:
    """Every balance seen (replies, store samples, final reads) sums to ``total``, none < 0."""
    found: list[Violation] = []
    for op in ops:
        if op.status == "ok" and isinstance(op.result, dict) and "balances" in op.result:
            found += _balanced(op.actor, op.result["balances"], total, f"{op.id} saw")
    for sample in history.of(Sample):
        for actor, _fence, version, balances in sample.states:
            if balances is not None:
                where = f"the store (version {version}, {sample.t:.3f}) held"
                found += _balanced(actor, balances, total, where)
    for final in finals:
        if final.balances is not None:
            found += _balanced(final.actor, final.balances, total, f"{final.observer} ended with")
    return found


def _balanced(actor: str, balances: Any, total: int, where: str) -> list[Violation]:
    if not isinstance(balances, Mapping) or not all(isinstance(v, int) for v in balances.values()):
        return [Violation("balance", actor, f"{where} malformed balances {balances!r}")]
    if sum(balances.values()) != total or min(balances.values(), default=0) < 0:
        return [Violation("balance", actor, f"{where} {dict(balances)} (total {total})")]
    return []


def check_stale_owners(history: History, ops: Iterable[Op]) -> list[Violation]:
    """``stale-owner`` (G1): no turn that answered ran while a store sample showed another
    node holding the actor's live lease. Replies carry their turn's start and end (unix
    time); the node's id comes from its data dir."""
    wall = history.meta.wall
    ids = {start.pid: start.node_id for start in history.of(NodeStart) if start.node_id}
    holders: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for sample in sorted(history.of(Sample), key=lambda s: s.t):
        for actor, node_id, _fence, live in sample.leases:
            if live and node_id is not None:
                holders[actor].append((sample.t, node_id))
    found: list[Violation] = []
    for op in ops:
        turn = op.result.get("turn") if op.status == "ok" and isinstance(op.result, dict) else None
        if not isinstance(turn, list) or len(turn) != 2 or op.pid not in ids:
            continue
        start, end = turn[0] - wall + SLACK, turn[1] - wall - SLACK
        seen = holders.get(op.actor, [])
        index = bisect.bisect_left(seen, (start, ""))
        while index < len(seen) and seen[index][0] <= end:
            t, holder = seen[index]
            if holder != ids[op.pid]:
                found.append(
                    Violation(
                        "stale-owner", op.actor, f"{op.id} was answered by {ids[op.pid]} "
                        f"(pid {op.pid}) from a turn over {turn[0] - wall:.3f}-"
                        f"{turn[1] - wall:.3f}, but {holder} held the lease at {t:.3f}"
                    )
                )  # fmt: skip
                break
            index += 1
    return found
