"""The verdict on a chaos history: what must hold whatever faults were injected.

``check(history)`` returns every violation found (an empty list: the run passed). The
rules, each a ``Violation.kind``:

- ``fence-owners``: two nodes held one actor's lease with the same fence;
- ``fence-regress``: an actor's stored fence or version went down (or its lease fence, while
  a state row existed);
- ``stale-write``: a state write under fence f landed after a lease with a higher fence had
  been seen (the store must refuse it);
- ``stale-owner``: a turn that answered ran while another node held the actor's live lease
  (two live activations, G1);
- ``duplicate``: one operation id twice in an actor's final log (a call ran twice);
- ``phantom``: an id in a final log that no client sent, or whose request never left;
- ``order``: the counters are not linearizable: an acknowledged write's reply is not its
  position in the final log, or two writes sit in the log against their real-time order;
- ``stale-read``: a read missed a surviving write acknowledged before the read began, or
  reads went back in time;
- ``lost``: an acknowledged write is missing at the end, beyond the loss bound (below);
- ``balance``: a ledger's balances did not sum to the total, or one went negative;
- ``diverged``: observers (every node, every client) disagree on an actor's final state;
- ``incomplete``: an observer could not read the final state, or nobody could;
- ``crash``: a node process ended without the harness killing it.

**The loss bound.** Without durable output (roost's default) an owner acknowledges a write
once its local commit is done, and the shared store gets it within ``sync_interval``; an
owner that dies before that loses it (docs/operations.md, "What a machine loss loses"). So
an acknowledged write (or an observed state) may be missing at the end only when its owner
suffered a *node-ending* fault (:data:`LOSS_FAULTS`: kill -9, SIGSTOP, a cut or hung link
to PostgreSQL) that began at most ``sync_interval + margin`` after the acknowledgement
(later when a turn of that actor was running on that node meanwhile: a snapshot is taken
between turns, so the sync waits for it, and the window runs from that turn's end), or
was already going on when it came, or ended at most a lease ttl before it (a node cut off
from the store acknowledges writes until it self-fences, and can never sync them; once the
link returns it must reconnect before its first sync). Faults that do not end a node (its PostgreSQL
connections terminated, its node links cut) excuse nothing. With ``durable`` (for the
durable output mode to come: ``--durable``) nothing excuses a loss.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import attrs

from .checker_store import check_balances, check_crashes, check_fences, check_stale_owners
from .history import Fault, Final, History, Meta, NodeStart, Op
from .violation import Violation

#: The faults after which an owner's acknowledged but unsynced writes may be lost.
LOSS_FAULTS = frozenset({"kill", "stop", "cut_store", "hang_store"})
#: The faults that take a node's store away (it acknowledges on until it self-fences).
STORE_FAULTS = frozenset({"cut_store", "hang_store"})
#: At most this many messages per (kind, actor); the rest are counted in one more.
MAX_REPORTED = 5

__all__ = ["LOSS_FAULTS", "Violation", "check"]


@attrs.frozen
class LossBound:
    """Which observations may be lost: see the module docstring."""

    faults: tuple[Fault, ...]
    pids: dict[int, int]  # process id -> node index
    window: float
    durable: bool
    # (actor, process id) -> the turns that answered there, (start, end) in history time:
    # an actor is snapshotted between turns, so a long turn delays its sync (roost's bound)
    turns: dict[tuple[str, int], list[tuple[float, float]]] = attrs.field(factory=dict)
    store_grace: float = 0.0  # a lease ttl: see excuse()
    # actor -> the spans of its unanswered calls, on whichever node (see of())
    unknown: dict[str, list[tuple[float, float]]] = attrs.field(factory=dict)

    @classmethod
    def of(cls, history: History, meta: Meta) -> LossBound:
        faults = tuple(f for f in history.of(Fault) if f.kind in LOSS_FAULTS)
        pids = {start.pid: start.node for start in history.of(NodeStart)}
        turns: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
        unknown: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for op in history.of(Op):
            turn = op.result.get("turn") if isinstance(op.result, dict) else None
            if op.pid is not None and isinstance(turn, list) and len(turn) == 2:
                turns[(op.actor, op.pid)].append((turn[0] - meta.wall, turn[1] - meta.wall))
            elif op.status == "unknown":
                # Its turn may have run, on any node, from its invocation on; a client that
                # gives up does not end it (the server finishes a turn it started), so it may
                # still run, queued and then for its pause, after the client's deadline: it
                # may have held the actor (and the sync waiting for it) that long.
                unknown[op.actor].append((op.invoke, op.complete + _pause(op)))
        window = meta.sync_interval + meta.margin
        return cls(faults, pids, window, meta.durable, dict(turns), meta.lease_ttl, dict(unknown))

    def _synced_by(self, op: Op) -> float:
        """When ``op``'s write reached the store at the latest: a sync interval (and the
        margin) after it, pushed back by a turn of the actor running on that node then (the
        snapshot waits for it: docs/operations.md, "What a machine loss loses")."""
        assert op.pid is not None
        due = op.complete + self.window
        spans = [*self.turns.get((op.actor, op.pid), ()), *self.unknown.get(op.actor, ())]
        for start, end in sorted(spans):
            if start <= due and end >= op.complete:
                due = max(due, end + self.window)
        return due

    def excuses(self, op: Op) -> bool:
        """Whether ``op``'s acknowledged effect (or observation) may be lost."""
        return self.excuse(op) is not None

    def excuse(self, op: Op) -> Fault | None:
        """The fault that allows ``op``'s effect to be lost, if one does."""
        if self.durable or op.pid is None or op.pid not in self.pids:
            return None
        node = self.pids[op.pid]
        synced_by = self._synced_by(op)
        for f in self.faults:
            # A node whose store link comes back still has to reconnect before it syncs,
            # and keeps acknowledging until it does or self-fences (its lease may have
            # expired in the database meanwhile): up to a lease ttl after the link returns.
            end = f.end + self.store_grace if f.kind in STORE_FAULTS else f.end
            if f.node == node and op.complete <= end and f.start <= synced_by:
                return f
        return None


