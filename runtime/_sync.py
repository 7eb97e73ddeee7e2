"""The sync worker: every dirty actor's snapshot reaches the shared store (G7).

An actor is *dirty* once a committed turn called ``mark_dirty()`` (or wrote anything, for an
actor class with ``sync_on_write``). The mark is durable: it reaches the node's own SQLite
before the actor's commit, so a node that crashes before syncing finds it after restarting and
syncs that actor without anyone visiting it.

Every ``sync_interval`` the worker takes a snapshot of each dirty actor — under the actor's
lock, so never in the middle of a turn, activating an evicted actor if it must — and writes the
snapshots in batches, each batch one transaction of the shared store, fenced by this node's
epoch. At most one snapshot per actor waits in memory: a newer one replaces it. While the store
is unreachable the snapshots stay and the worker retries with exponential backoff; the lag
(age of the oldest unsynced change) is a metric. An actor whose snapshot cannot be taken
(it fails to activate: on_start or restore raises) is retried with its own backoff, 2 s
doubling up to SNAPSHOT_MAX_BACKOFF, its traceback logged once and a line per retry; its
dirty mark stays, so it syncs once it can start again (G7, and G5's "no busy loop"). A write
refused for a stale fence means another node owns the actor now: the actor is stopped here
and its connections closed.

An actor whose turn deleted its data (``storage.delete_all()``) has its store row deleted
instead, under the same fence rule, before any snapshot of that round: a snapshot taken
before the delete is dropped, and none is taken until a later turn marks the actor dirty
again. With ``retention`` (``--store-retention``), the worker also deletes, once an hour and
in batches, stored states nobody updated for that long (``SharedStore.retire_states``).

The worker also keeps the node's view of the store current, for readiness: while it has
nothing to write it pings a PostgreSQL store (at once, then every PROBE_INTERVAL), and any
store that failed every round (backing off as above) until it answers again; a healthy
embedded store is never pinged, so a test on a mock clock pays nothing for it. Every store
call ends within the store's ``call_timeout``, so a hung database makes rounds fail, never
hang.

Long because: the worker is one loop over one dirty set, with the retry tables of stores and
actors it shares with every step (snapshot under the actor's lock, fenced batched writes,
backoff, readiness probes); split, each piece would reach into the same state.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from typing import Any, Protocol

import attrs
import trio

from roost._errors import StoreUnavailable
from roost.actors import Actor
from roost.storage import EncodedState, SharedStore

from ._node_store import NodeStore
from ._placement import NotOwner
from ._slot import ActorSlot
from ._stats import NodeStats

log = logging.getLogger("roost.sync")

ActorId = tuple[str, str]
#: Longest wait between retries while the store is unreachable.
MAX_BACKOFF = 30.0
#: Batches written at once (each in a worker thread; PostgreSQL's pool holds 4 connections).
WRITES_IN_FLIGHT = 3
#: First wait before retrying the snapshot of an actor that failed to activate; it doubles.
SNAPSHOT_RETRY_DELAY = 2.0
#: Longest wait between snapshot attempts of an actor that keeps failing to activate.
SNAPSHOT_MAX_BACKOFF = 300.0
#: Seconds between checks, during a backoff, whether the store answers other calls again.
STORE_BACK_POLL = 0.25
#: Seconds between pings of a healthy PostgreSQL store while there is nothing to write.
PROBE_INTERVAL = 5.0
#: Seconds between retention sweeps (the first one runs at start).
RETENTION_INTERVAL = 3600.0
#: Stored states one retention transaction deletes.
RETENTION_BATCH = 1000
#: The store row whose lease fence numbers node epochs.
EPOCH_TYPE, EPOCH_KEY = "roost-node", "epoch"


@attrs.define
class _Dirty:
    since: float  # trio time of the oldest change not yet in the store
    generation: int  # bumped by every committed change


@attrs.frozen
class _Retry:
    failures: int  # consecutive snapshots that failed
    due: float  # trio time before which the next attempt waits


@attrs.frozen(eq=False)
class _Delete:
    fence: int | None  # the actor's lease fence at the delete (a cluster node)
    generation: int  # of the dirty mark the delete set: a higher one is a later change


@attrs.frozen
class _Snapshot:
    state: EncodedState
    generation: int  # of the dirty mark when it was taken
    fence: int | None = None  # the actor's lease fence when it was taken (a cluster node)
    alarms: list[dict[str, Any]] | None = None  # its pending alarms then (a cluster node)
    image: bytes | None = None  # its whole file, compressed (replicate_file)


class SnapshotSource(Protocol):
    """What a snapshot records beside the state on a cluster node (the registry has it)."""

    def lease_fence(self, actor_type: str, key: str) -> int | None:
        """The actor's lease fence on a cluster node; None on a single node."""
        ...

    def pending_alarms(self, slot: ActorSlot) -> list[dict[str, Any]] | None:
        """The actor's pending alarms for the store (a cluster node), else None."""
        ...

    def file_image(self, slot: ActorSlot) -> bytes | None:
        """The actor's whole file, compressed, for an actor class with ``replicate_file``."""
        ...

    def serves(self, slot: ActorSlot) -> bool:
        """Whether the slot's instance is this node's to run now (always, on a single node)."""
        ...


