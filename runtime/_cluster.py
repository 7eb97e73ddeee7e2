"""A node of a cluster: who owns each actor, and getting every request to that owner.

Built on PostgreSQL (or, for the workers of one machine, the embedded SQLite store) as the one
coordination engine: membership (runtime/_membership.py) and per-actor leases with fences
(runtime/_leases.py) live in the store and use its clock; nodes talk to each other over node
links (runtime/_links.py), workers of one machine also hand sockets to each other
(runtime/_handoff.py).

Routing (:meth:`Cluster.locate`): a request for an actor this node holds the lease of is
served here. Otherwise the node claims the lease (any node accepts any key); if another node
holds it, the connection goes to that owner from this request on, and the owner serves it as
an ordinary connection. A connection that was forwarded is not forwarded again on its first
request (no loops): the receiver serves it or refuses it with 503. While the owner does not
answer (it died, it is draining), the node keeps trying to claim the lease for up to
``lease_ttl`` + 2 s, so the connection is served here as soon as the dead owner's lease
expires: that is failover for new connections.

Alarms of a dead node's actors: every node sweeps the store for due alarms of actors that
nobody holds a valid lease on, claims them and activates them (restoring state and alarms from
the store), so the alarms fire here on time even when no client comes back.

Long because: it is the one place where the store's leases meet the node's routing, the node
links and the workers' hand-offs; each part is small, and all of them share the same lease
keeper, owner cache and draining state.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

import attrs
import h11
import trio

from roost._errors import (
    ConfigError,
    HandoffFailed,
    LinkError,
    RpcError,
    StoreUnavailable,
)
from roost._version import __version__
from roost.storage import SharedStore, StoredState

from ._config import ServerConfig
from ._durable import DurableShipper
from ._handoff import HandoffListener, hand_off, request_head_bytes, splice
from ._leases import LeaseKeeper, LeaseNode
from ._links import NodeLinks
from ._membership import (
    CLUSTER_PROTOCOL,
    SOLO_LIVE_WITHIN,
    Membership,
    host_text,
    when_reachable,
)
from ._placement import Activation, NotOwner
from ._stats import NodeStats
from ._transport import Peer
from ._worker import WorkerContext

log = logging.getLogger("roost.cluster")

ActorId = tuple[str, str]
#: Seconds a remote owner is remembered before the store is asked again.
OWNER_CACHE_SECONDS = 1.0
#: Remote owners remembered at most (an LRU).
OWNER_CACHE_SIZE = 10_000
#: Seconds between sweeps for due alarms of actors nobody holds.
SWEEP_INTERVAL = 1.0
#: Seconds a claim may wait for its activation before its lease may be released again.
CLAIM_GRACE = 5.0
#: Due alarms claimed per sweep.
SWEEP_BATCH = 100
#: Seconds between claim attempts while an owner does not answer.
RETRY_CLAIM = 0.1


@attrs.frozen
class Owner:
    """Another node that holds an actor's lease.

    Attributes:
        node_id: its id.
        address: where its links are reached (HOST:PORT).
        sibling: its worker index when it is a sibling worker of this machine.
    """

    node_id: str
    address: str
    sibling: int | None = None


class ClusterServer(Protocol):
    """What the cluster needs of the node's server (runtime/_server.py implements it)."""

    def serve_socket(
        self,
        sock: socket.socket,
        *,
        prefix: bytes = b"",
        client: tuple[str, int] | None = None,
        forwarded: bool = False,
    ) -> None: ...

    def metrics_snapshot(self) -> dict[str, Any]: ...


class ClusterRegistry(Protocol):
    """What the cluster needs of the node's actors (runtime/_registry.py implements it)."""

    def has_slot(self, actor_type: str, key: str) -> bool: ...

    async def fence_lost(self, actor_type: str, key: str, fence: int | None = None) -> None: ...

    async def call_actor(
        self,
        caller: Any,
        actor_type: str,
        key: str,
        method: str,
        args: dict[str, Any],
        *,
        conn: Any = None,
    ) -> Any: ...

    async def wake_for_alarms(self, actor_type: str, key: str) -> None: ...


class ClusterSync(Protocol):
    """What the cluster needs of the sync worker (runtime/_sync.py implements it)."""

    async def store(self) -> SharedStore: ...

    def is_synced(self, ident: ActorId) -> bool: ...


