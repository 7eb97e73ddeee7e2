"""Actor slots: one per (type, key), where turns run one at a time and outputs are gated.

A slot is created synchronously the first time a key is addressed, so however many first
connections race, they all find the same slot and so the same instance (G1 inside a node).
Every event runs as a *turn* under the slot's lock (G2): the storage transaction begins, the
handler runs, the transaction commits (G3), and only then do the frames the turn produced
leave (G4). A handler that raises rolls its turn back; a commit that fails drops the turn's
frames and restarts the actor, whose connections stay open.

The slot outlives its instance: an idle actor with open connections *hibernates* (the
instance and its SQLite handle leave memory, the connections, their tags and state stay), and
the next event activates a fresh instance with the same identity.

The slot implements the actors' :class:`~roost.actors.ActorHost` (the module is named after
the slot, not the host, so the two layers' names do not clash). Its other jobs live beside
it: the held output and fan-out in ``_outbox``, what the actor sends in ``_messaging``
(:class:`SlotMessaging`, its base class), alarm turns in ``_alarm_turns``, the lifecycle
(activation, eviction, restart, closing the file) in ``_activation``.

Long because: the turn loop and group commit share the slot's transaction state with the
ActorHost parts that reach the node (storage, alarms, dirty marks, calls); and the Protocols
of what the slot needs of its node and sync worker must sit beside it (they name
``ActorSlot``, and an import cycle is not allowed: tests/test_layers.py).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import trio

from roost._errors import (
    BadRequest,
    CommitFailed,
    RpcError,
    StorageError,
)
from roost.actors import Actor, ActorRef, Connection, Response
from roost.actors.hosting import (
    AlarmChanges,
    Alarms,
    Presence,
    PresenceStore,
)
from roost.storage import ActorStorage, SharedStore

from . import _tracing
from ._batcher import PassBatcher
from ._durable import DurableShipper, DurableState
from ._lifecycle import ActorState, check_transition
from ._messaging import SlotMessaging
from ._outbox import Outbox, SlotSession
from ._placement import NotOwner, Placement
from ._replay import EventLog
from ._routing import check_key
from ._stats import NodeStats
from ._turn_lock import TurnLock

if TYPE_CHECKING:
    from pathlib import Path

    from ._alarms import AlarmScheduler, NodeClock
    from ._app import ActorType

log = logging.getLogger("roost.actor")
T = TypeVar("T")


class SlotSync(Protocol):
    """What a slot needs of the node's sync worker (runtime/_sync.py implements it)."""

    def before_commit(self, actor: tuple[str, str]) -> None: ...

    def after_commit(self, actor: tuple[str, str]) -> None: ...

    def deleted(self, actor: tuple[str, str], fence: int | None) -> None: ...

    def capture(self, slot: ActorSlot, actor: Actor) -> None: ...

    async def store(self) -> SharedStore: ...


class SlotNode(Protocol):
    """What a slot needs of its node: the registry's shared services and bookkeeping
    (runtime/_registry.py implements it; declared here, so the slot does not import the
    registry that creates slots)."""

    @property
    def data_dir(self) -> Path: ...

    @property
    def clock(self) -> NodeClock: ...

    @property
    def stats(self) -> NodeStats: ...

    @property
    def scheduler(self) -> AlarmScheduler: ...

    @property
    def sync(self) -> SlotSync: ...

    @property
    def committer(self) -> PassBatcher[ActorSlot]: ...

    @property
    def max_group_turns(self) -> int: ...

    @property
    def max_key_bytes(self) -> int: ...

    @property
    def slots(self) -> dict[tuple[str, str], ActorSlot]: ...

    def storage_for(self, actor_type: str, key: str, *, durable: bool) -> ActorStorage: ...

    def lease_fence(self, actor_type: str, key: str) -> int | None: ...

    def pending_alarms(self, slot: ActorSlot) -> list[dict[str, Any]] | None: ...

    @property
    def clustered(self) -> bool: ...

    @property
    def placement(self) -> Placement: ...

    @property
    def shipper(self) -> DurableShipper: ...

    def durable_for(self, slot: ActorSlot) -> bool: ...

    def file_image(self, slot: ActorSlot) -> bytes | None: ...

    def serves(self, slot: ActorSlot) -> bool:
        """Whether this node may run the actor's turns now (its lease is valid)."""
        ...

    def db_path(self, actor_type: str, key: str) -> Path: ...

    def activated(self, slot: ActorSlot) -> None: ...

    def deactivated(self, slot: ActorSlot) -> None: ...

    def touch(self, slot: ActorSlot) -> None: ...

    # The lifecycle (runtime/_activation), which the node runs for the slot: the slot does
    # not import it, as it does not import the node.

    async def activate(self, slot: ActorSlot) -> Actor: ...

    async def let_stranger_go(self, slot: ActorSlot) -> None: ...

    def restart(self, slot: ActorSlot) -> None: ...

    async def call_actor(
        self,
        caller: ActorSlot | None,
        actor_type: str,
        key: str,
        method: str,
        args: dict[str, Any],
        *,
        conn: Any = None,
    ) -> Any: ...