class SyncNode(SnapshotSource, Protocol):
    """What the sync worker needs of its node's actors (runtime/_registry.py implements it;
    declared here, so sync does not import the registry that holds it). It is given to
    :meth:`SyncWorker.run` and :meth:`SyncWorker.flush`, not to the constructor: the registry
    is built after the sync worker, which its slots need (style rule 14)."""

    @property
    def slots(self) -> dict[ActorId, ActorSlot]: ...

    def resolve(self, actor_type: str, key: str) -> ActorSlot | None:
        """The slot of an actor id, created if needed; None when its type is unknown."""
        ...

    async def fence_lost(self, actor_type: str, key: str, fence: int | None = None) -> None:
        """The store refused the actor's write under ``fence``: stop it here."""
        ...


class SyncWorker:
    """Persists dirty actors' snapshots to the shared store, in batches, fenced, with retries.

    Args:
        node_id: this node process's identity in the shared store (for its epoch, the fence).
        interval: seconds between sync rounds (``sync_interval``).
        batch_size: snapshots per store transaction.
        snapshot_max_backoff: longest wait between snapshot attempts of an actor that keeps
            failing to activate.
        retention: seconds after which a stored state nobody updated (no holder, no alarm)
            is deleted from the store; 0: never.
    """

    def __init__(
        self,
        node_store: NodeStore,
        store: SharedStore,
        *,
        node_id: str,
        stats: NodeStats,
        interval: float,
        batch_size: int = 500,
        snapshot_max_backoff: float = SNAPSHOT_MAX_BACKOFF,
        clustered: bool = False,
        retention: float = 0.0,
    ) -> None:
        self._node = node_store
        self._retention = retention
        self._store = store
        #: A cluster node: writes carry each actor's lease fence, not the node's epoch.
        self.clustered = clustered
        self.node_id = node_id
        self._stats = stats
        self._interval = interval
        self._batch_size = batch_size
        self.snapshot_max_backoff = snapshot_max_backoff
        self._opened = False  # open, with this node's epoch taken
        self._connected = False  # open (the epoch may still be missing)
        self._open_lock = trio.Lock()
        self._dirty: dict[ActorId, _Dirty] = {}
        self._pending: dict[ActorId, _Snapshot] = {}
        self._durable: dict[ActorId, int] = {}  # dirty marks in node.sqlite, by actor
        self._retries: dict[ActorId, _Retry] = {}  # actors that failed to activate, backing off
        self._deletes: dict[ActorId, _Delete] = {}  # store rows to delete (storage.delete_all)
        # Snapshots of actors busy in a (long) turn run as tasks here, one per actor, so one
        # slow turn never holds up the sync of every other actor (found by the chaos run).
        self._background: trio.Nursery | None = None
        self._busy: set[ActorId] = set()
        # Snapshots being taken in a turn of their own, by token; -1 once a snapshot taken
        # later was recorded meanwhile (the one in the turn is then older: it is dropped).
        self._taking: dict[ActorId, int] = {}
        self._tokens = itertools.count(1)
        self.fence = 0
        self.written_total = 0
        self._probed_at = -float("inf")  # trio time of the last ping
        last = 0
        for actor_type, key, mark in node_store.dirty():
            self._dirty[(actor_type, key)] = _Dirty(since=trio.current_time(), generation=1)
            self._durable[(actor_type, key)] = mark
            last = max(last, mark)
        self._marks = itertools.count(last + 1)  # node-wide: a renewed mark is always higher

    # -- the store, opened on first use ---------------------------------------------------------

    async def store(self) -> SharedStore:
        """The shared store, opened (and this node's epoch taken) on first use.

        Raises:
            StoreUnavailable: it cannot be reached now.
        """
        if not self._opened:
            async with self._open_lock:
                if not self._opened:
                    if not self._connected:  # opening and taking the epoch fail separately
                        await self._store.open()
                        self._connected = True
                    self.fence = await node_epoch(self._store, self.node_id)
                    self._opened = True
        return self._store

    async def aclose(self) -> None:
        """Close the store, also when it never finished opening (an open abandoned at its
        deadline may still complete in its thread); bounded by the store's call deadline."""
        self._opened = False
        await self._store.aclose()

    # -- figures ------------------------------------------------------------------------------

    @property
    def store_ready(self) -> bool:
        """Whether the shared store answered lately (what ``/_roost/ready`` reports).

        False while its last call failed or timed out. Before any call ended: True for an
        embedded store (a file; it is opened when first needed), False for PostgreSQL until
        the first ping answers.
        """
        reachable = self._store.health().reachable
        return reachable is True or (reachable is None and self._store.embedded)

    @property
    def pending(self) -> int:
        """Actors whose latest change is not in the store yet."""
        return len(self._dirty)

    def lag(self) -> float:
        """Seconds since the oldest change that has not reached the store (0 when in sync).

        The dirty actors are kept in the order they became dirty (an actor leaves when it is
        synced and comes back at the end), so the first one has the oldest change.
        """
        for dirty in self._dirty.values():
            return trio.current_time() - dirty.since
        return 0.0

    def is_synced(self, ident: ActorId) -> bool:
        """Whether everything the actor committed is in the store (nothing dirty or pending)."""
        return ident not in self._dirty and ident not in self._pending

    # -- marking, around a turn's commit ------------------------------------------------------

    def before_commit(self, actor: ActorId) -> None:
        """Make the dirty mark durable before the actor's commit (once per unsynced streak)."""
        if actor not in self._durable:
            mark = next(self._marks)
            self._node.mark_dirty(*actor, mark)
            self._durable[actor] = mark

    def after_commit(self, actor: ActorId) -> None:
        """A committed turn changed the actor's state."""
        dirty = self._dirty.get(actor)
        if dirty is None:
            self._dirty[actor] = _Dirty(since=trio.current_time(), generation=1)
        else:
            dirty.generation += 1

    def deleted(self, actor: ActorId, fence: int | None) -> None:
        """A committed turn deleted the actor's data: its store row goes at the next round
        (fenced by ``fence``, its lease's, on a cluster node), and a snapshot taken before
        is dropped. The dirty mark it keeps is cleared by the delete, unless a later turn
        marks the actor dirty again, whose snapshot then follows the delete."""
        self._pending.pop(actor, None)
        self._retries.pop(actor, None)
        if fence is None and self.clustered:  # not ours any more: the owner decides
            self._deletes.pop(actor, None)
            self._synced(actor, None)
            return
        dirty = self._dirty.get(actor)
        if dirty is None:
            dirty = self._dirty[actor] = _Dirty(since=trio.current_time(), generation=1)
        else:
            dirty.generation += 1
        self._deletes[actor] = _Delete(fence, dirty.generation)

    def capture(self, slot: ActorSlot, actor: Actor) -> None:
        """Take the snapshot of a dirty actor now (the caller holds its lock: eviction)."""
        ident = (slot.actor_type, slot.key)
        dirty = self._dirty.get(ident)
        if dirty is not None and not self._only_delete(ident, dirty):
            self._record(ident, actor.snapshot(), dirty.generation, slot, slot.registry)

    # -- running ------------------------------------------------------------------------------

    async def run(self, node: SyncNode) -> None:
        """Sync forever: a round every interval, backing off while the store is down.

        A round with nothing to write may ping the store instead (see the module docstring);
        a PostgreSQL store is pinged at once, so readiness is known from the start.
        """
        delay = 0.0 if not self._store.embedded else self._interval
        async with trio.open_nursery() as nursery:
            if 0 < self._retention < math.inf:  # NaN, infinity: never
                nursery.start_soon(self._retain)
            self._background = nursery
            try:
                await self._sync_rounds(node, delay)
            finally:
                self._background = None

    async def _sync_rounds(self, node: SyncNode, delay: float) -> None:
        while True:
            await self._wait_round(delay)
            try:
                if self._dirty or self._pending:
                    await self.flush(node)
                elif self._should_probe():
                    self._probed_at = trio.current_time()
                    await (await self.store()).ping()
            except* StoreUnavailable as group:
                self._stats.sync_failures_total += 1
                delay = min(max(delay, self._interval) * 2, MAX_BACKOFF)
                log.warning(
                    "shared store unavailable (%s); retrying in %.1f s", group.exceptions[0], delay
                )
            except* Exception:  # a bug must not stop syncing for good: log it, back off
                self._stats.sync_failures_total += 1
                delay = min(max(delay, self._interval) * 2, MAX_BACKOFF)
                log.exception("sync round failed; retrying in %.1f s", delay)
            else:
                delay = self._interval

    async def _wait_round(self, delay: float) -> None:
        """Sleep until the next round; a backoff after a failure ends early once another
        call of this node reached the store again (lease renewals, claims): the store is
        back, and writes acknowledged meanwhile must not wait out a long backoff (found by
        the chaos harness: a PostgreSQL restart left the sync idle for seconds after)."""
        if delay <= self._interval or self._store.health().reachable is not False:
            await trio.sleep(delay)
            return
        deadline = trio.current_time() + delay
        while trio.current_time() < deadline:
            await trio.sleep(min(STORE_BACK_POLL, deadline - trio.current_time()))
            if self._store.health().reachable:
                return

    async def _retain(self) -> None:
        """The retention sweep: at start, then every RETENTION_INTERVAL, delete in batches
        the stored states idle for longer than ``retention`` (see ``retire_states``)."""
        while True:
            try:
                store = await self.store()
                total = 0
                while True:
                    count = await store.retire_states(self._retention, limit=RETENTION_BATCH)
                    total += count
                    if count < RETENTION_BATCH:
                        break
                if total:
                    log.info("retention: deleted %d stored state(s) nobody used", total)
            except StoreUnavailable as exc:
                log.warning("retention sweep failed (%s); next one in an hour", exc)
            except Exception:  # a bug must not stop syncing: log it, try again later
                log.exception("retention sweep failed; next one in an hour")
            await trio.sleep(RETENTION_INTERVAL)

    def _should_probe(self) -> bool:
        """Whether an idle round pings the store (see the module docstring)."""
        if not self.store_ready:
            return True  # find out when it answers again
        if self._store.embedded:
            return False  # a file: the calls that need it tell
        return trio.current_time() - self._probed_at >= PROBE_INTERVAL

    async def flush(self, node: SyncNode) -> None:
        """Snapshot every dirty actor and write everything pending.

        Pipelined: a batch goes to a writer as soon as it is full, so the store writes while
        the next snapshots are taken, with up to WRITES_IN_FLIGHT batches at once (each in
        its own worker thread). An actor is in at most one batch of a pass, so concurrent
        batches never race on one actor.

        Raises:
            StoreUnavailable: the store could not be reached (possibly inside an exception
                group, when several writes failed); nothing is lost.
        """
        if not self._dirty and not self._pending:
            return
        await self.store()
        if self._deletes:  # before any snapshot of this round (see the module docstring)
            await self._delete(node)
        slots = node.slots
        pending = self._pending
        async with trio.open_nursery() as nursery:
            in_flight = trio.Semaphore(WRITES_IN_FLIGHT)
            queued: list[ActorId] = list(pending)  # captured earlier (evictions, retries)

            async def write(idents: list[ActorId], snapshots: list[_Snapshot]) -> None:
                try:
                    await self._write(node, idents, snapshots)
                finally:
                    in_flight.release()

            async def hand_off(count: int) -> None:
                idents: list[ActorId] = []
                snapshots: list[_Snapshot] = []
                for ident in queued[:count]:
                    snapshot = pending.get(ident)
                    if snapshot is not None:
                        idents.append(ident)
                        snapshots.append(snapshot)
                del queued[:count]
                if idents:
                    await in_flight.acquire()
                    nursery.start_soon(write, idents, snapshots)

            dirty_marks = self._dirty
            # The ids only: a list of 20,000 (id, mark) pairs would be 20,000 new objects for
            # the garbage collector, alive all round long.
            for ident in list(dirty_marks):
                dirty = dirty_marks.get(ident)
                if dirty is None:  # synced meanwhile (a batch from an earlier pass)
                    continue
                if self._deletes and self._only_delete(ident, dirty):
                    continue  # deleted, nothing changed since: no snapshot (it is gone)
                snapshot = pending.get(ident)
                if snapshot is None or snapshot.generation != dirty.generation:
                    slot = slots.get(ident)
                    if (
                        slot is not None
                        and slot.actor is not None
                        and not slot.lock.locked()
                        and not slot.group_open
                        and node.serves(slot)
                    ):
                        # Between turns with everything committed: read it as it is, no turn
                        # needed (the common case, so it skips the coroutine of _snapshot).
                        self._retries.pop(ident, None)
                        self._record(ident, slot.actor.snapshot(), dirty.generation, slot, node)
                    elif slot is not None and slot.lock.locked() and self._background:
                        # Busy in a turn (maybe a long one): its snapshot waits for that turn
                        # in a task of its own, never holding up every other actor's sync;
                        # the next round writes it.
                        if ident not in self._busy:
                            self._busy.add(ident)
                            self._background.start_soon(
                                self._snapshot_later, node, ident, dirty.generation
                            )
                        continue
                    else:
                        retry = self._retries.get(ident)
                        if retry is not None and trio.current_time() < retry.due:
                            continue  # it failed to activate: not again before its time
                        await self._snapshot(node, ident, dirty.generation)
                    if snapshot is None and ident in pending:
                        queued.append(ident)
                while len(queued) >= self._batch_size:
                    await hand_off(self._batch_size)
            while queued:
                await hand_off(self._batch_size)

    def _only_delete(self, ident: ActorId, dirty: _Dirty) -> bool:
        """Whether the actor's one change since it was last synced is a delete."""
        delete = self._deletes.get(ident)
        return delete is not None and delete.generation == dirty.generation

    async def _delete(self, node: SyncNode) -> None:
        """Delete the store rows of the actors whose data was deleted, in batches, fenced."""
        store = await self.store()
        batch = list(self._deletes.items())
        for start in range(0, len(batch), self._batch_size):
            chunk = batch[start : start + self._batch_size]
            idents = [ident for ident, _ in chunk]
            fences: int | list[int] = self.fence
            if self.clustered:
                fences = [delete.fence or 0 for _, delete in chunk]
            refused = await store.delete_states(fences, idents)
            stale = {(outcome.actor_type, outcome.key) for outcome in refused}
            cleared: list[tuple[str, str, int]] = []
            for ident, delete in chunk:
                if self._deletes.get(ident) is delete:  # not deleted again meanwhile
                    del self._deletes[ident]
                self._synced(ident, None if ident in stale else delete.generation, cleared)
            for ident, delete in chunk:
                if ident not in stale:
                    continue
                log.warning(
                    "shared store refused to delete %s/%s: its fence is stale (another node "
                    "owns it); stopping it here",
                    *ident,
                )
                await node.fence_lost(*ident, delete.fence)
            if cleared:
                await trio.to_thread.run_sync(self._node.clear_dirty, cleared)

    async def _snapshot_later(self, node: SyncNode, ident: ActorId, generation: int) -> None:
        """A busy actor's snapshot, taken once its running turn ends (see :meth:`flush`)."""
        try:
            await self._snapshot(node, ident, generation)
        finally:
            self._busy.discard(ident)

    async def _snapshot(self, node: SyncNode, ident: ActorId, generation: int) -> None:
        """Take a snapshot in a turn: the actor is busy, has a group open, or is not in memory
        (flush reads an actor that is free at once)."""
        slot = node.resolve(*ident)
        if slot is None:
            log.warning("dropping dirty mark of %s/%s: its type is not registered", *ident)
            self._synced(ident, generation)
            return
        taken: list[Any] = []
        token = self._taking[ident] = next(self._tokens)

        async def take(actor: Actor) -> None:
            # The changes this snapshot holds are those marked so far: turn() may await
            # after this turn (a durable actor's output waits for the store, the lock free),
            # and the turns that commit meanwhile are not in it (found by chaos, --durable).
            dirty = self._dirty.get(ident)
            taken.append(dirty.generation if dirty else generation)
            taken.append(actor.snapshot())
            taken.append(node.pending_alarms(slot))
            taken.append(node.file_image(slot))

        try:
            try:
                await slot.turn(take)  # waits for a running turn; activates an evicted actor
            finally:
                superseded = self._taking.get(ident) != token
                if not superseded or self._taking.get(ident) == -1:
                    self._taking.pop(ident, None)
        except NotOwner:
            # Another node owns the actor now (a mark left from before this node lost it):
            # its state is that node's to sync.
            log.info("dropping dirty mark of %s/%s: another node owns it now", *ident)
            self._synced(ident, None)
            return
        except Exception as exc:
            self._could_not_snapshot(ident, exc)
            return
        self._retries.pop(ident, None)
        # Recorded only now: the turn, and any group it closed, committed.
        dirty = self._dirty.get(ident)
        if dirty is not None and self._only_delete(ident, dirty):
            return  # a turn before ours deleted its data: its row goes, no snapshot
        if superseded:
            return  # a snapshot taken after this one was recorded meanwhile (eviction, say)
        held, state, alarms, image = taken
        self._record(ident, state, held, slot, node, alarms=alarms, image=image)

    def _could_not_snapshot(self, ident: ActorId, exc: Exception) -> None:
        """The actor failed to activate for its snapshot: back off, never retry every round
        (that was a traceback per second forever). The dirty mark stays (G7)."""
        self._stats.sync_snapshot_failures_total += 1
        previous = self._retries.get(ident)
        failures = 1 if previous is None else previous.failures + 1
        delay = min(SNAPSHOT_RETRY_DELAY * 2 ** min(failures - 1, 32), self.snapshot_max_backoff)
        self._retries[ident] = _Retry(failures, trio.current_time() + delay)
        if failures == 1:
            log.exception(
                "could not take the snapshot of %s/%s (the actor failed to activate); "
                "retrying in %.0f s",
                *ident,
                delay,
            )
        else:
            log.warning(
                "could not take the snapshot of %s/%s (attempt %d, %s: %s); retrying in %.0f s",
                *ident,
                failures,
                type(exc).__name__,
                exc,
                delay,
            )

    def _record(
        self,
        ident: ActorId,
        state: Any,
        generation: int,
        slot: ActorSlot,
        node: SnapshotSource,
        *,
        alarms: list[dict[str, Any]] | bool | None = False,
        image: bytes | bool | None = False,
    ) -> None:
        """Keep ``state`` as the actor's pending snapshot (None: it has nothing to sync).

        On a cluster node the snapshot carries the actor's lease fence and its pending
        alarms (``alarms``: already read in the snapshot's turn, or False to read them now),
        so the next owner restores both; an actor whose lease this node no longer holds is
        not written at all (a newer owner exists, or will), nor is an instance activated under
        an earlier lease than the one held now (another node may have owned the actor in
        between: its snapshot would overwrite newer state under the new fence).
        """
        if ident in self._taking:  # newer than the snapshot a turn of its own is taking
            self._taking[ident] = -1
        fence = node.lease_fence(*ident)
        if slot.activated_fence is not None and fence != slot.activated_fence:
            fence = None
        if alarms is False:
            alarms = node.pending_alarms(slot)
        assert alarms is not True
        if image is False:
            image = node.file_image(slot)
        assert image is not True
        if fence is None and self.clustered:
            self._pending.pop(ident, None)
            self._synced(ident, None)
            return
        if state is None and (alarms or image):
            # Alarms alone are worth a row (the next owner must fire them), and so is a file
            # image (replicate_file): the image rides with a state write.
            state = {}
        if state is None:  # nothing to sync for this actor
            self._pending.pop(ident, None)
            self._synced(ident, generation)
            return
        try:  # encoded now, so later changes to live objects cannot leak into it
            encoded = EncodedState.encode(state)
        except (TypeError, ValueError) as exc:
            log.error("snapshot of %s/%s is not JSON-able, not synced: %s", *ident, exc)
            self._pending.pop(ident, None)
            self._synced(ident, None)
            return
        self._pending[ident] = _Snapshot(encoded, generation, fence, alarms, image)

    async def _write(
        self, node: SyncNode, idents: list[ActorId], snapshots: list[_Snapshot]
    ) -> None:
        """Write one batch; forget what it stored, stop the actors it was refused for."""
        store = await self.store()
        states = [snapshot.state for snapshot in snapshots]
        if self.clustered:  # each actor under its own lease's fence, with its alarms
            fences: int | list[int] = [snapshot.fence or 0 for snapshot in snapshots]
            alarms: list[Any] | None = [snapshot.alarms for snapshot in snapshots]
        else:
            fences, alarms = self.fence, None
        refused = await store.write_snapshots(fences, idents, states, alarms)
        self._stats.sync_batches_total += 1
        self.written_total += len(idents) - len(refused)
        stale = {(outcome.actor_type, outcome.key): outcome for outcome in refused}
        pending = self._pending
        cleared: list[tuple[str, str, int]] = []
        for ident, snapshot in zip(idents, snapshots, strict=True):
            if pending.get(ident) is snapshot:
                del pending[ident]
            if ident not in stale:
                self._synced(ident, snapshot.generation, cleared)
        for ident, snapshot in zip(idents, snapshots, strict=True):
            if snapshot.image is not None and ident not in stale:
                await self._put_image(store, ident, snapshot)
        for ident, snapshot in zip(idents, snapshots, strict=True):
            outcome = stale.get(ident)
            if outcome is None:
                continue
            log.warning(
                "shared store refused %s/%s: its fence is stale (now %d, another node owns "
                "it); stopping it here",
                *ident,
                outcome.fence,
            )
            self._synced(ident, None, cleared)
            await node.fence_lost(*ident, snapshot.fence)
        if cleared:  # one node.sqlite transaction per batch, off the event loop
            await trio.to_thread.run_sync(self._node.clear_dirty, cleared)

    async def _put_image(self, store: SharedStore, ident: ActorId, snapshot: _Snapshot) -> None:
        """Store the file image that came with a written snapshot (``replicate_file``).

        Its position orders the images of an actor: the fence first (a newer owner's image
        is newer), then the wall clock of this node (within one owner).
        """
        assert snapshot.image is not None
        fence = snapshot.fence if self.clustered else self.fence
        seq = ((fence or 0) << 41) + int(time.time() * 1000) % (1 << 41)
        await store.put_file_image(*ident, fence=fence or 0, seq=seq, image=snapshot.image)

    def _synced(
        self,
        ident: ActorId,
        generation: int | None,
        cleared: list[tuple[str, str, int]] | None = None,
    ) -> None:
        """The store has the actor's state up to ``generation`` (None: forget it anyway).

        Its durable mark goes too: at once, or collected in ``cleared`` for one transaction.
        """
        dirty = self._dirty.get(ident)
        if dirty is None or generation is None or dirty.generation <= generation:
            self._dirty.pop(ident, None)
            self._deletes.pop(ident, None)
            mark = self._durable.pop(ident, None)
            if mark is not None:
                if cleared is None:
                    self._node.clear_dirty([(*ident, mark)])
                else:
                    cleared.append((*ident, mark))


async def node_epoch(store: SharedStore, node_id: str) -> int:
    """A fence for this node's writes, higher than any node took before (G7).

    Taken from the store's lease counter of one well-known row: every new taker gets the
    previous fence plus one, so a node that starts later out-fences the earlier ones.
    """
    while True:
        lease = await store.acquire_lease(EPOCH_TYPE, EPOCH_KEY, node_id, 5.0)
        if lease is not None:
            await store.release_lease(lease)
            # Above every per-actor fence too: a single node started on a store a cluster
            # used must not have its writes refused as stale.
            return max(lease.fence, await store.max_fence())
        await trio.sleep(0.05)  # another node is taking its epoch right now
