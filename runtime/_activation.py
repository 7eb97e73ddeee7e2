"""The lifecycle of an actor in its slot: activation, eviction, restart, closing its file.

An activation builds the instance (restoring the last synced state from the shared store when
the actor restores and has no local file) and runs ``on_start`` as its first turn. Eviction
runs ``on_stop``, hands the committed state to the sync worker and lets the instance and its
SQLite handle leave memory: the actor *hibernates* while connections stay open, else it stops.
A failed commit restarts it (no ``on_stop`` for a broken turn). A *stranger* (an activation
from outside that wrote nothing) is let go at once. Every end of an activation closes the file
by the one rule of G10 (:func:`close_storage`).

These are functions of the slot (``runtime/_slot``), which keeps the turn loop and group
commit and asks its node (``SlotNode``: the registry) to run them, so the slot does not import
this module; the states and their legal transitions are ``runtime/_lifecycle``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from roost._errors import CommitFailed, RpcError, StorageError, StoreUnavailable
from roost.actors import Actor
from roost.storage import StoredState, read_file_fence, remove_actor_file
from roost.storage._wal import WalTail

from ._durable import DurableState, rebuild_file, restore_image
from ._lifecycle import ActorState
from ._placement import Activation
from ._slot import ActorSlot

log = logging.getLogger("roost.actor")


async def activate(slot: ActorSlot) -> Actor:
    """Build the instance and run ``on_start`` as its first turn (caller holds the lock).

    On a cluster node the activation runs under the actor's lease (claimed now if this node
    does not hold it; :class:`NotOwner` when another node does), and the state to start from
    is decided by fences: see :func:`_stored_state`.
    """
    slot.set_state(ActorState.ACTIVATING)
    try:
        lease = await slot.registry.placement.activation(slot.actor_type, slot.key)
        slot.activated_fence = lease.fence
        actor = slot.cls(slot)
        restored = await _stored_state(slot, lease)
        if restored is None:
            await slot.run_turn(_on_start, actor)
        else:

            async def restore_then_start(actor: Actor) -> None:
                if restored.state is not None and slot.cls.restore is not Actor.restore:
                    await actor.restore(restored.state)
                _restore_alarms(slot, restored.alarms)
                await actor.on_start()

            await slot.run_turn(restore_then_start, actor)
    except BaseException:
        slot.actor = None
        slot.durable = None
        close_storage(slot)
        if slot.state is not ActorState.STOPPED:  # (a failed first commit restarted it)
            slot.set_state(ActorState.STOPPED)
        raise
    slot.actor = actor
    slot.registry.activated(slot)
    slot.set_state(ActorState.ACTIVE)
    return actor


async def _stored_state(slot: ActorSlot, lease: Activation) -> StoredState | None:
    """The last synced state to start from, or None to start from the local file (or empty).

    A single node restores only an actor that has no local file yet (G7). A cluster node
    that has just claimed the lease compares the fence stamped in its local file with the
    fence of the state in the store: a higher stored fence means another node owned the
    actor since this file was last written, so the file is stale: it is removed and the
    actor starts from the store (state and alarms). A file as new as the store is the truth.

    Raises:
        RpcError: ``unavailable`` (retryable) when the shared store does not answer: an
            outage, not a bug, so one warning line and no traceback; the server answers
            503 with Retry-After, a call gets ``unavailable``.
    """
    registry = slot.registry
    path = registry.db_path(slot.actor_type, slot.key)
    if registry.durable_for(slot):
        await _durable_file(slot, lease, path)
        return None  # the file is the whole truth, rebuilt from the store's history
    claimed, stored = lease.claimed, lease.stored
    if (
        not claimed
        and lease.fence is not None
        and slot.open_storage is None
        and path.exists()
        and read_file_fence(path) < lease.fence
    ):
        # The file dates from an earlier lease than the one held, and what that lease's
        # claim read from the store is not at hand (a self-fence that ran after the claim
        # dropped it, say): ask the store, never trust the file blindly (found by chaos).
        claimed, stored = True, await _read_stored(slot)
    if claimed:
        if stored is None or slot.open_storage is not None:
            return None
        if not path.exists() and await _file_from_image(slot, path):
            return None  # the whole file came back from the store (replicate_file)
        if path.exists():
            if read_file_fence(path) >= stored.fence:
                return None  # this file is as new as the store: it is the truth
            remove_actor_file(path)
            if await _file_from_image(slot, path):
                return None
            registry.stats.takeovers_total += 1
            log.info(
                "%s/%s: the store holds a newer state (fence %d) than the local file; "
                "restoring from the store",
                slot.actor_type,
                slot.key,
                stored.fence,
            )
        return stored
    if slot.open_storage is not None or path.exists():
        return None
    if await _file_from_image(slot, path):
        return None  # the whole file came back: it holds what restore() would rebuild
    if slot.cls.restore is Actor.restore:
        return None
    return await _read_stored(slot)


async def _read_stored(slot: ActorSlot) -> StoredState | None:
    """The actor's state in the shared store.

    Raises:
        RpcError: ``unavailable`` when the store does not answer (see :func:`_stored_state`).
    """
    try:
        return await (await slot.registry.sync.store()).read_state(slot.actor_type, slot.key)
    except StoreUnavailable as exc:
        log.warning(
            "could not activate %s/%s: the shared store is unavailable (%s)",
            slot.actor_type,
            slot.key,
            exc,
        )
        raise RpcError("unavailable", "the shared store is unavailable; retry later") from exc


async def _file_from_image(slot: ActorSlot, path: Path) -> bool:
    """For an actor class with ``replicate_file`` and no local file: write the newest image
    of its file from the store; True when there was one.

    Raises:
        RpcError: ``unavailable`` when the store does not answer.
    """
    if not getattr(slot.cls, "replicate_file", False):
        return False
    try:
        store = await slot.registry.sync.store()
        return await restore_image(store, path, slot.actor_type, slot.key)
    except StoreUnavailable as exc:
        raise RpcError("unavailable", "the shared store is unavailable; retry later") from exc


async def _durable_file(slot: ActorSlot, lease: Activation, path: Path) -> None:
    """A durable actor's file: rebuilt from the store's history when this node claimed the
    lease anew (whatever its local file holds: it may hold a commit never acknowledged),
    else the local file, in step with what this node shipped (runtime/_durable)."""
    registry = slot.registry
    ident = (slot.actor_type, slot.key)
    shipper = registry.shipper
    state = shipper.states.get(ident)
    if lease.claimed or state is None:
        # A new history: what the outbox still holds for the ended one waits for log
        # positions nothing will acknowledge again, and would hold every later output
        # behind it (CI's chaos run: handshakes stuck after a restart), so it fails now.
        slot.outbox.fail_held()
        shipper.forget(ident)
        await shipper.wait_landed(ident)  # the old history's appends (the same fence, maybe)
        try:
            store = await registry.sync.store()
            last = await rebuild_file(
                store, path, *ident, node_id=shipper.node_id, fence=lease.fence
            )
        except StoreUnavailable as exc:
            log.warning("could not rebuild %s/%s: the store is unavailable (%s)", *ident, exc)
            raise RpcError("unavailable", "the shared store is unavailable; retry later") from exc
        except StorageError as exc:  # one line, no traceback: every activation tries again
            shipper.rebuild_failed(ident, exc)
            raise RpcError("unavailable", "the actor's history cannot be rebuilt") from exc
        if last is None:
            raise RpcError("unavailable", "the actor's lease was lost; retry later")
        state = DurableState(WalTail(path), next_seq=last + 1, acked_seq=last)
        state.tail.skip_to_end()
        shipper.states[ident] = state
    slot.durable = state


def _restore_alarms(slot: ActorSlot, alarms: Any) -> None:
    """Set again the alarms that came from the store with the state (in the restore turn)."""
    if not isinstance(alarms, list):
        return
    for alarm in alarms:
        try:
            slot.alarms.set(
                str(alarm["name"]), at=float(alarm["scheduled_at"]), payload=alarm.get("payload")
            )
        except (KeyError, TypeError, ValueError) as exc:
            log.warning(
                "%s/%s: a stored alarm could not be set again: %s", slot.actor_type, slot.key, exc
            )


def restart(slot: ActorSlot) -> None:
    """Drop the instance after a failed commit; the next event activates a fresh one."""
    slot.actor = None
    close_storage(slot)
    slot.set_state(ActorState.STOPPED)
    slot.registry.deactivated(slot)


async def evict(slot: ActorSlot) -> None:
    """Run ``on_stop`` and let the instance leave memory (caller holds the lock).

    With connections still open the actor hibernates; otherwise it stops.
    """
    slot.flush_group()  # the caller holds the lock: commit what earlier turns left open
    actor = slot.actor
    if actor is None or slot.state is not ActorState.ACTIVE:
        return
    slot.set_state(ActorState.STOPPING)
    stopped = False
    try:
        await slot.run_turn(_on_stop, actor)
        stopped = True
    except CommitFailed:
        return  # the actor restarted: nothing committed to capture, nothing left to stop
    except Exception:
        log.exception(
            "on_stop failed for %s/%s",
            slot.actor_type,
            slot.key,
            extra={"actor_type": slot.actor_type, "key": slot.key},
        )
    finally:
        if stopped:
            try:  # eviction flushes first: the committed state waits for the worker
                slot.registry.sync.capture(slot, actor)
            except Exception:
                log.exception(
                    "snapshot failed for %s/%s",
                    slot.actor_type,
                    slot.key,
                    extra={"actor_type": slot.actor_type, "key": slot.key},
                )
        if slot.state in (ActorState.STOPPING,):  # not restarted by a failed commit
            slot.actor = None
            close_storage(slot)
            stats = slot.registry.stats
            stats.evictions_total += 1
            if slot.sessions:
                stats.hibernations_total += 1
                slot.set_state(ActorState.HIBERNATED)
            else:
                slot.set_state(ActorState.STOPPED)
            slot.registry.deactivated(slot)


async def let_stranger_go(slot: ActorSlot) -> None:
    """Evict at once a *stranger* (caller holds the lock): an activation that created its
    file and wrote no row to it, after a visit from outside, whatever it answered. So a
    refused upgrade, a 405, a refused rpc or a read to a random key leaves no file (G10)
    without waiting for the idle timeout.

    Only when nobody else is here: no connection, no other event waiting. An actor that
    never opened its storage stays (no file to leave; its memory is its own business).
    """
    storage = slot.open_storage
    if (
        storage is None
        or not storage.created
        or storage.wrote
        or slot.sessions
        or slot.waiting > 1
        or slot.state is not ActorState.ACTIVE
    ):
        return
    await evict(slot)


def close_storage(slot: ActorSlot) -> None:
    """Close the actor's file at the end of an activation (any eviction: idle, stranger
    let go, shutdown, restart, failed start).

    The one rule (G10): a file this activation created is removed if it holds schema only
    (no committed row change, every table empty; roost's alarm table counts, so a pending
    alarm keeps it; see :meth:`ActorStorage.discard`); otherwise it stays, with its WAL kept
    like any evicted actor's (below).
    """
    storage = slot.detach_storage()
    if storage is None:
        return
    if storage.created:
        if storage.discard(prune_upto=slot.registry.data_dir, keep_wal=True):
            log.debug("removed the file of %s/%s: schema only", slot.actor_type, slot.key)
    else:
        # A small WAL stays with its -shm (the pool remembers it): the actor's next
        # activation opens the file without creating or syncing anything (issue 16); the
        # shutdown checkpoints them all (HandlePool.checkpoint_kept).
        storage.close(keep_wal=True)


async def _on_start(actor: Actor) -> None:
    await actor.on_start()


async def _on_stop(actor: Actor) -> None:
    await actor.on_stop()
