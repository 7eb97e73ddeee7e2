"""Durable output (issue 15): nothing a client saw acknowledged is lost with the machine.

For a durable actor (``durable = True``, or ``roost serve --durable``; PostgreSQL only), the
output of a turn group (replies, sends, broadcasts, rpc results, the values HTTP callers get)
leaves only once the group's commit is in the shared store:

1. After the local COMMIT the slot reads the commit's pages from the file's WAL
   (``storage/_wal.WalTail``: each page as a delta against its previous version, tens of
   bytes for a small change) and hands them to the node's :class:`DurableShipper` with the
   next position of the actor's log; the outbox *holds* the group's output under that
   position instead of releasing it.
2. The shipper appends everything queued, from every actor, in one store transaction; each
   entry is accepted only while this node holds the actor's unexpired lease with the entry's
   fence (the database checks it). Accepted: the held output of each actor is released up
   to its acknowledged position, in order. Refused: the held output is dropped (calls get
   ``unavailable``), and the actor stops here: a newer owner exists.
3. Once the log since the last image is as large as that image (and at least 1 MiB), the
   actor's file is copied (consistently, compressed) to the store as an image at the current
   position, by a task of its own; the log before it is pruned once older than
   ``--log-retention``, which keeps point-in-time restores possible within it.
4. A node that activates a durable actor rebuilds its file from the store (the newest image
   plus the log after it), whatever its local file says: a local file may hold a commit that
   was never acknowledged (the node died before shipping it), and the store's history is
   exactly what clients were told.

Group commit keeps the cost down: while an append is in flight, the actor's next turns go on
committing locally and queue behind it; the next append carries all of them.

Long because: the shipper's loop, the per-actor log positions it keeps, the image taking and
the rebuild at activation are one mechanism over one store history; split, each part would
reach into the same per-actor state.
"""

from __future__ import annotations

import logging
import sqlite3
import zlib
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import Protocol

import attrs
import trio

from roost._errors import StoreUnavailable
from roost.storage import SharedStore, remove_actor_file
from roost.storage._shared._history import LogEntry
from roost.storage._wal import WalTail, apply_commits, decode_commit, encode_commit

from ._stats import NodeStats

log = logging.getLogger("roost.durable")

ActorId = tuple[str, str]
#: An image of an actor's file is taken once its log since the last image holds at least this
#: many bytes, and IMAGE_LOG_RATIO times the file's size: copying and compressing the file
#: then costs a fraction of what logging cost, however large the file.
IMAGE_MIN_LOG_BYTES = 1 << 20
IMAGE_LOG_RATIO = 4
#: Entries appended per store transaction at most.
MAX_BATCH = 2000
#: Appends in flight at once (PostgreSQL commits concurrent transactions together).
APPENDS_IN_FLIGHT = 3
#: Longest wait between retries while the store does not answer.
MAX_BACKOFF = 5.0


@attrs.define
class DurableState:
    """One durable actor's place in its log, for as long as this node serves it."""

    tail: WalTail
    next_seq: int  # the position the next commit gets
    acked_seq: int  # every entry up to it is in the store
    ahead: set[int] = attrs.field(factory=set)  # acknowledged beyond a gap (out of order)
    since_image: int = 0  # log bytes since the last image
    file_bytes: int = 0  # the file's size at the last image
    acked: trio.Event = attrs.field(factory=trio.Event)  # set (and replaced) at each ack


class DurableSlot(Protocol):
    """What the shipper needs of a durable actor's slot (runtime/_slot.py implements it)."""

    actor_type: str
    key: str
    durable: DurableState | None

    def release_durable(self, seq: int) -> None:
        """Entries up to ``seq`` are in the store: release the output held for them."""
        ...

    def fail_durable(self) -> None:
        """The store refused the actor's entries: drop the held output."""
        ...


class DurableNode(Protocol):
    """What the shipper needs of its node (the registry)."""

    def lease_fence(self, actor_type: str, key: str) -> int | None: ...

    async def fence_lost(self, actor_type: str, key: str, fence: int | None = None) -> None: ...

    async def take_image(self, slot: DurableSlot) -> tuple[int, bytes, int] | None:
        """A consistent compressed copy of the actor's file, the log position it holds and
        the file's size."""
        ...


@attrs.frozen
class _Queued:
    slot: DurableSlot
    state: DurableState  # the history the entry belongs to (a rebuild starts a new one)
    entry: LogEntry


