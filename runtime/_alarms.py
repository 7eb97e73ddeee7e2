"""The node's alarm schedule: which actor to wake when, across evictions and restarts (G5).

Each actor keeps its alarms in its own SQLite. The node keeps an *index* of them (type, key,
name, due time) in its :class:`NodeStore` and a heap in memory, so it can wake actors
that are not in memory and, after a restart, without opening every actor file.

Ordering makes the index safe without a distributed transaction: a turn's new or moved alarms
are written to the index *before* the actor's commit, deletions only *after* it. A crash in
between leaves at most an index entry with no alarm behind it, which fires, finds nothing and
is dropped; it never leaves an alarm that the index does not know. Firing checks the actor's
own table, so an index entry is a hint, never the truth.

No entry may make the scheduler spin (G5): every firing must move its alarm (a new due time)
or remove it. A firing that returns without doing either found nothing behind the hint (a
row deleted by hand, an import, a crash) and the entry is dropped. A firing that *raises*
never reached the alarm's handler (the actor cannot activate: ``on_start`` or ``restore``
fails, its file cannot be opened) and is retried with exponential backoff, then quarantined
until the alarm is set anew or the node restarts (a deploy may have fixed the actor).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable

import attrs
import trio

from roost.actors.hosting import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_DELAY

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


@attrs.frozen
class Backoff:
    """What :meth:`AlarmScheduler.retry_later` decided for an alarm that could not fire.

    Attributes:
        failures: consecutive failed attempts to fire it, this one included.
        due: when it is tried next (unix seconds), or None: it is quarantined.
    """

    failures: int
    due: float | None

    @property
    def quarantined(self) -> bool:
        return self.due is None


@attrs.frozen
class SchedulerStatistics:
    """A snapshot of an :class:`AlarmScheduler`.

    Attributes:
        pending: alarms waiting to fire (quarantined ones excluded).
        quarantined: alarms this node gave up firing since it started (the actor cannot
            activate); each comes back when it is set anew or the node restarts.
        firings_total: attempts to fire an alarm, successful or not.
        wakeups_total: times the scheduler's loop woke up (a spin shows here first).
        dropped_total: index entries dropped because nothing stood behind them.
    """

    pending: int
    quarantined: int
    firings_total: int
    wakeups_total: int
    dropped_total: int


class AlarmScheduler:
    """Heap + durable index of every pending alarm of this node; wakes actors when due.

    Args:
        store: the node's own SQLite, which holds the index.
        max_concurrent: alarms firing at once (a bound, so 100,000 alarms due together do not
            become 100,000 tasks).
        retry_delay: the first retry of an alarm that could not fire waits this long (s);
            each next one twice as long.
        max_retries: retries before such an alarm is quarantined.
    """

    def __init__(
        self,
        store: NodeStore,
        clock: NodeClock,
        *,
        max_concurrent: int = 64,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self._store = store
        self._clock = clock
        self._limiter = trio.CapacityLimiter(max_concurrent)
        self._retry_delay = retry_delay
        self._max_retries = max_retries
        self._due: dict[AlarmKey, float] = {}
        # Bumped by every push: a firing that leaves it unchanged moved nothing.
        self._version: dict[AlarmKey, int] = {}
        self._failures: dict[AlarmKey, int] = {}  # consecutive attempts that raised
        self._quarantined: set[AlarmKey] = set()
        self._heap: list[tuple[float, int, AlarmKey]] = []
        self._seq = itertools.count()
        self._changed = trio.Event()
        self._firing: set[AlarmKey] = set()
        self._firings_total = 0
        self._wakeups_total = 0
        self._dropped_total = 0
        unreadable = []
        for actor_type, key, name, due in store.alarms():
            alarm = (actor_type, key, name)
            # SQLite stores whatever a tool wrote: a due time that is not a number would
            # break the heap's ordering, so such an entry is dropped (the actor's own row,
            # if any, is the truth and is indexed again when the actor sets it).
            if isinstance(due, bool) or not isinstance(due, int | float) or math.isnan(due):
                unreadable.append(alarm)
                continue
            self._push(alarm, due)
        if unreadable:
            log.warning("dropping %d alarm index entries without a due time", len(unreadable))
            store.delete_alarms(unreadable)

    @property
    def pending(self) -> int:
        """Alarms waiting to fire."""
        return len(self._due)

    def statistics(self) -> SchedulerStatistics:
        """Return an immutable snapshot of the scheduler's counters."""
        return SchedulerStatistics(
            pending=len(self._due),
            quarantined=len(self._quarantined),
            firings_total=self._firings_total,
            wakeups_total=self._wakeups_total,
            dropped_total=self._dropped_total,
        )

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
            self._version.pop(alarm, None)
            self._failures.pop(alarm, None)
            self._quarantined.discard(alarm)
        self._store.delete_alarms(alarms)

    def retry_later(self, alarm: AlarmKey) -> Backoff:
        """The alarm could not fire (its actor did not activate): back off, or quarantine (G5).

        The n-th consecutive failure waits ``retry_delay * 2 ** (n - 1)``; after
        ``max_retries`` retries the alarm leaves the schedule. Its index entry stays, so a
        restarted node tries again; setting the alarm anew also brings it back.
        """
        failures = self._failures.get(alarm, 0) + 1
        if failures > self._max_retries:
            self._failures.pop(alarm, None)
            self._due.pop(alarm, None)
            self._version.pop(alarm, None)
            self._quarantined.add(alarm)
            return Backoff(failures, None)
        self._failures[alarm] = failures
        due = self._clock.now() + self._retry_delay * 2 ** (failures - 1)
        self._push(alarm, due, retrying=True)
        return Backoff(failures, due)

    def _push(self, alarm: AlarmKey, due: float, *, retrying: bool = False) -> None:
        if not retrying:  # moved by a commit: a fresh start
            self._failures.pop(alarm, None)
            self._quarantined.discard(alarm)
        self._due[alarm] = due
        seq = next(self._seq)
        self._version[alarm] = seq
        heapq.heappush(self._heap, (due, seq, alarm))
        if self._heap[0][2] == alarm:
            self._changed.set()  # a new earliest alarm: the runner must sleep less

    # -- firing ---------------------------------------------------------------------------------

    async def run(self, fire: Callable[[str, str, str], Awaitable[None]]) -> None:
        """Fire alarms when due, forever (never early: not before their due time).

        ``await fire(actor_type, key, name)`` runs the alarm's turn. It must move or remove
        the alarm (through :meth:`after_commit`, :meth:`forget` or :meth:`retry_later`); if
        it does neither the entry is dropped, and if it raises the alarm is retried later.
        It is given here rather than at construction: it needs the actor registry, which is
        built after the scheduler (the registry's slots need the scheduler).
        """
        async with trio.open_nursery() as nursery:
            while True:
                self._wakeups_total += 1
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
                nursery.start_soon(self._fire_one, fire, alarm, token)

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

    async def _fire_one(
        self, fire: Callable[[str, str, str], Awaitable[None]], alarm: AlarmKey, token: object
    ) -> None:
        self._firings_total += 1
        version = self._version.get(alarm)
        try:
            await fire(*alarm)
        except Exception:
            if self._version.get(alarm) == version and alarm in self._due:
                backoff = self.retry_later(alarm)
                log.exception(
                    "firing alarm %r failed (attempt %d); %s",
                    alarm,
                    backoff.failures,
                    "quarantined" if backoff.quarantined else "retrying later",
                )
        else:
            if self._version.get(alarm) == version and alarm in self._due:
                # Neither moved nor removed: nothing stands behind this entry (a stale hint).
                log.info("dropping alarm %r: its actor holds no such alarm", alarm)
                self._dropped_total += 1
                self.forget([alarm])
        finally:
            self._firing.discard(alarm)
            self._limiter.release_on_behalf_of(token)
            due = self._due.get(alarm)
            if due is not None:  # still pending (retry, or set anew): back on the heap
                heapq.heappush(self._heap, (due, self._version[alarm], alarm))
                self._changed.set()
