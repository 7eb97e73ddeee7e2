"""Actor slots: one per (type, key), where turns run one at a time and outputs are gated.

A slot is created synchronously the first time a key is addressed, so however many first
connections race, they all find the same slot and so the same instance (G1 inside a node).
Every event runs as a *turn* under the slot's lock (G2): the storage transaction begins, the
handler runs, the transaction commits (G3), and only then do the frames the turn produced
leave (G4). A handler that raises rolls its turn back; a commit that fails drops the turn's
frames and restarts the actor, whose connections stay open.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import trio

from roost._errors import CommitFailed
from roost.actors import Actor, Connection
from roost.protocol import encode_binary, encode_text
from roost.storage import ActorStorage, HandlePool, actor_db_path

from ._lifecycle import ActorState, check_transition

if TYPE_CHECKING:
    from ._app import ActorType
    from ._websocket import WebSocketSession

log = logging.getLogger("roost.actor")
T = TypeVar("T")

# One outbox entry: (frame, session or None for a broadcast, excluded connections, tag).
_Outgoing = tuple[bytes, "WebSocketSession | None", Collection[Connection], str | None]


class ActorSlot:
    """The node's place for one actor: its lock, instance, storage and connections.

    Implements :class:`roost.actors.ActorHost` for the instance it holds.
    """

    def __init__(self, registry: ActorRegistry, actor_type: ActorType, key: str) -> None:
        self.registry = registry
        self.actor_type = actor_type.name
        self.key = key
        self._cls = actor_type.cls
        self.lock = trio.Lock()
        self.state = ActorState.STOPPED
        self.actor: Actor | None = None
        self.sessions: dict[Connection, WebSocketSession] = {}
        self._storage: ActorStorage | None = None
        self._outbox: list[_Outgoing] = []
        self._in_turn = False
        self.waiting = 0  # events holding or waiting for the lock
        self.last_active = trio.current_time()

    # -- ActorHost ---------------------------------------------------------------------------

    @property
    def storage(self) -> ActorStorage:
        if self._storage is None:
            self._storage = self.registry.storage_for(self.actor_type, self.key)
            if self._in_turn:
                self._storage.begin_turn()
        return self._storage

    def connections(self, tag: str | None = None) -> Sequence[Connection]:
        if tag is None:
            return [c for c, s in self.sessions.items() if s.can_send]
        return [c for c, s in self.sessions.items() if s.can_send and tag in c.tags]

    def broadcast(
        self, message: str | bytes, exclude: Collection[Connection] = (), tag: str | None = None
    ) -> None:
        frame = encode_text(message) if isinstance(message, str) else encode_binary(message)
        if self._in_turn:
            self._outbox.append((frame, None, exclude, tag))
        else:
            self._fan_out(frame, exclude, tag)

    def send(self, conn: Connection, message: str | bytes) -> None:
        session = self.sessions.get(conn)
        if session is None:
            return
        frame = encode_text(message) if isinstance(message, str) else encode_binary(message)
        if self._in_turn:
            self._outbox.append((frame, session, (), None))
        elif session.can_send:
            session.peer.write(frame)

    def close(self, conn: Connection, code: int, reason: str) -> None:
        session = self.sessions.get(conn)
        if session is not None:
            session.close(code, reason)

    def is_closed(self, conn: Connection) -> bool:
        session = self.sessions.get(conn)
        return session is None or not session.can_send

    # -- turns -------------------------------------------------------------------------------

    async def turn(
        self,
        handler: Callable[[Actor], Awaitable[T]],
        *,
        before_release: Callable[[], None] | None = None,
    ) -> T:
        """Run ``handler(actor)`` as one turn, activating the actor first if needed.

        ``before_release`` runs after the commit and before the turn's frames leave (the
        WebSocket handshake response goes out there, ahead of the frames for the new peer).

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
            if actor is None:
                actor = await self._activate()
            return await self._run(handler, actor, before_release)
        finally:
            self.waiting -= 1
            self.last_active = trio.current_time()
            lock.release()

    async def _run(
        self,
        handler: Callable[[Actor], Awaitable[T]],
        actor: Actor,
        before_release: Callable[[], None] | None,
    ) -> T:
        storage = self._storage
        self._in_turn = True
        if storage is not None:
            storage.begin_turn()
        try:
            result = await handler(actor)
        except BaseException:
            self._in_turn = False
            self._outbox.clear()
            if self._storage is not None:
                self._storage.rollback_turn()
            raise
        self._in_turn = False
        if self._storage is not None:
            try:
                self._storage.commit_turn()
            except CommitFailed:
                self._outbox.clear()
                log.error("commit failed; restarting actor %s/%s", self.actor_type, self.key)
                self._restart()
                raise
        if before_release is not None:
            before_release()
        self._release()
        return result

    def _release(self) -> None:
        """Send what the committed turn produced, in the order it was produced."""
        outbox = self._outbox
        if not outbox:
            return
        for frame, session, exclude, tag in outbox:
            if session is None:
                self._fan_out(frame, exclude, tag)
            elif session.can_send:
                session.peer.write(frame)
        outbox.clear()

    def _fan_out(self, frame: bytes, exclude: Collection[Connection], tag: str | None) -> None:
        if tag is None:
            if exclude:
                for conn, session in self.sessions.items():
                    if session.can_send and conn not in exclude:
                        session.peer.write(frame)
            else:
                for session in self.sessions.values():
                    if session.can_send:
                        session.peer.write(frame)
        else:
            for conn, session in self.sessions.items():
                if session.can_send and tag in conn.tags and conn not in exclude:
                    session.peer.write(frame)

    # -- lifecycle ---------------------------------------------------------------------------

    def _set_state(self, new: ActorState) -> None:
        self.state = check_transition(self.state, new)

    async def _activate(self) -> Actor:
        """Build the instance and run ``on_start`` as its first turn (caller holds the lock)."""
        self._set_state(ActorState.ACTIVATING)
        try:
            actor = self._cls(self)
            await self._run(_on_start, actor, None)
        except BaseException:
            self.actor = None
            self._close_storage()
            self._set_state(ActorState.STOPPED)
            raise
        self.actor = actor
        self.registry.activations += 1
        self._set_state(ActorState.ACTIVE)
        return actor

    def _restart(self) -> None:
        """Drop the instance after a failed commit; the next event activates a fresh one."""
        self.actor = None
        self._close_storage()
        self._set_state(ActorState.STOPPED)

    async def stop(self) -> None:
        """Run ``on_stop`` and release the instance and its storage (caller holds the lock)."""
        actor = self.actor
        if actor is None or self.state is not ActorState.ACTIVE:
            return
        self._set_state(ActorState.STOPPING)
        try:
            await self._run(_on_stop, actor, None)
        except Exception:
            log.exception("on_stop failed for %s/%s", self.actor_type, self.key)
        finally:
            self.actor = None
            self._close_storage()
            self._set_state(ActorState.STOPPED)

    def _close_storage(self) -> None:
        if self._storage is not None:
            self._storage.close()
            self._storage = None


