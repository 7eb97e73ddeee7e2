"""The figures of a run, beside its verdict: outcomes, faults, failovers, losses within the
bound and the longest time each actor went without a successful operation."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import attrs

from .checker import LOSS_FAULTS, LossBound, final_logs, write_position
from .history import Fault, Final, History, Op, Sample


@attrs.frozen
class Figures:
    """What a run did; :meth:`lines` says it in a few lines."""

    outcomes: dict[str, int]
    faults: dict[str, int]
    failovers: int
    lost_within_bound: dict[str, int]  # fault kind -> acknowledged writes it excused
    longest_gap: dict[str, tuple[float, float]]  # actor -> (seconds, when it began)
    failover: list[tuple[float, str, str]]  # (seconds, actor, fault) per owner-ending fault

    def lines(self) -> list[str]:
        outcomes = ", ".join(f"{n} {status}" for status, n in sorted(self.outcomes.items()))
        faults = ", ".join(f"{kind} {n}" for kind, n in sorted(self.faults.items()))
        gaps = ", ".join(
            f"{actor} {gap:.1f} s (from {at:.1f} s)"
            for actor, (gap, at) in sorted(self.longest_gap.items())
        )
        by_fault = ", ".join(f"{n} {kind}" for kind, n in sorted(self.lost_within_bound.items()))
        times = sorted(self.failover)
        worst = ", ".join(f"{t:.1f} s ({actor}, {fault})" for t, actor, fault in times[-3:][::-1])
        served = (
            f"chaos: served again after a node-ending fault of its owner: median "
            f"{times[len(times) // 2][0]:.1f} s, worst {worst} ({len(times)} cases)"
            if times
            else "chaos: no owner had a node-ending fault"
        )
        return [
            f"chaos: operations: {outcomes}; faults: {faults or 'none'}",
            served,
            f"chaos: {self.failovers} owner changes; acknowledged writes lost within the loss "
            f"bound: {sum(self.lost_within_bound.values())} ({by_fault or 'none'})",
            f"chaos: longest time without a successful operation: {gaps}",
        ]


def figures(history: History) -> Figures:
    meta = history.meta
    ops = list(history.of(Op))
    reference, _ = final_logs(list(history.of(Final)), {op.actor for op in ops})
    bound = LossBound.of(history, meta)
    present = {actor: set(log) for actor, log in reference.items()}
    lost: Counter[str] = Counter()
    for op in ops:
        if op.is_write and op.status == "ok" and write_position(op) is not None:
            excuse = bound.excuse(op)
            if excuse is not None and op.id not in present.get(op.actor, set()):
                lost[excuse.kind] += 1
    owners: dict[str, str] = {}
    failovers = 0
    for sample in history.of(Sample):
        for actor, node_id, _fence, live in sample.leases:
            if live and node_id is not None:
                if owners.get(actor, node_id) != node_id:
                    failovers += 1
                owners[actor] = node_id
    done: dict[str, list[float]] = defaultdict(list)
    for op in ops:
        if op.status == "ok" and meta.began <= op.complete <= meta.began + meta.seconds:
            done[op.actor].append(op.complete)
    longest: dict[str, tuple[float, float]] = {}
    for actor, times in done.items():
        times.sort()
        edges = [meta.began, *times, meta.began + meta.seconds]
        gaps = [(later - earlier, earlier) for earlier, later in itertools.pairwise(edges)]
        longest[actor] = max(gaps, default=(0.0, 0.0))
    return Figures(
        dict(Counter(op.status for op in ops)),
        dict(Counter(fault.kind for fault in history.of(Fault))),
        failovers,
        dict(lost),
        longest,
        failover_times(history, ops, bound),
    )


def failover_times(
    history: History, ops: list[Op], bound: LossBound
) -> list[tuple[float, str, str]]:
    """For each node-ending fault and each actor that node served last before it: how long
    until the actor answered again (from another node, or from the same one afterwards)."""
    served = sorted((op for op in ops if op.status == "ok" and op.pid), key=lambda o: o.complete)
    found: list[tuple[float, str, str]] = []
    for fault in history.of(Fault):
        if fault.kind not in LOSS_FAULTS:
            continue
        last: dict[str, Op] = {}
        for op in served:
            if op.complete >= fault.start:
                break
            last[op.actor] = op
        for actor, op in last.items():
            if bound.pids.get(op.pid or 0) != fault.node:
                continue
            after = next((o for o in served if o.actor == actor and o.complete > fault.start), None)
            if after is not None:
                found.append(
                    (after.complete - fault.start, actor, f"{fault.kind} at {fault.start:.1f} s")
                )
    return found
