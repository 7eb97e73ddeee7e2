"""The registry of a node's actor slots.

The registry creates slots (synchronously: G1 inside a node), tracks which instances are in
memory (least recently used first, for ``max_active_actors`` and idle eviction), and carries
what slots share: the handle pool, the clock, the alarm scheduler, the sync worker, the group
committer, and actor-to-actor calls. It gets them all at construction (runtime/_node.py
builds a node's services in dependency order); it runs a slot's lifecycle
(``runtime/_activation``) when the slot asks, and it implements the slot's
:class:`~roost.runtime._slot.SlotNode` and the sync worker's :class:`~roost.runtime._sync.SyncNode`.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from roost._errors import CloseCode, CommitFailed, RpcError
from roost.actors import Actor
from roost.actors.hosting import RESERVED_ALARM_PREFIX, bind_call
from roost.storage import ActorStorage, Checkpointer, HandlePool, actor_db_path

from . import _activation
from ._alarm_turns import fire_alarms
from ._alarms import AlarmScheduler, NodeClock
from ._app import ActorType, App
from ._batcher import PassBatcher
from ._durable import DurableShipper, DurableSlot, read_image, serialize_file
from ._lifecycle import ActorState
from ._placement import Placement
from ._slot import ActorSlot
from ._stats import NodeStats
from ._sync import SyncWorker

log = logging.getLogger("roost.actor")
#: The actors waiting on each other's rpc calls in the current task, to refuse cycles.
_call_chain: contextvars.ContextVar[tuple[ActorSlot, ...]] = contextvars.ContextVar(
    "roost_call_chain", default=()
)


class ActorRegistry:
    """Every actor slot of this node, and what they share: storage pool, clock, alarms, sync.

    Args:
        app: the actor types, to resolve a type name (actor-to-actor calls, alarms, sync).
        max_active_actors: instances kept in memory at most; past it the least recently
            used idle actors are evicted (hibernated, or stopped without connections).
        max_group_turns: consecutive turns of one actor sharing a COMMIT at most (0: no
            group commit); it bounds how long a reply may wait for the group's commit.
        max_key_bytes: longest actor key in UTF-8 bytes, for actor-to-actor calls too (G9).
        call_timeout: seconds an actor-to-actor call may wait for its answer.
        committer: closes deferred groups once per scheduler pass (run by the node).
    """

    def __init__(
        self,
        *,
        app: App,
        data_dir: Path,
        max_open_databases: int,
        synchronous: str,
        max_active_actors: int,
        max_group_turns: int = 64,
        max_key_bytes: int = 512,
        call_timeout: float = 30.0,
        stats: NodeStats,
        clock: NodeClock,
        scheduler: AlarmScheduler,
        sync: SyncWorker,
        committer: PassBatcher[ActorSlot],
        node_id: str,
        placement: Placement,
        shipper: DurableShipper,
        durable: bool = False,
    ) -> None:
        self.app = app
        self.data_dir = data_dir
        self.synchronous = synchronous
        self.max_active_actors = max_active_actors
        self.max_group_turns = max_group_turns
        self.max_key_bytes = max_key_bytes
        self.call_timeout = call_timeout
        self.stats = stats
        self.pool = HandlePool(max_open=max_open_databases)
        self.checkpoints = Checkpointer(counted=stats.checkpointed)  # the server runs it
        self.clock = clock
        self.scheduler = scheduler
        self.sync = sync
        self.committer = committer
        #: This node process's identity in the shared store.
        self.node_id = node_id
        #: Where actors live: here (a single node) or under this node's leases (a cluster).
        self.placement = placement
        self.clustered = placement.clustered
        #: Durable output (runtime/_durable): the node's log shipper, and whether every actor
        #: is durable (``--durable``) or only classes that say so.
        self.shipper = shipper
        self.durable_all = durable
        self.slots: dict[tuple[str, str], ActorSlot] = {}
        self.active: OrderedDict[ActorSlot, None] = OrderedDict()  # least recently used first
        self._evictor: trio.Nursery | None = None
        self._connection_ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex()

    def resolve(self, actor_type: str, key: str) -> ActorSlot | None:
        """The slot of an actor id, created on first use; None for an unknown type."""
        registered = self.app.get(actor_type)
        return None if registered is None else self.slot(registered, key)

    def slot(self, actor_type: ActorType, key: str) -> ActorSlot:
        """The slot of (type, key), created on first use; never awaits (G1)."""
        ident = (actor_type.name, key)
        slot = self.slots.get(ident)
        if slot is None:
            slot = self.slots[ident] = ActorSlot(self, actor_type, key)
        return slot

    def storage_for(self, actor_type: str, key: str, *, durable: bool) -> ActorStorage:
        """Storage for one actor; its file is created when first used (and stamped with the
        lease's fence on a cluster node); its WAL checkpointed aside unless it is durable."""
        return ActorStorage(
            self.db_path(actor_type, key),
            actor_type=actor_type,
            key=key,
            pool=self.pool,
            synchronous=self.synchronous,
            fence=self.placement.fence(actor_type, key) if self.clustered else None,
            checkpoints=None if durable else self.checkpoints,
        )

    # -- durable output (runtime/_durable) ----------------------------------------------------

    def durable_for(self, slot: ActorSlot) -> bool:
        """Whether the actor's output waits for the store (``--durable``, or its class)."""
        return self.clustered and (self.durable_all or bool(getattr(slot.cls, "durable", False)))

    def file_image(self, slot: ActorSlot) -> bytes | None:
        """The actor's whole file as its connection sees it, compressed, for an actor class
        with ``replicate_file`` (None otherwise, or when it has no file)."""
        if not getattr(slot.cls, "replicate_file", False):
            return None
        storage = slot.open_storage
        if storage is not None and storage.opened:
            return zlib.compress(storage.db.conn.serialize(), 1)
        path = self.db_path(slot.actor_type, slot.key)
        return read_image(path) if path.exists() else None

    async def take_image(self, slot: DurableSlot) -> tuple[int, bytes, int] | None:
        """A compressed copy of a durable actor's file at its current log position: the
        bytes are copied between turns, with its group committed (the actor waits only for
        that copy, in memory), and compressed afterwards in a worker thread."""
        live = self.slots.get((slot.actor_type, slot.key))
        state = self.shipper.states.get((slot.actor_type, slot.key))
        if live is None or state is None:
            return None
        async with live.lock:
            live.flush_group()
            storage = live.open_storage
            seq = state.next_seq - 1
            if storage is not None and storage.opened:
                raw = storage.db.conn.serialize()
            else:
                path = self.db_path(live.actor_type, live.key)
                if not path.exists():
                    return None
                raw = await trio.to_thread.run_sync(serialize_file, path)
        image = await trio.to_thread.run_sync(zlib.compress, raw, 1)
        return seq, image, len(raw)

    # -- the cluster's questions (runtime/_placement) -----------------------------------------

    def serves(self, slot: ActorSlot) -> bool:
        """Whether the slot's instance may run a turn or release output now: this node holds
        the actor's lease, and under the fence the instance was activated with (a lease lost
        and claimed again means another node may have owned the actor meanwhile: the
        instance in memory is stale)."""
        if not self.placement.serves(slot.actor_type, slot.key):
            return False
        fence = slot.activated_fence
        return fence is None or fence == self.placement.fence(slot.actor_type, slot.key)

    def lease_fence(self, actor_type: str, key: str) -> int | None:
        return self.placement.fence(actor_type, key) if self.clustered else None

    def has_slot(self, actor_type: str, key: str) -> bool:
        return (actor_type, key) in self.slots

    def pending_alarms(self, slot: ActorSlot) -> list[dict[str, Any]] | None:
        """The actor's own pending alarms, for the store (a cluster node; else None): they
        move with its state, so the next owner fires them (roost's own alarms stay)."""
        if not self.clustered:
            return None
        storage = slot.open_storage
        if storage is None and not self.db_path(slot.actor_type, slot.key).exists():
            return None
        fields = ("name", "due_at", "scheduled_at", "payload")
        return [
            {field: getattr(a, field) for field in fields}
            for a in slot.alarms.list()
            if not a.quarantined and not a.name.startswith(RESERVED_ALARM_PREFIX)
        ] or None

    async def wake_for_alarms(self, actor_type: str, key: str) -> None:
        """Activate an actor taken over for its due alarms (its state and alarms come from
        the store); the scheduler fires them once they are in this node's index."""
        slot = self.resolve(actor_type, key)
        if slot is None:
            return

        async def nothing(actor: Actor) -> None:
            return None

        await slot.turn(nothing)

    def db_path(self, actor_type: str, key: str) -> Path:
        return actor_db_path(self.data_dir, actor_type, key)

    def new_connection_id(self) -> str:
        """A connection id unique within this process."""
        return f"{self._id_prefix}-{next(self._connection_ids):x}"

    # -- the set of active instances ---------------------------------------------------------

    def activated(self, slot: ActorSlot) -> None:
        self.stats.activations_total += 1
        self.active[slot] = None
        if len(self.active) > self.max_active_actors and self._evictor is not None:
            self._evictor.start_soon(self._evict_over_limit)

    def deactivated(self, slot: ActorSlot) -> None:
        self.active.pop(slot, None)

    def touch(self, slot: ActorSlot) -> None:
        if slot in self.active:
            self.active.move_to_end(slot)

    # -- the lifecycle of a slot (runtime/_activation) ----------------------------------------

    async def activate(self, slot: ActorSlot) -> Actor:
        return await _activation.activate(slot)

    async def let_stranger_go(self, slot: ActorSlot) -> None:
        await _activation.let_stranger_go(slot)

    def restart(self, slot: ActorSlot) -> None:
        _activation.restart(slot)

    def counts(self) -> tuple[int, int]:
        """(active, hibernated) instances right now."""
        hibernated = sum(1 for s in self.slots.values() if s.state is ActorState.HIBERNATED)
        return len(self.active), hibernated

    async def run_evictions(self, *, task_status: trio.TaskStatus[None]) -> None:
        """Host the background evictions that ``max_active_actors`` asks for."""
        async with trio.open_nursery() as nursery:
            self._evictor = nursery
            task_status.started()
            await trio.sleep_forever()

    async def _evict_over_limit(self) -> None:
        """Evict least recently used idle actors until the node is within its limit."""
        for slot in list(self.active):
            if len(self.active) <= self.max_active_actors:
                return
            if slot.waiting or slot.lock.locked():
                continue
            await self.evict(slot)

    async def evict_idle(self, now: float, idle_timeout: float) -> None:
        """Evict actors with no turn for ``idle_timeout`` seconds; drop empty slots."""
        for slot in list(self.active):
            if now - slot.last_active < idle_timeout:
                break  # the rest were active more recently
            if not slot.waiting:
                await self.evict(slot)
        # The slots only, not (id, slot) pairs: one list instead of an object per slot for the
        # garbage collector at every tick (this walk sees every slot of the node).
        for slot in list(self.slots.values()):
            if slot.state is ActorState.HIBERNATED and not slot.sessions and not slot.waiting:
                slot.set_state(ActorState.STOPPED)
            if slot.state is ActorState.STOPPED and not slot.sessions and not slot.waiting:
                del self.slots[slot.actor_type, slot.key]

    async def call_actor(
        self,
        caller: ActorSlot | None,
        actor_type: str,
        key: str,
        method: str,
        args: dict[str, Any],
        *,
        conn: Any = None,
    ) -> Any:
        """One rpc turn on another actor, for ``self.call(...)`` (and HTTP rpc, caller None).

        ``conn`` is what the method gets as its ``conn``: an HttpCaller over HTTP, None
        between actors.

        Raises:
            RpcError: not_found (type or method), bad_request, internal (the method raised),
                unavailable (a call back into the chain, or no answer in time).
        """
        target = self.resolve(actor_type, key)
        if target is None:
            raise RpcError("not_found", f"no actor type {actor_type!r}")
        invoke = bind_call(target.cls, method, args)
        if self.clustered and conn is None:  # an actor's call: its owner may be elsewhere
            answered, result = await self.placement.call_elsewhere(actor_type, key, method, args)
            if answered:
                return result
        chain = _call_chain.get()
        if caller is not None:
            chain = (*chain, caller)
        if target in chain:
            raise RpcError(
                "unavailable", f"reentrant call to {actor_type}/{key}: it is waiting in the chain"
            )
        token = _call_chain.set(chain)
        try:
            with trio.fail_after(self.call_timeout):
                # Over HTTP (a conn) the caller is a visitor: a stranger goes at once (G10).
                return await target.turn(lambda actor: invoke(actor, conn), let_go=conn is not None)
        except trio.TooSlowError:
            raise RpcError("unavailable", f"{actor_type}/{key} did not answer in time") from None
        except RpcError:
            raise
        except CommitFailed:  # nothing of the call was committed: retry it (as over WebSockets)
            raise RpcError("unavailable", "the actor could not commit; retry") from None
        except Exception as exc:
            raise RpcError("internal", f"{type(exc).__name__}: {exc}") from exc
        finally:
            _call_chain.reset(token)

    async def fire_due_alarm(self, actor_type_name: str, key: str, names: Sequence[str]) -> None:
        """Wake (activating if needed) the actor whose alarms ``names`` are due (G5); what the
        scheduler runs for every actor with due alarms."""
        scheduler = self.scheduler
        actor_type = self.app.get(actor_type_name)
        if actor_type is None:
            log.warning("dropping alarms %r of unknown actor type %r", names, actor_type_name)
            scheduler.forget([(actor_type_name, key, name) for name in names])
            return
        if (actor_type_name, key) not in self.slots and not self.db_path(
            actor_type_name, key
        ).exists():
            # The actor's file is gone.
            scheduler.forget([(actor_type_name, key, name) for name in names])
            return
        await fire_alarms(self.slot(actor_type, key), names)

    async def fence_lost(self, actor_type: str, key: str, fence: int | None = None) -> None:
        """Another node owns this actor now (the store refused ``fence``, or that lease was
        lost): close its connections (they may have missed another owner's events) and stop
        it here, unless its instance is of a newer lease of this node (claimed again since;
        asked again once the current turn is done: an activation may hold the lock)."""
        if self.clustered:
            self.placement.fence_refused(actor_type, key, fence)
        slot = self.slots.get((actor_type, key))

        def newer() -> bool:
            activated = slot.activated_fence if slot is not None else None
            return fence is not None and activated is not None and activated > fence

        if slot is None or newer():
            return
        for session in list(slot.sessions.values()):
            session.close(CloseCode.SERVICE_RESTART, "actor moved to another node")
        await self.evict(slot, unless=newer)

    async def stop_all(self) -> None:
        """Evict every actor (graceful shutdown): on_stop runs, storage closes."""
        for slot in list(self.slots.values()):
            await self.evict(slot)

    async def evict(self, slot: ActorSlot, unless: Callable[[], bool] | None = None) -> None:
        """Evict one actor once its turn is done (unless ``unless()``); drop an empty slot."""
        slot.waiting += 1
        try:
            async with slot.lock:
                if unless is None or not unless():
                    await _activation.evict(slot)
        finally:
            slot.waiting -= 1
        ident = (slot.actor_type, slot.key)
        if (
            slot.state is ActorState.STOPPED
            and not slot.sessions
            and not slot.waiting
            and self.slots.get(ident) is slot
        ):
            del self.slots[ident]
