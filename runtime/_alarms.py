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

Long because: the schedule is one structure (the heap, the per-actor index of pending
names, the batches being fired, the backoffs) with the clock it is kept in; each part reads
and changes the others at every due time, and split they would share all of that state.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

import attrs
import trio

from roost.actors.hosting import DEFAULT_MAX_RETRIES, DEFAULT_RETRY_DELAY

from ._node_store import NodeStore

log = logging.getLogger("roost.alarms")

AlarmKey = tuple[str, str, str]  # (actor type, actor key, alarm name)
ActorKey = tuple[str, str]  # (actor type, actor key)
#: ``await fire(actor_type, key, names)``: one actor's due alarms, soonest first.
FireBatch = Callable[[str, str, Sequence[str]], Awaitable[None]]


#: Seconds between re-reads of the wall clock while alarms are pending (a stepped clock).
WALL_RECHECK = 0.5


class NodeClock:
    """The unix time alarms are kept in, and how it maps to trio's clock.

    On trio's real clock it *is* the wall clock: an alarm set for 10:00 rings when the
    machine's clock says 10:00, also after the clock was stepped forward or back (NTP, an
    operator), and the scheduler re-reads it every WALL_RECHECK seconds while alarms are
    pending (found by the fault tests with libfaketime). Under a test's MockClock it is
    derived from trio's clock with an offset taken once, so autojump tests move alarms too.
    """

    def __init__(self) -> None:
        self._offset: float | None = None  # taken on first use, inside trio
        self._wall: bool | None = None  # follows the wall clock (trio's real clock)

    def _follows_wall(self) -> bool:
        if self._wall is None:
            from trio.testing import MockClock

            self._wall = not isinstance(trio.lowlevel.current_clock(), MockClock)
        return self._wall

    def _get_offset(self) -> float:
        if self._follows_wall():
            return time.time() - trio.current_time()
        if self._offset is None:
            self._offset = time.time() - trio.current_time()
        return self._offset

    def now(self) -> float:
        return self._get_offset() + trio.current_time()

    def to_trio(self, unix: float) -> float:
        return unix - self._get_offset()

    @property
    def recheck(self) -> float:
        """How long a wait for a due time may last before the time is read again."""
        return WALL_RECHECK if self._follows_wall() else math.inf


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
        batches_total: firings of one actor's due alarms together (one activation each).
        wakeups_total: times the scheduler's loop woke up (a spin shows here first).
        dropped_total: index entries dropped because nothing stood behind them.
    """

    pending: int
    quarantined: int
    firings_total: int
    batches_total: int
    wakeups_total: int
    dropped_total: int


class AlarmScheduler:
    """Heap + durable index of every pending alarm of this node; wakes actors when due.

    Due alarms fire in *batches*, one task per actor: every alarm of that actor that is
    due when the task starts, and those falling due while it runs, fire one after the
    other on one activation (an evicted actor opens its file once, not once per alarm).
    Index entries of fired alarms leave node.sqlite in one transaction per batch.

    Args:
        store: the node's own SQLite, which holds the index.
        max_concurrent: actors firing at once (a bound, so 100,000 alarms due together do not
            become 100,000 tasks).
        max_batch: alarms taken off the heap per pass of the loop, at most (a bound on the
            work between two checkpoints of the loop).
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
        max_batch: int = 4096,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self._store = store
        self._clock = clock
        self._limiter = trio.CapacityLimiter(max_concurrent)
        self._max_batch = max_batch
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
        # Actors with a batch firing, and the alarms of theirs that fell due meanwhile: the
        # same task fires those next.
        self._batches: dict[ActorKey, list[str]] = {}
        # Pending alarm names per actor (a superset: pruned when looked at), so a batch
        # takes every due alarm of its actor, not only those the heap gave so far.
        self._by_actor: dict[ActorKey, set[str]] = {}
        # Index entries to delete at the end of the batches in flight (never before their
        # actor's commit; a put of the same alarm cancels its delete).
        self._forgotten: set[AlarmKey] = set()
        self._firings_total = 0
        self._batches_total = 0
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
            batches_total=self._batches_total,
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
            if self._forgotten:  # a delete queued earlier must not remove the new entry
                self._forgotten.difference_update(row[:3] for row in rows)
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
        """Drop index entries (the alarm is gone, or never existed).

        While batches are firing the deletes wait for the end of one (a delete may come
        late: the index may hold a hint too many, never one too few); else they go now.
        """
        forgotten = self._forgotten
        for alarm in alarms:
            self._due.pop(alarm, None)
            self._version.pop(alarm, None)
            self._failures.pop(alarm, None)
            self._quarantined.discard(alarm)
            forgotten.add(alarm)
            names = self._by_actor.get((alarm[0], alarm[1]))
            if names is not None:
                names.discard(alarm[2])
                if not names:
                    del self._by_actor[alarm[0], alarm[1]]
        if not self._batches:
            self._flush_forgotten()

    def _flush_forgotten(self) -> None:
        """Delete the queued index entries, in one transaction."""
        if self._forgotten:
            alarms, self._forgotten = self._forgotten, set()
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
        self._by_actor.setdefault((alarm[0], alarm[1]), set()).add(alarm[2])
        seq = next(self._seq)
        self._version[alarm] = seq
        heapq.heappush(self._heap, (due, seq, alarm))
        if self._heap[0][2] == alarm:
            self._changed.set()  # a new earliest alarm: the runner must sleep less

    # -- firing ---------------------------------------------------------------------------------

    async def run(self, fire: FireBatch) -> None:
        """Fire alarms when due, forever (never early: not before their due time).

        ``await fire(actor_type, key, names)`` runs the turns of one actor's due alarms. It
        must move or remove each (through :meth:`after_commit`, :meth:`forget` or
        :meth:`retry_later`); an alarm it does neither to is dropped, and if it raises, its
        alarms that are still pending are retried later. It is given here rather than at
        construction: it needs the actor registry, which is built after the scheduler (the
        registry's slots need the scheduler).
        """
        async with trio.open_nursery() as nursery:
            while True:
                self._wakeups_total += 1
                due = self._take_due()
                if not due:
                    self._changed = trio.Event()
                    deadline = (
                        min(
                            self._clock.to_trio(self._heap[0][0]),
                            trio.current_time() + self._clock.recheck,
                        )
                        if self._heap
                        else float("inf")
                    )
                    with trio.move_on_at(deadline):
                        await self._changed.wait()
                    continue
                for actor in due:
                    token = object()
                    await self._limiter.acquire_on_behalf_of(token)
                    nursery.start_soon(self._fire_batch, fire, actor, token)

    def _take_due(self) -> list[ActorKey]:
        """Pop the due alarms (skipping stale heap entries) into their actors' batches;
        return the actors whose batch must start (the others' task is running)."""
        now = self._clock.now()
        heap = self._heap
        batches = self._batches
        starting: list[ActorKey] = []
        for _ in range(self._max_batch):
            if not heap:
                break
            due, _, alarm = heap[0]
            if self._due.get(alarm) != due or alarm in self._firing:
                heapq.heappop(heap)  # moved, deleted, or already firing (re-pushed later)
                continue
            if due > now:
                break
            heapq.heappop(heap)
            self._firing.add(alarm)
            actor = (alarm[0], alarm[1])
            names = batches.get(actor)
            if names is None:
                batches[actor] = [alarm[2]]
                starting.append(actor)
            else:
                names.append(alarm[2])
        return starting

    async def _fire_batch(self, fire: FireBatch, actor: ActorKey, token: object) -> None:
        """Fire the actor's due alarms, then those that fell due meanwhile, then let go."""
        try:
            while names := self._gather(actor):
                self._batches[actor] = []
                await self._fire_names(fire, actor, names)
                await trio.lowlevel.checkpoint()  # an alarm set for now again: not a spin
        finally:
            for name in self._batches.pop(actor, ()):  # cancelled: back on the heap
                self._settle((*actor, name))
            self._limiter.release_on_behalf_of(token)
            # The last batch in flight writes the queued deletes; under steady load (never
            # the last) every batch that finds max_batch of them queued does.
            if not self._batches or len(self._forgotten) >= self._max_batch:
                self._flush_forgotten()

    def _gather(self, actor: ActorKey) -> list[str]:
        """The actor's batch with every alarm of it that is due now added (a node that
        lags fires them on one activation), soonest first."""
        batch = self._batches[actor]
        names = self._by_actor.get(actor)
        if names:
            now = self._clock.now()
            for name in list(names):
                alarm = (actor[0], actor[1], name)
                due = self._due.get(alarm)
                if due is None:
                    names.discard(name)
                elif due <= now and alarm not in self._firing:
                    self._firing.add(alarm)
                    batch.append(name)
            if not names:
                del self._by_actor[actor]
        due_at = self._due.get
        batch.sort(key=lambda name: due_at((actor[0], actor[1], name), 0.0))
        return batch

    async def _fire_names(self, fire: FireBatch, actor: ActorKey, names: list[str]) -> None:
        alarms = [(*actor, name) for name in names]
        versions = [self._version.get(alarm) for alarm in alarms]
        self._firings_total += len(alarms)
        self._batches_total += 1
        try:
            await fire(actor[0], actor[1], names)
        except Exception:
            log.exception("firing the alarms %r of %s/%s failed", names, *actor)
            for alarm in self._untouched(alarms, versions):
                backoff = self.retry_later(alarm)
                log.warning(
                    "alarm %r: attempt %d failed; %s",
                    alarm,
                    backoff.failures,
                    "quarantined" if backoff.quarantined else "retrying later",
                )
        else:
            # Neither moved nor removed: nothing stands behind these entries (stale hints).
            stale = self._untouched(alarms, versions)
            if stale:
                log.info("dropping alarms %r: their actor holds no such alarm", stale)
                self._dropped_total += len(stale)
                self.forget(stale)
        finally:
            for alarm in alarms:
                self._settle(alarm)

    def _untouched(self, alarms: list[AlarmKey], versions: list[int | None]) -> list[AlarmKey]:
        """The alarms still pending at the version they had when their firing began."""
        return [
            alarm
            for alarm, version in zip(alarms, versions, strict=True)
            if self._version.get(alarm) == version and alarm in self._due
        ]

    def _settle(self, alarm: AlarmKey) -> None:
        """The alarm's firing is over: if it is still pending (a retry, set anew), it goes
        back on the heap."""
        self._firing.discard(alarm)
        due = self._due.get(alarm)
        if due is not None:
            heapq.heappush(self._heap, (due, self._version[alarm], alarm))
            self._changed.set()