class DurableShipper:
    """Appends durable actors' commits to the store, then releases their held output.

    Args:
        store: opens (on first use) and returns the shared store.
        node_id: the lease holder the store checks every entry against.
        log_retention: seconds of history kept for point-in-time restores.
    """

    def __init__(
        self,
        store: Callable[[], Awaitable[SharedStore]],
        *,
        node_id: str,
        stats: NodeStats,
        log_retention: float,
    ) -> None:
        self._store = store
        self.node_id = node_id
        self._stats = stats
        self.log_retention = log_retention
        self._queue: list[_Queued] = []
        self._wake = trio.Event()
        self._images: list[DurableSlot] = []
        self._image_wake = trio.Event()
        #: Appends in flight per actor, and an event set (and replaced) when one ends.
        self._flying: dict[ActorId, int] = {}
        self._landed = trio.Event()
        #: Actors whose history could not be rebuilt, already reported (bounded).
        self._broken: set[ActorId] = set()
        #: Each durable actor's place in its log, kept while this node holds its lease (its
        #: slot may come and go meanwhile: the queue may still hold its commits).
        self.states: dict[ActorId, DurableState] = {}

    def idle(self, ident: ActorId) -> bool:
        """No commit of the actor waits for the store (its lease may be released)."""
        state = self.states.get(ident)
        return state is None or state.acked_seq >= state.next_seq - 1

    def forget(self, ident: ActorId) -> None:
        """The actor's lease is gone: its place in the log is the next owner's business."""
        state = self.states.pop(ident, None)
        if state is not None:
            state.acked.set()  # waiters find it gone: their output never leaves
        self._queue = [q for q in self._queue if (q.entry.actor_type, q.entry.key) != ident]

    # -- the slot's side -----------------------------------------------------------------------

    def committed(self, slot: DurableSlot, fence: int) -> int | None:
        """Queue the commits the slot's last COMMIT wrote; the position of the last one, or
        None when it wrote nothing (nothing to wait for).

        Raises:
            StorageError: the WAL cannot be read (the caller fails the group: G4).
        """
        state = slot.durable
        assert state is not None
        commits = state.tail.read()
        if not commits:
            return None
        for commit in commits:
            seq = state.next_seq
            state.next_seq += 1
            entry = LogEntry(slot.actor_type, slot.key, fence, seq, encode_commit(commit))
            state.since_image += len(entry.entry)
            self._queue.append(_Queued(slot, state, entry))
        if (
            state.since_image >= max(IMAGE_MIN_LOG_BYTES, IMAGE_LOG_RATIO * state.file_bytes)
            and slot not in self._images
        ):
            self._images.append(slot)
            self._image_wake.set()
        self._wake.set()
        return state.next_seq - 1

    async def wait_acked(self, slot: DurableSlot, seq: int) -> None:
        """Until the slot's entries up to ``seq`` are in the store (or its lease is gone).

        Raises:
            NotOwner-like RpcError: the caller's result must not leave (raised by the slot).
        """
        ident = (slot.actor_type, slot.key)
        state = self.states.get(ident)
        while state is not None and state.acked_seq < seq and self.states.get(ident) is state:
            await state.acked.wait()

    async def wait_landed(self, ident: ActorId) -> None:
        """Until no append carrying the actor's entries is in flight: before a rebuild under
        a lease this node held before (claimed again with the same fence, the store accepts
        the old history's entries as this one's), so none of them lands in the new history.
        Each append ends within the store's call deadline."""
        while self._flying.get(ident):
            await self._landed.wait()

    def rebuild_failed(self, ident: ActorId, exc: Exception) -> None:
        """The actor's history does not rebuild (a delta that does not fit its page): count
        it, and say it once per actor at ERROR (every activation tries again)."""
        self._stats.durable_rebuild_failures_total += 1
        level = logging.DEBUG if ident in self._broken else logging.ERROR
        if len(self._broken) < 1000:
            self._broken.add(ident)
        log.log(level, "cannot rebuild the file of %s/%s from the store: %s", *ident, exc)

    @property
    def pending(self) -> int:
        """Entries waiting for the store."""
        return len(self._queue)

    # -- running -------------------------------------------------------------------------------

    async def run(self, node: DurableNode) -> None:
        """Ship forever: everything queued in one transaction, then release; retry while the
        store is down (the output stays held meanwhile: nothing unacknowledged leaves).
        Images are taken by a task of their own, so a large file never delays the log."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._image_loop, node)
            await self._ship_loop(node)

    async def _image_loop(self, node: DurableNode) -> None:
        while True:
            if not self._images:
                self._image_wake = trio.Event()
                await self._image_wake.wait()
            try:
                await self._take_images(node)
            except StoreUnavailable as exc:
                log.warning("could not store an image (%s); retrying later", exc)
                await trio.sleep(MAX_BACKOFF)

    async def _ship_loop(self, node: DurableNode) -> None:
        """Up to APPENDS_IN_FLIGHT batches at once (PostgreSQL commits them together): an
        actor's output is released only up to the first position not yet acknowledged, so
        batches that finish out of order release nothing early."""
        delay = 0.0
        in_flight = trio.Semaphore(APPENDS_IN_FLIGHT)
        failed = trio.Event()
        async with trio.open_nursery() as nursery:
            while True:
                if not self._queue:
                    self._wake = trio.Event()
                    await self._wake.wait()
                await in_flight.acquire()
                if failed.is_set():  # the store failed: back off before the next batch
                    failed = trio.Event()
                    delay = min(max(delay * 2, 0.05), MAX_BACKOFF)
                    await trio.sleep(delay)
                elif in_flight.value == APPENDS_IN_FLIGHT - 1:
                    delay = 0.0
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                if not batch:
                    in_flight.release()
                    continue
                nursery.start_soon(self._append_one, node, batch, in_flight, failed)

    async def _append_one(
        self,
        node: DurableNode,
        batch: list[_Queued],
        in_flight: trio.Semaphore,
        failed: trio.Event,
    ) -> None:
        try:
            await self._append(node, batch)
        except StoreUnavailable as exc:
            # First again, in order; not those of a history that ended meanwhile (the lease
            # lost, the file rebuilt): its entries must never land in the next one.
            self._queue[:0] = [q for q in batch if self._current(q)]
            log.warning("durable log unavailable (%s); retrying", exc)
            failed.set()
            self._wake.set()
        finally:
            in_flight.release()

    def _current(self, queued: _Queued) -> bool:
        """Whether the entry belongs to the actor's history as this node ships it now."""
        return self.states.get((queued.entry.actor_type, queued.entry.key)) is queued.state

    async def _append(self, node: DurableNode, batch: list[_Queued]) -> None:
        idents = {(q.entry.actor_type, q.entry.key) for q in batch}
        for ident in idents:
            self._flying[ident] = self._flying.get(ident, 0) + 1
        try:
            store = await self._store()
            refused = set(await store.append_log(self.node_id, [q.entry for q in batch]))
        finally:  # landed or not: what follows (a refusal's eviction) is not waited for
            for ident in idents:
                if self._flying[ident] > 1:
                    self._flying[ident] -= 1
                else:
                    del self._flying[ident]
            self._landed.set()
            self._landed = trio.Event()
        self._stats.durable_entries_total += len(batch) - len(refused)
        done: dict[DurableSlot, list[int]] = {}
        for queued in batch:
            ident = (queued.entry.actor_type, queued.entry.key)
            if ident not in refused and self._current(queued):
                done.setdefault(queued.slot, []).append(queued.entry.seq)
        for slot, seqs in done.items():
            state = self.states[slot.actor_type, slot.key]
            state.ahead.update(seqs)
            while state.acked_seq + 1 in state.ahead:  # contiguous from the last release
                state.ahead.discard(state.acked_seq + 1)
                state.acked_seq += 1
            state.acked.set()
            state.acked = trio.Event()
            slot.release_durable(state.acked_seq)
        for ident in refused:
            await self._refused(node, ident, batch)

    async def _refused(self, node: DurableNode, ident: ActorId, batch: list[_Queued]) -> None:
        """The store refused the actor's entries in ``batch``: the lease they were appended
        under is gone. Its history ends here, unless this node holds a newer lease of the
        actor, or holds none and the history has ended already: then the refusal is only the
        ended history's, and a history running or starting under a new lease, its log and its
        lease are left alone (CI found a refusal that arrived after the claim dropping the
        new lease mid-activation)."""
        actor_type, key = ident
        mine = [q for q in batch if (q.entry.actor_type, q.entry.key) == ident]
        fence = max(q.entry.fence for q in mine)
        held = node.lease_fence(actor_type, key)
        ended = held is None and not any(self._current(q) for q in mine)
        if ended or (held is not None and held > fence):
            # This node claimed the actor again, or the history has ended already and this
            # node may be claiming it now (the store's new fence refused the entry before
            # the claim's answer came back: CI found it under load).
            log.info(
                "the store refused the log of %s/%s under fence %d, a history that ended",
                actor_type,
                key,
                fence,
            )
            return
        log.warning(
            "the store refused the log of %s/%s (its lease is gone); stopping it here",
            actor_type,
            key,
        )
        # Even for an ended history's entries under this fence: that lease is gone (a
        # history started again under the same lease included); the next activation rebuilds.
        mine[0].slot.fail_durable()
        self.forget(ident)
        await node.fence_lost(actor_type, key, fence)

    async def _take_images(self, node: DurableNode) -> None:
        """Store an image of each actor that logged as much as its last image since,
        then prune what the retention no longer needs."""
        images, self._images = self._images, []
        store = await self._store()
        for slot in images:
            ident = (slot.actor_type, slot.key)
            state = self.states.get(ident)
            taken = await node.take_image(slot)
            fence = node.lease_fence(slot.actor_type, slot.key)
            if (
                taken is None
                or state is None
                or fence is None
                or self.states.get(ident) is not state
            ):
                continue  # (a history that ended while the file was copied: not its image)
            seq, image, file_bytes = taken
            state.file_bytes = file_bytes
            while state.acked_seq < seq and self.states.get(ident) is state:
                await state.acked.wait()  # the image holds entries up to seq: after them
            if self.states.get(ident) is not state or state.acked_seq < seq:
                continue  # the history ended first: an image of it would hold entries (the
                # ones never acknowledged) that the next one does not, under the same fence
            if await store.put_file_image(
                slot.actor_type, slot.key, fence=fence, seq=seq, image=image, node_id=self.node_id
            ):
                state.since_image = 0
                await store.prune_file_history(slot.actor_type, slot.key, self.log_retention)