class Cluster(LeaseNode):
    """One node's part of the cluster: membership, leases, routing, links, alarm sweeps.

    Implements the registry's :class:`~roost.runtime._placement.Placement`, the lease
    keeper's :class:`LeaseNode` and the links' ``LinkHandler``.
    """

    clustered = True

    def __init__(
        self,
        config: ServerConfig,
        *,
        node_id: str,
        node_dir: Path,
        secret: str,
        worker: WorkerContext | None,
        sync: ClusterSync,
        stats: NodeStats,
        shipper: DurableShipper,
    ) -> None:
        self.config = config
        #: Durable actors' log positions (runtime/_durable): a lease goes with its commits.
        self.shipper = shipper
        self.node_id = node_id
        self.node_dir = node_dir
        self.worker = worker
        self.stats = stats
        self._sync = sync
        self._secret = secret
        self.keeper = LeaseKeeper(sync.store, node_id=node_id, ttl=config.lease_ttl, stats=stats)
        server_ssl, client_ssl = _tls_contexts(config)
        self.links = NodeLinks(
            node_id=node_id,
            secret=secret,
            version=__version__,
            protocol=CLUSTER_PROTOCOL,
            handler=self,
            server_ssl=server_ssl,
            client_ssl=client_ssl,
        )
        #: HOST:PORT where the links of this node are reached (set by :meth:`run`).
        self.address = ""
        #: HOST:PORT clients reach the owner at (the Roost-Owner header).
        self.public_address = ""
        self.draining = False
        self.live_nodes = 0
        # Claims not yet activated: what the store held, and when (trio time).
        self._fresh: dict[ActorId, tuple[StoredState | None, float]] = {}
        self._owners: OrderedDict[ActorId, tuple[Owner, float]] = OrderedDict()
        self._siblings: dict[str, int] = {}
        self._registry: ClusterRegistry | None = None
        self._server: ClusterServer | None = None

    # -- running -----------------------------------------------------------------------------

    async def run(
        self,
        registry: ClusterRegistry,
        server: ClusterServer,
        *,
        address: str,
        public_address: str,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Join the cluster, then keep leases, links, hand-offs and alarm sweeps running.

        Raises:
            ClusterConflict: a live node this one must not run beside (before anything runs).
        """
        self._registry, self._server = registry, server
        self.address, self.public_address = address, public_address
        self.links.advertise_as(address)

        async def join() -> SharedStore:
            store = await self._sync.store()
            membership = Membership(
                store,
                node_id=self.node_id,
                address=address,
                secret=self._secret,
                # Long enough to see a single node (it heartbeats every 5 s) beside this one.
                live_within=max(self.config.lease_ttl, SOLO_LIVE_WITHIN),
            )
            self.live_nodes = len(await store.live_nodes(self.config.lease_ttl)) + 1
            await membership.join()
            return store

        store = await when_reachable(join)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.keeper.run, self)
            await nursery.start(self.links.run)
            if self.worker is not None:
                listener = HandoffListener(self.worker.handoff_address(self.worker.index))
                await nursery.start(listener.run, self._handed_over)
            nursery.start_soon(self._sweep_alarms, store)
            task_status.started()

    # -- Placement ---------------------------------------------------------------------------

    async def activation(self, actor_type: str, key: str) -> Activation:
        ident = (actor_type, key)
        if not self.keeper.holds(ident) and await self._claim(ident) is None:
            raise NotOwner(actor_type, key)
        fence = self.keeper.fence(ident)
        if ident in self._fresh:
            return Activation(fence=fence, stored=self._fresh.pop(ident)[0], claimed=True)
        return Activation(fence=fence)

    def serves(self, actor_type: str, key: str) -> bool:
        return self.keeper.holds((actor_type, key))

    def fence(self, actor_type: str, key: str) -> int | None:
        return self.keeper.fence((actor_type, key))

    async def call_elsewhere(
        self, actor_type: str, key: str, method: str, args: dict[str, Any]
    ) -> tuple[bool, Any]:
        owner = await self.locate(actor_type, key)
        if owner is None:
            return False, None
        request = {"kind": "call", "type": actor_type, "key": key, "method": method, "args": args}
        try:
            result = await self.links.call(owner.address, request)
        except LinkError as exc:
            self._owners.pop((actor_type, key), None)
            raise RpcError("unavailable", f"{actor_type}/{key}: its node did not answer") from exc
        self.stats.remote_calls_total += 1
        return True, result

    # -- routing -----------------------------------------------------------------------------

    async def locate(self, actor_type: str, key: str, *, forwarded: bool = False) -> Owner | None:
        """Who serves the actor: None for this node (its lease is held now), else the owner.

        ``forwarded``: the request came from another node; it is served here or refused.

        Raises:
            NotOwner: ``forwarded`` and another node holds the lease.
            RpcError: ``unavailable`` when the store cannot be reached.
        """
        ident = (actor_type, key)
        if self.keeper.holds(ident):
            return None
        if forwarded and (
            self.keeper.troubled or (await self._sync.store()).health().reachable is False
        ):
            # Cut off from the store: this node can claim nothing, so it refuses at once and
            # the sender retries (it claims the actor itself once the lease has expired),
            # rather than holding the connection for a store call that cannot succeed.
            raise NotOwner(actor_type, key)
        cached = self._owners.get(ident)
        now = trio.current_time()
        if cached is not None and not forwarded:
            if cached[1] > now:
                return cached[0]
            del self._owners[ident]
        if await self._claim(ident) is not None:
            return None
        owner = await self._owner(ident)
        if owner is None:  # released between the two calls: claim again
            if await self._claim(ident) is not None:
                return None
            raise NotOwner(actor_type, key)
        if owner.node_id == self.node_id:  # another task of ours claimed it meanwhile
            if self.keeper.holds(ident):
                return None
            raise NotOwner(actor_type, key)  # never a link to ourselves: the caller retries
        if forwarded:
            raise NotOwner(actor_type, key, owner.node_id)
        self._owners[ident] = (owner, now + OWNER_CACHE_SECONDS)
        if len(self._owners) > OWNER_CACHE_SIZE:
            self._owners.popitem(last=False)
        return owner

    async def _claim(self, ident: ActorId) -> int | None:
        """Claim the actor's lease; keep what the store holds for its activation."""
        try:
            claimed = await self.keeper.claim(ident)
        except StoreUnavailable as exc:
            raise RpcError("unavailable", "the shared store is unavailable; retry later") from exc
        if claimed is None:
            return None
        fence, stored, new = claimed
        if new:  # what the store holds, for the activation under this lease (once)
            assert stored is None or isinstance(stored, StoredState)
            self._fresh[ident] = (stored, trio.current_time())
            self._owners.pop(ident, None)
        return fence

    async def _owner(self, ident: ActorId) -> Owner | None:
        try:
            store = await self._sync.store()
            found = await store.lease_owner(*ident)
        except StoreUnavailable as exc:
            raise RpcError("unavailable", "the shared store is unavailable; retry later") from exc
        if found is None:
            return None
        return Owner(found.node_id, found.address, self._sibling_index(found.node_id))

    def _sibling_index(self, node_id: str) -> int | None:
        """The worker index of a sibling worker's node id (their ids are in the data dir)."""
        if self.worker is None:
            return None
        if node_id not in self._siblings:
            base = self.worker.node_dir(self.config.data_dir).parent
            for index in range(self.worker.count):
                try:
                    sibling = (base / str(index) / "node-id").read_text().strip()
                except OSError:
                    continue
                self._siblings[sibling] = index
        return self._siblings.get(node_id)

    async def hand_over(
        self, peer: Peer, conn: h11.Connection, request: h11.Request, actor: ActorId
    ) -> bool:
        """Send a connection whose request is for an actor owned elsewhere to its owner.

        Tries until the owner takes it, or this node can claim the actor (a dead owner's
        lease expired): up to ``lease_ttl`` + 2 s. Returns True when the connection went to
        the owner (it is no longer this node's), False when it is to be served here.

        Raises:
            RpcError: ``unavailable``: no owner took it in time.
        """
        prefix = request_head_bytes(request) + conn.trailing_data[0]
        client = peer.remote_address()
        deadline = trio.current_time() + self.config.lease_ttl + 2.0
        while True:
            owner = await self.locate(*actor)
            if owner is None:
                return False
            if await self._send(peer, owner, prefix, client):
                return True
            self._owners.pop(actor, None)
            if trio.current_time() >= deadline:
                raise RpcError("unavailable", f"{actor[0]}/{actor[1]}: its node does not answer")
            await trio.sleep(RETRY_CLAIM)

    async def _send(
        self, peer: Peer, owner: Owner, prefix: bytes, client: tuple[str, int] | None
    ) -> bool:
        """Hand the socket to a sibling, or splice it over a link; False if neither worked."""
        if owner.sibling is not None and self.worker is not None:
            try:
                await hand_off(
                    self.worker.handoff_address(owner.sibling), peer.sock, prefix, client
                )
            except HandoffFailed as exc:
                log.debug("hand-off to worker %d failed (%s); using the link", owner.sibling, exc)
            else:
                self.stats.handoffs_total += 1
                return True
        header = {"kind": "conn", "client": list(client) if client else None}
        try:
            stream = await self.links.open_stream(owner.address, header)
        except LinkError as exc:
            log.debug("could not reach %s at %s: %s", owner.node_id, owner.address, exc)
            return False
        self.stats.forwards_total += 1
        # splice closes what it is given: a duplicate, so the Peer closes its own as usual.
        await splice(peer.sock.dup(), stream, to_stream_first=prefix)
        return True

    def _handed_over(
        self, sock: socket.socket, prefix: bytes, client: tuple[str, int] | None
    ) -> None:
        """A sibling worker handed us a connection: serve it like an accepted one."""
        assert self._server is not None
        self._server.serve_socket(sock, prefix=prefix, client=client, forwarded=True)

    # -- LinkHandler -------------------------------------------------------------------------

    async def on_stream(
        self, peer_node: str, header: dict[str, Any], stream: trio.abc.HalfCloseableStream
    ) -> None:
        """A connection forwarded by another node: serve it through a socket pair."""
        if header.get("kind") != "conn" or self._server is None or self.draining:
            await stream.aclose()
            return
        raw_client = header.get("client")
        client: tuple[str, int] | None = None
        if isinstance(raw_client, list) and len(raw_client) == 2:
            client = (str(raw_client[0]), int(raw_client[1]))
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        theirs.setblocking(False)
        self._server.serve_socket(theirs, client=client, forwarded=True)
        await splice(ours, stream)  # closes both when the connection ends

    async def on_call(self, peer_node: str, request: dict[str, Any]) -> Any:
        """An actor-to-actor call for an actor of this node (or one nobody holds), or a
        sibling worker asking for this worker's metrics."""
        if request.get("kind") == "metrics" and self._server is not None:
            return self._server.metrics_snapshot()
        if self._registry is None or self.draining:
            raise RpcError("unavailable", "the node is not serving")
        try:
            actor_type, key = str(request["type"]), str(request["key"])
            method, args = str(request["method"]), dict(request["args"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RpcError("bad_request", f"malformed call: {exc}") from None
        await self.locate(actor_type, key, forwarded=True)
        return await self._registry.call_actor(None, actor_type, key, method, args)

    async def sibling_metrics(self) -> list[tuple[str, dict[str, Any]]]:
        """The metrics of every live sibling worker, as ``(index, snapshot)``; a sibling that
        does not answer within a second is left out of this scrape."""
        if self.worker is None:
            return []
        store = await self._sync.store()
        try:
            live = await store.live_nodes(self.config.lease_ttl)
        except StoreUnavailable:
            return []
        found: list[tuple[str, dict[str, Any]]] = []

        async def ask(index: int, address: str) -> None:
            with trio.move_on_after(1.0):
                try:
                    snap = await self.links.call(address, {"kind": "metrics"}, timeout=1.0)
                except (LinkError, RpcError):
                    return
                if isinstance(snap, dict):
                    found.append((str(index), snap))

        async with trio.open_nursery() as nursery:
            for node in live:
                index = self._sibling_index(node.node_id)
                if index is not None and node.node_id != self.node_id:
                    nursery.start_soon(ask, index, node.address)
        return found

    # -- LeaseNode ---------------------------------------------------------------------------

    def releasable(self, ident: ActorId) -> bool:
        registry = self._registry
        return (
            registry is not None
            and not registry.has_slot(*ident)
            and self._sync.is_synced(ident)
            and self.shipper.idle(ident)
            and self._claim_settled(ident)
        )

    def _claim_settled(self, ident: ActorId) -> bool:
        """No activation is on its way under a claim just made: none was made, or it is older
        than CLAIM_GRACE (a forwarded request that failed first, an alarm sweep that found
        nothing due: the claim is dropped, so the lease can go)."""
        fresh = self._fresh.get(ident)
        if fresh is None:
            return True
        if trio.current_time() - fresh[1] < CLAIM_GRACE:
            return False
        del self._fresh[ident]
        return True

    def released(self, idents: list[ActorId]) -> None:
        for ident in idents:
            self.shipper.forget(ident)

    async def lease_lost(self, lost: dict[ActorId, int]) -> None:
        registry = self._registry
        for ident, fence in lost.items():
            log.warning("lease of %s/%s lost or expiring: stopping it here", *ident)
            if registry is not None:
                await registry.fence_lost(*ident, fence)
            else:
                self.fence_refused(*ident, fence)

    def fence_refused(self, actor_type: str, key: str, fence: int | None = None) -> None:
        """The store refused a write under ``fence`` (or that lease was lost): a newer owner
        exists. A lease this node claimed again since (a higher fence) is not touched: this
        runs after awaits, and forgetting the new lease, or what its claim read from the
        store, would let the next activation trust a stale local file (found by chaos)."""
        ident = (actor_type, key)
        held = self.keeper.fence(ident)
        if held is not None and fence is not None and held > fence:
            return
        self.keeper.forget(ident)
        self._fresh.pop(ident, None)
        self.shipper.forget(ident)  # its unshipped commits never count (never acknowledged)

    # -- alarms of actors nobody holds -------------------------------------------------------

    async def _sweep_alarms(self, store: SharedStore) -> None:
        """Claim and wake actors whose alarm is due and whose owner is gone."""
        while True:
            await trio.sleep(SWEEP_INTERVAL)
            if self.draining or self._registry is None:
                continue
            try:
                due = await store.due_alarms(SWEEP_BATCH)
            except StoreUnavailable:
                continue
            for actor_type, key in due:
                ident = (actor_type, key)
                try:
                    if await self._claim(ident) is None:
                        continue  # another node was quicker
                    self.stats.takeovers_total += 1
                    await self._registry.wake_for_alarms(actor_type, key)
                except Exception as exc:
                    log.warning("could not take over the alarms of %s/%s: %s", *ident, exc)

    # -- draining ----------------------------------------------------------------------------

    async def hand_back(self, max_seconds: float) -> None:
        """Graceful handoff, after the final sync: release the leases of every actor that is
        gone and synced, so other nodes take them at once, then leave the membership table.
        Actors that could not be synced keep their leases, which expire with the ttl (the
        next owner must not restore an older state than this node acknowledged)."""
        self.draining = True
        with trio.move_on_after(max_seconds):
            try:
                kept = await self.keeper.release_all(self)
                if kept:
                    log.warning(
                        "%d actors could not be synced: their leases expire in %.0f s",
                        kept,
                        self.config.lease_ttl,
                    )
                await (await self._sync.store()).unregister_node(self.node_id)
            except StoreUnavailable as exc:
                log.warning("could not hand the leases back (%s); they expire on their own", exc)


def cluster_addresses(
    config: ServerConfig, port: int | None, private: socket.socket | None
) -> tuple[str, str]:
    """(where other nodes reach a node's links, where clients reach it: Roost-Owner).

    A worker's siblings reach it on its own private port; everyone else at ``--advertise``,
    or the listen address.

    Raises:
        ConfigError: a node listening on every interface without ``--advertise``.
    """
    public = config.advertise or f"{host_text(config.host)}:{port}"
    if private is not None:
        return f"127.0.0.1:{private.getsockname()[1]}", public
    if config.advertise is None and config.host in ("0.0.0.0", "::", ""):
        raise ConfigError(
            "a cluster node listening on every interface needs --advertise HOST:PORT "
            "(the address other nodes reach it at)"
        )
    return public, public


def _tls_contexts(config: ServerConfig) -> tuple[ssl.SSLContext | None, ssl.SSLContext | None]:
    """TLS for node links: the node's certificate serves, and is the one trusted on dialing
    (every node of a cluster shares the certificate or its CA)."""
    if config.cluster_tls_cert is None or config.cluster_tls_key is None:
        return None, None
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(config.cluster_tls_cert, config.cluster_tls_key)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=config.cluster_tls_cert)
    client.check_hostname = False  # nodes are addressed by IP; the secret proves who they are
    return server, client


__all__ = ["Cluster", "ClusterServer", "Owner"]
