"""The per-actor leases a cluster node holds: claimed before activating, renewed together,
released once the actor's state is in the store, and given up *before* they could expire.

G1 across nodes rests on three rules, each measured conservatively:

1. A node activates an actor only under a lease it claimed (``claim_actor``: a new owner gets
   the actor's previous fence + 1, in the database's clock and transaction).
2. A lease is believed valid locally until ``start + min(ttl, valid_for) - margin``, where
   ``start`` is the trio time taken *before* the call that claimed or renewed it: the
   database's expiry can only be later. Past that moment, without a renewal, the node
   self-fences: it stops serving the actor (closes its sockets with 1012) before any other
   node can claim it. A node frozen (SIGSTOP) past its leases finds them expired when it
   wakes, before it runs another turn (the slot checks :meth:`LeaseKeeper.valid`).
3. Every write to the store carries the actor's fence, so the writes of a node that lost
   the lease anyway (a clock that jumped, a pause between check and write) are refused once
   a newer owner exists (storage/_shared).

Every held lease is renewed in one statement per tick (a third of the ttl), which also
heartbeats the node. A lease is released only when the actor has left this node *and* its
last state is in the store (the sync worker says so): otherwise the next owner would restore
an older state than the one this node acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import attrs
import trio

from roost._errors import StoreUnavailable
from roost.storage import SharedStore

from ._stats import NodeStats

log = logging.getLogger("roost.cluster")

ActorId = tuple[str, str]
#: Seconds between renewal attempts while the store does not answer.
RETRY_INTERVAL = 0.5


@attrs.define
class _Held:
    fence: int
    valid_until: float  # trio time: surely valid before it (see rule 2)


class LeaseNode(Protocol):
    """What the keeper needs of its node (the cluster implements it)."""

    def releasable(self, ident: ActorId) -> bool:
        """The actor left this node and its last state reached the store."""
        ...

    async def lease_lost(self, lost: dict[ActorId, int]) -> None:
        """Stop serving these actors now: their leases (with these fences) are gone or could
        be. It runs in a task of its own, so by the time it does, this node may hold a newer
        lease of an actor again: that one is not lost."""
        ...

    def released(self, idents: list[ActorId]) -> None:
        """These leases were released (the actors left this node, their state in the store)."""
        ...


class LeaseKeeper:
    """The leases of one node.

    Args:
        store: opens (on first use) and returns the shared store.
        node_id: this node's id; leases are held in its name.
        ttl: seconds a lease lasts in the database clock.
    """

    def __init__(
        self,
        store: Callable[[], Awaitable[SharedStore]],
        *,
        node_id: str,
        ttl: float,
        stats: NodeStats,
    ) -> None:
        self._store = store
        self.node_id = node_id
        self.ttl = ttl
        self.margin = max(0.2 * ttl, 0.3)
        self.renew_interval = ttl / 3
        self._stats = stats
        self._held: dict[ActorId, _Held] = {}
        self._releasing: dict[ActorId, trio.Event] = {}
        self._claiming: dict[ActorId, trio.Event] = {}  # claims in flight, one per actor
        #: The last renewal failed or did not answer in time: the store is out of reach.
        self.troubled = False
        self._wake = trio.Event()
        self._fencing: trio.Nursery | None = None  # runs the stops of lost leases

    # -- what turns and routing ask ----------------------------------------------------------

    def holds(self, ident: ActorId) -> bool:
        """Whether this node holds the actor's lease and believes it valid right now."""
        held = self._held.get(ident)
        return held is not None and trio.current_time() < held.valid_until

    def fence(self, ident: ActorId) -> int | None:
        """The fence of a held lease (even one past its local deadline), else None."""
        held = self._held.get(ident)
        return None if held is None else held.fence

    @property
    def count(self) -> int:
        return len(self._held)

    def held(self) -> list[ActorId]:
        return list(self._held)

    # -- claiming and letting go -------------------------------------------------------------

    async def claim(self, ident: ActorId) -> tuple[int, object, bool] | None:
        """Claim the actor's lease: ``(fence, stored state or None, new)``, or None while
        another node holds it. A lease this node holds already is kept (no store call, and
        ``new`` is False: so is it for a claim shared with another task's).

        Raises:
            StoreUnavailable: the store did not answer.
        """
        releasing = self._releasing.get(ident)
        if releasing is not None:
            await releasing.wait()  # let the release finish, then claim anew
        claiming = self._claiming.get(ident)
        if claiming is not None:
            # Another task claims it right now: share its outcome (a second claim would
            # return the stored state again, and it would be restored a second time).
            await claiming.wait()
            return (self._held[ident].fence, None, False) if self.holds(ident) else None
        if self.holds(ident):
            return self._held[ident].fence, None, False
        started = trio.current_time()
        self._claiming[ident] = done = trio.Event()
        try:
            store = await self._store()
            claim = await store.claim_actor(ident[0], ident[1], self.node_id, self.ttl)
        finally:
            del self._claiming[ident]
            done.set()
        if claim is None:
            return None
        lease = claim.lease
        self._held[ident] = _Held(
            lease.fence, started + min(self.ttl, lease.valid_for) - self.margin
        )
        self._stats.lease_claims_total += 1
        self._wake.set()  # the renewal loop may be waiting for a first lease
        return lease.fence, claim.stored, True

    def forget(self, ident: ActorId) -> None:
        """Drop a lease without telling the store (it is lost: a write was refused)."""
        self._held.pop(ident, None)

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, node: LeaseNode) -> None:
        """Renew, release and self-fence forever (the cluster runs it in its nursery).

        Stopping the actors of lost leases runs in tasks of its own: it waits for their
        running turns, and one slow turn must never hold up the renewal of every other lease.
        """
        async with trio.open_nursery() as nursery:
            self._fencing = nursery
            await self._run(node)

    async def _run(self, node: LeaseNode) -> None:
        next_renew = trio.current_time() + self.renew_interval
        while True:
            deadline = min(
                [next_renew, *(held.valid_until for held in self._held.values())],
            )
            self._wake = trio.Event()
            with trio.move_on_at(deadline):
                if not self._held:
                    await self._wake.wait()
                else:
                    await trio.sleep_forever()
            now = trio.current_time()
            expired = [ident for ident, held in self._held.items() if held.valid_until <= now]
            if expired:
                await self._self_fence(node, expired)
            if now < next_renew:
                continue
            # A store that hangs must not hold up the self-fence: the call gives up when the
            # first lease could expire, and the loop stops those actors (G1; found by chaos).
            first_expiry = min(
                (held.valid_until for held in self._held.values()), default=float("inf")
            )
            renewed = False
            with trio.move_on_at(first_expiry):
                try:
                    await self._release(node)
                    await self._renew(node)
                    renewed = True
                except StoreUnavailable as exc:
                    log.warning("could not renew %d leases (%s); retrying", len(self._held), exc)
            self.troubled = not renewed
            if renewed:
                next_renew = trio.current_time() + self.renew_interval
            else:
                next_renew = trio.current_time() + RETRY_INTERVAL

    async def _renew(self, node: LeaseNode) -> None:
        """One statement for every held lease (and the node's heartbeat)."""
        started = trio.current_time()
        held = dict(self._held)
        store = await self._store()
        renewed = await store.renew_leases(
            self.node_id, [(*ident, h.fence) for ident, h in held.items()], self.ttl
        )
        until = started + self.ttl - self.margin
        lost: list[ActorId] = []
        for ident, h in held.items():
            current = self._held.get(ident)
            if current is not h:
                continue  # released or claimed anew meanwhile
            if (*ident, h.fence) in renewed:
                h.valid_until = max(h.valid_until, until)
            else:
                lost.append(ident)
        if lost:
            log.warning("%d leases were taken by other nodes; stopping those actors", len(lost))
            await self._self_fence(node, lost)

    async def _release(self, node: LeaseNode) -> None:
        """Release the leases of actors that left this node with their state in the store."""
        idents = [ident for ident in self._held if node.releasable(ident)]
        if not idents:
            return
        leases = []
        for ident in idents:
            held = self._held.pop(ident)
            self._releasing[ident] = trio.Event()
            leases.append((*ident, held.fence))
        try:
            store = await self._store()
            await store.release_leases(self.node_id, leases)
        finally:
            node.released(idents)
            for ident in idents:
                self._releasing.pop(ident).set()

    async def release_all(self, node: LeaseNode) -> int:
        """Graceful handoff: release every lease whose actor is gone and synced, at once.

        Returns how many leases are still held (actors that could not be synced keep theirs,
        so nobody restores an older state; they expire with the ttl).
        """
        await self._release(node)
        return len(self._held)

    async def _self_fence(self, node: LeaseNode, idents: list[ActorId]) -> None:
        lost = {ident: held.fence for ident in idents if (held := self._held.pop(ident, None))}
        self._stats.self_fences_total += len(lost)
        if self._fencing is not None:
            self._fencing.start_soon(node.lease_lost, lost)
        else:
            await node.lease_lost(lost)
