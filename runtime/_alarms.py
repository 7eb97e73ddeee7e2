"""The node's alarm schedule: which actor to wake when, across evictions and restarts (G5).

Each actor keeps its alarms in its own SQLite. The node keeps an *index* of them (type, key,
name, due time) in its :class:`NodeStore` and a heap in memory, so it can wake actors
that are not in memory and, after a restart, without opening every actor file.

Ordering makes the index safe without a distributed transaction: a turn's new or moved alarms
are written to the index *before* the actor's commit, deletions only *after* it. A crash in
between leaves at most an index entry with no alarm behind it, which fires, finds nothing and
is dropped; it never leaves an alarm that the index does not know. Firing checks the actor's
own table, so an index entry is a hint, never the truth.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

import trio

from ._node_store import NodeStore

log = logging.getLogger("roost.alarms")

AlarmKey = tuple[str, str, str]  # (actor type, actor key, alarm name)


class NodeClock:
    """Unix time derived from trio's clock, so tests on a mock clock move alarms too.

    The offset is taken once; afterwards unix time advances exactly with trio's clock.
    """

    def __init__(self) -> None:
        self._offset: float | None = None  # taken on first use, inside trio

    def _get_offset(self) -> float:
        if self._offset is None:
            self._offset = time.time() - trio.current_time()
        return self._offset

    def now(self) -> float:
        return self._get_offset() + trio.current_time()

    def to_trio(self, unix: float) -> float:
        return unix - self._get_offset()


class AlarmScheduler:
    """Heap + durable index of every pending alarm of this node; wakes actors when due.

    Args:
        store: the node's own SQLite, which holds the index.
        fire: ``await fire(actor_type, key, name)`` runs the alarm's turn; it must not raise.
        max_concurrent: alarms firing at once (a bound, so 100,000 alarms due together do not
            become 100,000 tasks).
    """

    def __init__(
        self,
        store: NodeStore,
        clock: NodeClock,
        fire: Callable[[str, str, str], Awaitable[None]],
        *,
        max_concurrent: int = 64,
    ) -> None:
        self._store = store
        self._clock = clock
        self._fire = fire
        self._limiter = trio.CapacityLimiter(max_concurrent)
        self._due: dict[AlarmKey, float] = {}
        self._heap: list[tuple[float, int, AlarmKey]] = []
        self._seq = itertools.count()
        self._changed = trio.Event()
        self._firing: set[AlarmKey] = set()
        for actor_type, key, name, due in store.alarms():
            self._push((actor_type, key, name), due)

    @property
    def pending(self) -> int:
        """Alarms waiting to fire."""
        return len(self._due)

    def due_at(self, alarm: AlarmKey) -> float | None:
        return self._due.get(alarm)

    # -- index updates around a turn's commit -------------------------------------------------

    def before_commit(
        self, actor_type: str, key: str, changes: Iterable[tuple[str, float]]
    ) -> None:
        """Record new or moved alarms durably, before the actor's own commit."""
        rows = [(actor_type, key, name, due) for name, due in changes]
        if rows:
            self._store.put_alarms(rows)

    def after_commit(
        self, actor_type: str, key: str, changes: Iterable[tuple[str, float | None]]
    ) -> None:
        """Apply a committed turn's alarm changes to the schedule (deletions hit the index)."""
        deleted = []
        for name, due in changes:
            alarm = (actor_type, key, name)
            if due is None:
                self._due.pop(alarm, None)
                deleted.append(alarm)
            else:
                self._push(alarm, due)
        if deleted:
            self.forget(deleted)

    def forget(self, alarms: Iterable[AlarmKey]) -> None:
        """Drop index entries (the alarm is gone, or never existed)."""
        alarms = list(alarms)
        for alarm in alarms:
            self._due.pop(alarm, None)
        self._store.delete_alarms(alarms)

    def _push(self, alarm: AlarmKey, due: float) -> None:
        self._due[alarm] = due
        heapq.heappush(self._heap, (due, next(self._seq), alarm))
        if self._heap[0][2] == alarm:
            self._changed.set()  # a new earliest alarm: the runner must sleep less

    # -- firing ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Fire alarms when due, forever (never early: not before their due time)."""
        async with trio.open_nursery() as nursery:
            while True:
                alarm = self._next_due()
                if alarm is None:
                    self._changed = trio.Event()
                    deadline = self._clock.to_trio(self._heap[0][0]) if self._heap else float("inf")
                    with trio.move_on_at(deadline):
                        await self._changed.wait()
                    continue
                token = object()
                await self._limiter.acquire_on_behalf_of(token)
                self._firing.add(alarm)
                nursery.start_soon(self._fire_one, alarm, token)

    def _next_due(self) -> AlarmKey | None:
        """Pop the earliest alarm if it is due (skipping stale heap entries)."""
        now = self._clock.now()
        heap = self._heap
        while heap:
            due, _, alarm = heap[0]
            if self._due.get(alarm) != due or alarm in self._firing:
                heapq.heappop(heap)  # moved, deleted, or already firing (re-pushed later)
                continue
            if due > now:
                return None
            heapq.heappop(heap)
            return alarm
        return None

    async def _fire_one(self, alarm: AlarmKey, token: object) -> None:
        try:
            await self._fire(*alarm)
        except Exception:
            log.exception("firing alarm %r failed", alarm)
        finally:
            self._firing.discard(alarm)
            self._limiter.release_on_behalf_of(token)
            due = self._due.get(alarm)
            if due is not None:  # still pending (retry, or set anew): back on the heap
                heapq.heappush(self._heap, (due, next(self._seq), alarm))
                self._changed.set()