class ActorSlot(SlotMessaging):
    """The node's place for one actor: its lock, instance, storage and connections.

    Implements :class:`roost.actors.ActorHost` for the instance it holds (its messaging half
    in :class:`SlotMessaging`).

    Memory: a hibernated actor is this object and what it alone holds, next to its sockets
    (issue 16: at most 1 KB per actor), so its attributes are slots and the parts most
    actors never use are made on first use (presence, alarms, the durable state, the
    outbox's held output and the event log's buffer).
    """

    __slots__ = (
        "_alarms",
        "_dirty_in_turn",
        "_group_turns",
        "_grouped",
        "_presence",
        "_storage",
        "activated_fence",
        "actor",
        "actor_type",
        "alarm_changes",
        "cls",
        "commit_scheduled",
        "durable",
        "key",
        "last_active",
        "lock",
        "outbox",
        "registry",
        "sessions",
        "state",
        "waiting",
    )

    def __init__(self, registry: SlotNode, actor_type: ActorType, key: str) -> None:
        self.registry = registry
        self.actor_type = actor_type.name
        self.key = key
        self.cls = actor_type.cls
        self.lock = TurnLock()
        self.state = ActorState.STOPPED
        self.actor: Actor | None = None
        self.sessions: dict[Connection, SlotSession] = {}
        #: What turns produced, held until their COMMIT (G4), and the fan-out.
        self.outbox = Outbox(self.sessions, registry.stats, EventLog(self))
        self._storage: ActorStorage | None = None
        self._alarms: Alarms | None = None
        #: What this turn (or group) did to alarms, for the scheduler at the commit (G5).
        self.alarm_changes = AlarmChanges()
        # Presence belongs to the connections, so it lives here and survives hibernation.
        self._presence: Presence | None = None
        self._dirty_in_turn = False  # a committed-to-be turn changed the synced state
        self._grouped = False  # turns wait in an open transaction for the group's COMMIT
        self._group_turns = 0
        self.commit_scheduled = False  # waiting in the committer's list
        #: A durable actor's place in its log (runtime/_durable), while it is active here.
        self.durable: DurableState | None = None
        #: The lease fence the instance was activated under (a cluster node), else None.
        self.activated_fence: int | None = None
        self.waiting = 0  # events holding or waiting for the lock
        self.last_active = trio.current_time()

    # -- ActorHost ---------------------------------------------------------------------------

    @property
    def storage(self) -> ActorStorage:
        if self._storage is None:
            self._storage = self.registry.storage_for(
                self.actor_type, self.key, durable=self.registry.durable_for(self)
            )
            if self.outbox.gated:  # opened inside a turn: the turn's transaction begins
                self._storage.begin_turn()
        return self._storage

    @property
    def presence(self) -> Presence:
        if self._presence is None:
            self._presence = Presence(self, PresenceStore(), self.cls.presence_ttl)
        return self._presence

    @property
    def alarms(self) -> Alarms:
        if self._alarms is None:
            self._alarms = Alarms(self.storage, self.registry.clock.now, self.alarm_changes)
        return self._alarms

    def now(self) -> float:
        return self.registry.clock.now()

    def mark_dirty(self) -> None:
        if self.outbox.gated:
            self._dirty_in_turn = True
        else:
            ident = (self.actor_type, self.key)
            self.registry.sync.before_commit(ident)
            self.registry.sync.after_commit(ident)

    def call(self, actor_type: str, key: str) -> ActorRef:
        """A reference to another actor; its key follows the rule of WebSocket and HTTP (G9).

        Raises:
            RpcError: bad_request, in the caller's turn, for a key that breaks the rule: no
                slot, instance or file is made for it.
        """
        try:
            check_key(key, max_key_bytes=self.registry.max_key_bytes)
        except BadRequest as exc:
            raise RpcError(
                "bad_request", f"cannot call {actor_type}/{key!r}: {exc.reason}"
            ) from None

        async def invoke(method: str, args: dict[str, Any]) -> Any:
            return await self.registry.call_actor(self, actor_type, key, method, args)

        return ActorRef(f"{actor_type}/{key}", invoke)

    # -- turns -------------------------------------------------------------------------------

    async def turn(
        self,
        handler: Callable[[Actor], Awaitable[T]],
        *,
        before_release: Callable[[], None] | None = None,
        may_group: bool = False,
        let_go: bool = False,
    ) -> T:
        """Run ``handler(actor)`` as one turn, activating the actor first if needed.

        ``before_release`` runs after the commit and before the turn's frames leave (the
        WebSocket handshake response goes out there, ahead of the frames for the new peer).
        ``may_group`` allows group commit: only for turns whose every output goes through
        the outbox. A turn whose caller uses its return value (an HTTP response, an
        actor-to-actor result) must commit before returning, or the value would leave first.
        ``let_go`` marks a visit from outside (an HTTP request, an rpc over HTTP): after it,
        a stranger is evicted at once (``_activation.let_stranger_go``); so is one whose turn raised
        (a refused upgrade), and one answered with a :class:`Response`.

        Raises:
            CommitFailed: the turn's writes could not be committed; its frames were dropped
                and the actor was restarted.
            Exception: whatever the handler (or on_start) raised; the turn was rolled back.
        """
        self.waiting += 1
        lock = self.lock
        try:
            lock.acquire_nowait()
        except trio.WouldBlock:
            try:
                await lock.acquire()
            except BaseException:
                self.waiting -= 1
                raise
        try:
            actor = self.actor
            if actor is not None and self.registry.clustered and not self.registry.serves(self):
                if self.registry.placement.serves(self.actor_type, self.key):
                    # The lease was lost and claimed again: another node may have owned the
                    # actor meanwhile, so this instance is stale; start a fresh one (G7).
                    self.registry.restart(self)
                    actor = None
                else:
                    # A cluster node whose lease expired (a pause, a lost store): not one more
                    # turn here (G1); the lease keeper closes the connections with 1012.
                    raise NotOwner(self.actor_type, self.key)
            if actor is None:
                actor = await self.registry.activate(self)
            try:
                result = await self.run_turn(handler, actor, before_release, may_group=may_group)
            except Exception:
                await self.registry.let_stranger_go(self)
                raise
            if let_go or isinstance(result, Response):
                await self.registry.let_stranger_go(self)
            # Durable output: a value the caller uses (an HTTP answer, a call's result) is
            # output too, so it waits for the store as the outbox's frames do.
            wait_for = self.outbox.last_held if self.durable is not None and not may_group else 0
        finally:
            self.waiting -= 1
            self.last_active = trio.current_time()
            self.registry.touch(self)
            lock.release()
            if self.state is ActorState.STOPPED and not self.waiting and not self.sessions:
                # A stranger let go, or a failed activation: no slot stays behind either.
                slots = self.registry.slots
                if slots.get((self.actor_type, self.key)) is self:
                    del slots[self.actor_type, self.key]
            if self._grouped and not self.commit_scheduled:
                # Every way out of a turn (deferred, raised, cancelled) leaves an open group
                # to the committer, which closes it at the end of this scheduler pass.
                self.commit_scheduled = True
                self.registry.committer.schedule(self)
        if wait_for:
            await self._wait_durable(wait_for)
        return result

    async def _wait_durable(self, seq: int) -> None:
        """Until the store has the actor's log up to ``seq`` (the lock is free meanwhile,
        so the next turns commit and queue behind this one).

        Raises:
            NotOwner: the store refused it: the value must never reach the caller.
        """
        shipper = self.registry.shipper
        state = shipper.states.get((self.actor_type, self.key))
        await shipper.wait_acked(self, seq)
        if state is None or state.acked_seq < seq:
            raise NotOwner(self.actor_type, self.key)

    # -- durable output (runtime/_durable) --------------------------------------------------

    def release_durable(self, seq: int) -> None:
        self.outbox.release_through(seq)

    def fail_durable(self) -> None:
        self.outbox.fail_held()
        state, self.durable = self.durable, None
        if state is not None:
            state.acked.set()  # wake the callers waiting on it: they fail

    async def run_turn(
        self,
        handler: Callable[[Actor], Awaitable[T]],
        actor: Actor,
        before_release: Callable[[], None] | None = None,
        *,
        may_group: bool = False,
    ) -> T:
        """One turn: storage transaction (or savepoint), handler, then commit and release.

        Group commit: when other events already wait for this actor (and ``may_group``), a
        successful turn does not COMMIT; its transaction stays open for the next turn, which
        runs in a savepoint, and its frames stay in the outbox. The turn that finds nobody
        waiting commits the whole group and releases every frame, in order (G3, G4: a turn
        that raises rolls back only itself; nothing leaves before the group's COMMIT).
        """
        started = trio.current_time()
        if _tracing.tracer is not None:  # OpenTelemetry (runtime/_tracing): off, one check
            handler = _tracing.traced_turn(self, handler)
        storage = self._storage
        outbox = self.outbox
        outbox_mark = outbox.mark()
        alarm_mark = dict(self.alarm_changes.changed) if self._grouped else None
        dirty_mark = self._dirty_in_turn
        outbox.gated = True
        changes_before = 0
        if storage is not None:
            storage.begin_turn()
            changes_before = storage.turn_changes
        try:
            result = await handler(actor)
        except BaseException:
            outbox.gated = False
            outbox.rollback(outbox_mark)
            self.alarm_changes.changed.clear()
            if alarm_mark:
                self.alarm_changes.changed.update(alarm_mark)
            self._dirty_in_turn = dirty_mark
            if self._storage is not None:
                self._storage.rollback_turn()
            raise
        outbox.gated = False
        if (
            self.cls.sync_on_write
            and self._storage is not None
            and self._storage.turn_changes != changes_before
        ):
            self._dirty_in_turn = True
        if before_release is not None:  # ahead of this turn's frames, behind earlier turns'
            outbox.insert_callback(outbox_mark, before_release)
        if (
            may_group
            and self._storage is not None
            and self._storage.opened
            and self._group_turns < self.registry.max_group_turns
        ):
            try:
                self._storage.commit_turn(keep_open=True)
            except CommitFailed:
                self._fail_group()
                raise
            self._grouped = True  # turn() hands the group to the committer on its way out
            self._group_turns += 1
            self.registry.stats.turns_grouped_total += 1
        else:
            self._commit_and_release(in_turn=True)
        self.registry.stats.turn_seconds.observe(trio.current_time() - started)
        return result

    def _commit_and_release(self, *, in_turn: bool) -> None:
        """COMMIT the turn (and the group before it), then send everything it produced.

        Raises:
            CommitFailed: the writes were rolled back, nothing was sent, the actor restarts.
        """
        if self.registry.clustered and not self.registry.serves(self):
            # The lease went while the group ran (a turn that awaited past it): nothing of it
            # may commit or leave (G1); the lease keeper stops the actor here.
            if self._storage is not None:
                self._storage.rollback_turn()
            if self.durable is not None:  # its history ended with the lease: what it
                self.fail_durable()  # holds for the store never leaves (nor holds up more)
            self._fail_group()
            raise CommitFailed(f"{self.actor_type}/{self.key} lost its lease during the turn")
        deleting = self._storage is not None and self._storage.deleting
        if deleting:
            self._forget_deleted_alarms()
        changes = self.alarm_changes.changed
        if changes:
            self._node_write_before_commit(self._before_commit, changes)
        ident = (self.actor_type, self.key)
        # A cluster node also syncs an actor whose alarms changed: they move with its state.
        dirty = (
            deleting
            or self._dirty_in_turn
            or (
                changes
                and self.registry.clustered
                and any(not n.startswith("roost.") for n in changes)
            )
        )
        sync = self.registry.sync if dirty else None
        if sync is not None:
            self._node_write_before_commit(sync.before_commit, ident)
        if self._storage is not None:
            try:
                if in_turn:
                    self._storage.commit_turn()
                else:
                    self._storage.commit_group()
            except CommitFailed:
                self._fail_group()
                raise
        if changes:
            self._after_commit(changes)
        if sync is not None:
            if deleting:  # its store row goes, not a snapshot (storage.delete_all)
                sync.deleted(ident, self.registry.lease_fence(*ident))
            else:
                sync.after_commit(ident)
        self._dirty_in_turn = False
        self._grouped, self._group_turns = False, 0
        if self.durable is None:
            self.outbox.release()
        else:  # the output waits until the store has the commit (runtime/_durable)
            self._hold_for_store()

    def _hold_for_store(self) -> None:
        """Queue the commit's pages for the store; hold the output until they are there."""
        fence = self.registry.lease_fence(self.actor_type, self.key)
        try:
            seq = None if fence is None else self.registry.shipper.committed(self, fence)
        except StorageError:
            log.exception("could not read the commit of %s/%s", self.actor_type, self.key)
            seq = None
            fence = None
        if fence is None:  # no lease, or a commit not read: its output must never leave,
            # and the file holds a commit the log does not: start again from the store's
            # history (the next activation rebuilds the file), never from this file
            self.fail_durable()
            self.registry.shipper.forget((self.actor_type, self.key))
            self._fail_group()
            raise CommitFailed(f"{self.actor_type}/{self.key}: its commit did not reach the log")
        if seq is None and not self.outbox.holding:
            self.outbox.release()  # it wrote nothing and nothing waits: it may go now
        else:
            self.outbox.hold(seq if seq is not None else self.outbox.last_held)

    def _node_write_before_commit(self, write: Callable[[Any], None], arg: Any) -> None:
        """A write to node.sqlite that must precede the actor's COMMIT (an alarm's index entry,
        a dirty mark): when it fails (a full disk), the group fails as a failed COMMIT does:
        rolled back, its output dropped, the actor restarted (G4), never left half-open.

        Raises:
            CommitFailed: the node's own file refused the write.
        """
        try:
            write(arg)
        except sqlite3.Error as exc:
            self._fail_group()
            raise CommitFailed(f"node store write failed: {exc}") from exc

    @property
    def group_open(self) -> bool:
        """Committed-to-be turns wait in an open transaction (their writes not durable yet)."""
        return self._grouped

    def commit_group(self) -> None:
        """Commit the turns that wait in an open transaction, then release their frames.

        Called by the committer once per scheduler pass; never awaits. A turn holding the
        lock right now commits or defers the group itself (and schedules it again).
        """
        self.commit_scheduled = False
        if not self.lock.locked():
            self.flush_group()

    def flush_group(self) -> None:
        """Commit an open group now (the caller may run turns: it holds or checked the lock)."""
        if self._grouped:
            try:
                self._commit_and_release(in_turn=False)
            except CommitFailed:
                pass  # logged; the actor restarted

    def _fail_group(self) -> None:
        """A COMMIT failed: drop what the group produced and restart the actor (G4).

        Calls whose results were dropped get ``unavailable`` (retryable: nothing of theirs
        was committed).
        """
        self.outbox.fail()
        self.alarm_changes.changed.clear()
        self._dirty_in_turn = False
        self._grouped, self._group_turns = False, 0
        log.error(
            "commit failed; restarting actor %s/%s",
            self.actor_type,
            self.key,
            extra={"actor_type": self.actor_type, "key": self.key},
        )
        self.registry.restart(self)

    def _forget_deleted_alarms(self) -> None:
        """``storage.delete_all()`` removed alarms: the scheduler drops them at the commit
        (an alarm set again after the delete, in the same turn, keeps its new time)."""
        assert self._storage is not None
        changes = self.alarm_changes.changed
        alarms = self.alarms
        for name in (*self._storage.deleted_alarms, *changes):
            alarm = alarms.get(name)
            changes[name] = None if alarm is None else alarm.due_at

    def _before_commit(self, changes: dict[str, float | None]) -> None:
        due = [(name, at) for name, at in changes.items() if at is not None]
        self.registry.scheduler.before_commit(self.actor_type, self.key, due)

    def _after_commit(self, changes: dict[str, float | None]) -> None:
        self.registry.scheduler.after_commit(self.actor_type, self.key, list(changes.items()))
        changes.clear()

    # -- lifecycle (runtime/_activation) ----------------------------------------------------

    def set_state(self, new: ActorState) -> None:
        """Move to ``new`` (the state machine of ``runtime/_lifecycle`` checks the step)."""
        self.state = check_transition(self.state, new)

    @property
    def open_storage(self) -> ActorStorage | None:
        """The actor's file if this activation opened it (``storage`` opens it on use)."""
        return self._storage

    def detach_storage(self) -> ActorStorage | None:
        """Forget the open file (and the alarms on it) for the lifecycle to close."""
        self._alarms = None
        storage, self._storage = self._storage, None
        return storage