def _pause(op: Op) -> float:
    """How long the call's own turn lasts at least (``add``'s ``pause``; 0 otherwise)."""
    pause = (op.args or {}).get("pause", 0.0)
    return float(pause) if isinstance(pause, (int, float)) else 0.0


def check(history: History) -> list[Violation]:
    """Every violation in ``history``, in rule order."""
    meta = history.meta
    ops = list(history.of(Op))
    finals = list(history.of(Final))
    found: list[Violation] = []
    found += check_fences(history)
    found += check_crashes(history)
    reference, views = final_logs(finals, {op.actor for op in ops})
    found += views
    bound = LossBound.of(history, meta)
    by_actor: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        by_actor[op.actor].append(op)
    for actor in sorted(reference):
        found += check_log(actor, by_actor[actor], reference[actor], bound)
    found += check_stale_owners(history, ops)
    found += check_balances(history, ops, finals, meta.total)
    return capped(found)


def final_logs(
    finals: Sequence[Final], actors: Iterable[str]
) -> tuple[dict[str, tuple[str, ...]], list[Violation]]:
    """The agreed final log of each actor, and the ``diverged``/``incomplete`` violations."""
    found: list[Violation] = []
    reference: dict[str, tuple[str, ...]] = {}
    by_actor: dict[str, list[Final]] = defaultdict(list)
    for final in finals:
        by_actor[final.actor].append(final)
    for actor in sorted(set(actors) | set(by_actor)):
        views = [f for f in by_actor[actor] if f.log is not None]
        for final in by_actor[actor]:
            if final.log is None:
                found.append(
                    Violation("incomplete", actor, f"{final.observer} read nothing: {final.error}")
                )
        if not views:
            found.append(Violation("incomplete", actor, "no observer read the final state"))
            continue
        states = Counter((f.log, tuple(sorted((f.balances or {}).items()))) for f in views)
        (log, _balances), _count = states.most_common(1)[0]
        assert log is not None
        reference[actor] = log
        if len(states) > 1:
            summary = "; ".join(
                f"{f.observer}: {len(f.log or ())} entries, last {(f.log or ('-',))[-1]}, "
                f"balances {f.balances}"
                for f in views
            )
            found.append(Violation("diverged", actor, f"final states differ: {summary}"))
    return reference, found


def check_log(actor: str, ops: list[Op], log: tuple[str, ...], bound: LossBound) -> list[Violation]:
    """The per-actor rules against its final log: duplicate, phantom, order, lost, reads."""
    found: list[Violation] = []
    counts = Counter(log)
    for op_id, count in counts.items():
        if count > 1:
            found.append(Violation("duplicate", actor, f"{op_id} is {count} times in the log"))
    position = {op_id: index for index, op_id in enumerate(log, start=1)}
    writes = {op.id: op for op in ops if op.is_write}
    for op_id in position:
        op = writes.get(op_id)
        if op is None:
            found.append(Violation("phantom", actor, f"{op_id} was never sent"))
        elif op.status == "fail":
            found.append(Violation("phantom", actor, f"{op_id} never left ({op.error})"))
    present: list[tuple[int, Op]] = []
    for op in writes.values():
        if op.id in position:
            present.append((position[op.id], op))
            n = write_position(op)
            if op.status == "ok" and n is not None and n != position[op.id]:
                found.append(
                    Violation(
                        "order", actor, f"{op.id} was acknowledged as {n} but is at "
                        f"{position[op.id]} ({_where(op)})"
                    )
                )  # fmt: skip
        elif op.status == "ok" and write_position(op) is not None and not bound.excuses(op):
            found.append(Violation("lost", actor, f"{op.id} acknowledged and lost ({_where(op)})"))
    found += real_time_order(actor, present)
    found += reads(actor, ops, position, writes, bound)
    return found