async def _on_start(actor: Actor) -> None:
    await actor.on_start()


async def _on_stop(actor: Actor) -> None:
    await actor.on_stop()


class ActorRegistry:
    """Every actor slot of this node, and the storage they share (the handle pool)."""

    def __init__(self, *, data_dir: Path, max_open_databases: int, synchronous: str) -> None:
        self.data_dir = data_dir
        self.synchronous = synchronous
        self.pool = HandlePool(max_open=max_open_databases)
        self.slots: dict[tuple[str, str], ActorSlot] = {}
        self.activations = 0
        self._connection_ids = itertools.count(1)
        self._id_prefix = os.urandom(4).hex()

    def slot(self, actor_type: ActorType, key: str) -> ActorSlot:
        """The slot of (type, key), created on first use; never awaits (G1)."""
        ident = (actor_type.name, key)
        slot = self.slots.get(ident)
        if slot is None:
            slot = self.slots[ident] = ActorSlot(self, actor_type, key)
        return slot

    def storage_for(self, actor_type: str, key: str) -> ActorStorage:
        """Storage for one actor; its file is created only when first used."""
        path = actor_db_path(self.data_dir, actor_type, key)
        return ActorStorage(
            path, actor_type=actor_type, key=key, pool=self.pool, synchronous=self.synchronous
        )

    def new_connection_id(self) -> str:
        """A connection id unique within this process."""
        return f"{self._id_prefix}-{next(self._connection_ids):x}"

    async def stop_idle(self, now: float, idle_timeout: float) -> None:
        """Stop actors with no connections and no events for ``idle_timeout`` seconds."""
        for ident, slot in list(self.slots.items()):
            if slot.sessions or slot.waiting or now - slot.last_active < idle_timeout:
                continue
            await self._stop_slot(ident, slot)

    async def stop_all(self) -> None:
        """Stop every actor (graceful shutdown): on_stop runs, storage closes."""
        for ident, slot in list(self.slots.items()):
            await self._stop_slot(ident, slot)

    async def _stop_slot(self, ident: tuple[str, str], slot: ActorSlot) -> None:
        async with slot.lock:
            await slot.stop()
            if not slot.sessions and not slot.waiting and self.slots.get(ident) is slot:
                del self.slots[ident]
