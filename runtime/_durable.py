"""Durable output (issue 15): nothing a client saw acknowledged is lost with the machine.

For a durable actor (``durable = True``, or ``roost serve --durable``; PostgreSQL only), the
output of a turn group (replies, sends, broadcasts, rpc results, the values HTTP callers get)
leaves only once the group's commit is in the shared store:

1. After the local COMMIT the slot reads the commit's pages from the file's WAL
   (``storage/_wal.WalTail``) and hands them to the node's :class:`DurableShipper` with the
   next position of the actor's log; the outbox *holds* the group's output under that
   position instead of releasing it.
2. The shipper appends everything queued, from every actor, in one store transaction; each
   entry is accepted only while this node holds the actor's unexpired lease with the entry's
   fence (the database checks it). Accepted: the held output of each actor is released up
   to its acknowledged position, in order. Refused: the held output is dropped (calls get
   ``unavailable``), and the actor stops here: a newer owner exists.
3. Every ``IMAGE_EVERY`` entries the actor's file is copied (checkpointed, compressed) to the
   store as an image at the current position; the log before it is pruned once older than
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
#: Log entries between two images of an actor's file.
IMAGE_EVERY = 256
#: Entries appended per store transaction at most.
MAX_BATCH = 2000
#: Longest wait between retries while the store does not answer.
MAX_BACKOFF = 5.0


@attrs.define
class DurableState:
    """One durable actor's place in its log, for as long as this node serves it."""

    tail: WalTail
    next_seq: int  # the position the next commit gets
    acked_seq: int  # every entry up to it is in the store
    since_image: int = 0  # entries since the last image
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

    async def fence_lost(self, actor_type: str, key: str) -> None: ...

    async def take_image(self, slot: DurableSlot) -> tuple[int, bytes] | None:
        """A consistent compressed copy of the actor's file and the log position it holds."""
        ...


@attrs.frozen
class _Queued:
    slot: DurableSlot
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
            state.since_image += 1
            entry = LogEntry(slot.actor_type, slot.key, fence, seq, encode_commit(commit))
            self._queue.append(_Queued(slot, entry))
        if state.since_image >= IMAGE_EVERY and slot not in self._images:
            self._images.append(slot)
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

    @property
    def pending(self) -> int:
        """Entries waiting for the store."""
        return len(self._queue)

    # -- running -------------------------------------------------------------------------------

    async def run(self, node: DurableNode) -> None:
        """Ship forever: everything queued in one transaction, then release; retry while the
        store is down (the output stays held meanwhile: nothing unacknowledged leaves)."""
        delay = 0.0
        while True:
            if not self._queue and not self._images:
                self._wake = trio.Event()
                await self._wake.wait()
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                if batch:
                    await self._append(node, batch)
                if not self._queue:
                    await self._take_images(node)
            except StoreUnavailable as exc:
                self._queue[:0] = batch  # first again, in order
                delay = min(max(delay * 2, 0.05), MAX_BACKOFF)
                log.warning("durable log unavailable (%s); retrying in %.2f s", exc, delay)
                await trio.sleep(delay)
            else:
                delay = 0.0

    async def _append(self, node: DurableNode, batch: list[_Queued]) -> None:
        store = await self._store()
        refused = set(await store.append_log(self.node_id, [q.entry for q in batch]))
        self._stats.durable_entries_total += len(batch) - len(refused)
        last: dict[DurableSlot, int] = {}
        for queued in batch:
            if (queued.entry.actor_type, queued.entry.key) not in refused:
                last[queued.slot] = queued.entry.seq
        for slot, seq in last.items():
            state = self.states.get((slot.actor_type, slot.key))
            if state is not None:
                state.acked_seq = max(state.acked_seq, seq)
                state.acked.set()
                state.acked = trio.Event()
            slot.release_durable(seq)
        for actor_type, key in refused:
            log.warning(
                "the store refused the log of %s/%s (its lease is gone); stopping it here",
                actor_type,
                key,
            )
            for queued in batch:
                if (queued.entry.actor_type, queued.entry.key) == (actor_type, key):
                    queued.slot.fail_durable()
                    break
            self.forget((actor_type, key))
            await node.fence_lost(actor_type, key)

    async def _take_images(self, node: DurableNode) -> None:
        """Store an image of each actor that logged IMAGE_EVERY entries since its last one,
        then prune what the retention no longer needs."""
        images, self._images = self._images, []
        store = await self._store()
        for slot in images:
            taken = await node.take_image(slot)
            state = self.states.get((slot.actor_type, slot.key))
            fence = node.lease_fence(slot.actor_type, slot.key)
            if taken is None or state is None or fence is None:
                continue
            seq, image = taken
            if await store.put_file_image(
                slot.actor_type, slot.key, fence=fence, seq=seq, image=image, node_id=self.node_id
            ):
                state.since_image = 0
                await store.prune_file_history(slot.actor_type, slot.key, self.log_retention)


async def rebuild_file(store: SharedStore, path: Path, actor_type: str, key: str) -> int:
    """Rebuild an actor's file from the store's history (its newest image, then the log
    after it); returns the position of the last commit (0: nothing stored). The local file,
    with its WAL, is replaced whatever it held."""
    history = await store.read_file_history(actor_type, key)
    await trio.to_thread.run_sync(_write_history, path, history.image, history.entries)
    return history.last_seq


def _write_history(path: Path, image: bytes | None, entries: list[tuple[int, bytes]]) -> None:
    remove_actor_file(path)
    if image is None and not entries:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if image is not None:
        path.write_bytes(zlib.decompress(image))
    apply_commits(path, [decode_commit(entry) for _, entry in entries])


def read_image(path: Path) -> bytes:
    """A compressed copy of a database file as SQLite reads it (its WAL included), taken
    while nobody writes it (the caller holds the actor's lock, or no connection is open)."""
    with closing(sqlite3.connect(path)) as conn:
        return zlib.compress(conn.serialize(), 6)


async def restore_image(store: SharedStore, path: Path, actor_type: str, key: str) -> bool:
    """Write the newest file image the store holds (``replicate_file``) as the actor's
    file; False when there is none (the file is left as it was)."""
    history = await store.read_file_history(actor_type, key)
    if history.image is None:
        return False
    await trio.to_thread.run_sync(_write_history, path, history.image, [])
    return True