def write_position(op: Op) -> int | None:
    """An acknowledged write's position (None: a refused transfer, which wrote nothing)."""
    if not isinstance(op.result, dict) or op.result.get("refused"):
        return None
    n = op.result.get("n")
    return n if isinstance(n, int) else None


def _where(op: Op) -> str:
    return f"{op.client}, pid {op.pid}, {op.invoke:.3f}-{op.complete:.3f}"


def real_time_order(actor: str, present: list[tuple[int, Op]]) -> list[Violation]:
    """Writes in the log must respect real time: if A's reply came before B was sent, A is
    before B in the log (B's reply time may be unknown: then it only bounds from below)."""
    found: list[Violation] = []
    earliest: Op | None = None  # the earliest acknowledged op among the later positions
    for _pos, op in sorted(present, key=lambda item: item[0], reverse=True):
        if earliest is not None and earliest.complete < op.invoke:
            found.append(
                Violation(
                    "order", actor, f"{earliest.id} (acknowledged at {earliest.complete:.3f}) "
                    f"is after {op.id} (sent at {op.invoke:.3f}) in the log"
                )
            )  # fmt: skip
        if op.status == "ok" and (earliest is None or op.complete < earliest.complete):
            earliest = op
    return found


def reads(
    actor: str, ops: list[Op], position: dict[str, int], writes: dict[str, Op], bound: LossBound
) -> list[Violation]:
    """A read sees every surviving write acknowledged before it began; reads never go back,
    except from a state the loss bound allows to be lost."""
    found: list[Violation] = []
    observed = [
        op
        for op in ops
        if op.status == "ok" and isinstance(op.result, dict) and isinstance(op.result.get("n"), int)
    ]
    acked = sorted(
        (op for op in writes.values() if op.status == "ok" and op.id in position),
        key=lambda op: op.complete,
    )
    by_complete = sorted(observed, key=lambda op: op.complete)
    index = floor_index = 0
    floor = 0  # the highest position of a surviving write acknowledged so far
    seen: Op | None = None  # the highest unexcused observation completed so far
    for op in sorted(observed, key=lambda op: op.invoke):
        while index < len(acked) and acked[index].complete < op.invoke:
            floor = max(floor, position[acked[index].id])
            index += 1
        while floor_index < len(by_complete) and by_complete[floor_index].complete < op.invoke:
            candidate = by_complete[floor_index]
            if not bound.excuses(candidate) and (
                seen is None or candidate.result["n"] > seen.result["n"]
            ):
                seen = candidate
            floor_index += 1
        n = op.result["n"]
        if op.is_write and op.id not in position:
            continue  # a lost write: the loss rule judges it
        if not op.is_write and n < floor:  # (a write's position: the order rule judges it)
            found.append(
                Violation(
                    "stale-read", actor, f"{op.id} saw {n} but {floor} writes were "
                    f"acknowledged before it began ({_where(op)})"
                )
            )  # fmt: skip
        elif seen is not None and n < seen.result["n"]:
            found.append(
                Violation(
                    "stale-read", actor, f"{op.id} saw {n} after {seen.id} saw "
                    f"{seen.result['n']} ({_where(op)}; before: {_where(seen)})"
                )
            )  # fmt: skip
    return found


def capped(found: list[Violation]) -> list[Violation]:
    """At most :data:`MAX_REPORTED` violations per (kind, actor), then one that counts the rest
    (the count of violations stays exact: the summary adds ``Violation.more``)."""
    kept: list[Violation] = []
    extra: Counter[tuple[str, str]] = Counter()
    seen: Counter[tuple[str, str]] = Counter()
    for violation in found:
        key = (violation.kind, violation.actor)
        seen[key] += 1
        if seen[key] <= MAX_REPORTED:
            kept.append(violation)
        else:
            extra[key] += 1
    for (kind, actor), count in extra.items():
        kept.append(Violation(kind, actor, f"... and {count} more", more=count - 1))
    return kept