async def rebuild_file(
    store: SharedStore,
    path: Path,
    actor_type: str,
    key: str,
    *,
    node_id: str | None = None,
    fence: int | None = None,
) -> int | None:
    """Rebuild an actor's file from the store's history (its newest image, then the log
    after it); returns the position of the last commit (0: nothing stored). The local file,
    with its WAL, is replaced whatever it held.

    Under a lease (``node_id`` and ``fence``), the history goes on from the file: the log
    entries past it (beyond a gap, so never acknowledged) are dropped before anything is
    appended. The same node claiming its expired lease again keeps its fence, so without
    that the next owner would read the old history's leftovers as this one's entries
    (found by chaos: "a log entry's delta does not fit"). Returns None when the lease was
    lost meanwhile.

    Raises:
        StorageError: the history does not rebuild (no file is left).
    """
    history = await store.read_file_history(actor_type, key)
    await trio.to_thread.run_sync(_write_history, path, history.image, history.entries)
    if node_id is not None and fence is not None:
        kept = await store.truncate_log(
            actor_type, key, after=history.last_seq, fence=fence, node_id=node_id
        )
        if not kept:
            return None
    return history.last_seq


def _write_history(path: Path, image: bytes | None, entries: list[tuple[int, bytes]]) -> None:
    remove_actor_file(path)
    if image is None and not entries:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if image is not None:
            path.write_bytes(zlib.decompress(image))
        apply_commits(path, [decode_commit(entry) for _, entry in entries])
    except BaseException:
        remove_actor_file(path)  # never a half-rebuilt file under the actor's name
        raise


def serialize_file(path: Path) -> bytes:
    """A database file's bytes as SQLite reads it (its WAL included), taken while nobody
    writes it (the caller holds the actor's lock, or no connection is open)."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.serialize()


def read_image(path: Path) -> bytes:
    """A compressed copy of a database file (see :func:`serialize_file`)."""
    return zlib.compress(serialize_file(path), 1)


async def restore_image(store: SharedStore, path: Path, actor_type: str, key: str) -> bool:
    """Write the newest file image the store holds (``replicate_file``) as the actor's
    file; False when there is none (the file is left as it was)."""
    history = await store.read_file_history(actor_type, key)
    if history.image is None:
        return False
    await trio.to_thread.run_sync(_write_history, path, history.image, [])
    return True
