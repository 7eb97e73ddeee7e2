"""This node in the store's membership table (``roost_node``): who it is, and who else is here.

A node's id is kept in its data dir (``node-id``; a worker's in its own directory), so a node
restarted after kill -9 is the same node: it takes its row, and the leases still in its name,
back at once instead of waiting for them to expire. Liveness is the database's business: a
node heartbeats in the database clock (with every lease renewal), and "live" means a
heartbeat younger than ``live_within`` seconds measured by the database (style rule 17).

Two kinds of node share one store safely or not at all:

- a *solo* node (no cluster secret) refuses to start while any other node is live on its
  store: two solo nodes would write the same actors without leases and diverge silently;
- a *cluster* node refuses to start beside a live node of another cluster (another secret),
  or of a solo node, or of an incompatible cluster protocol (a rolling upgrade that the
  links could not carry).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import trio

from roost._errors import ConfigError, StoreUnavailable
from roost._version import __version__
from roost.storage import NodeInfo, SharedStore

log = logging.getLogger("roost.cluster")

#: The version of what nodes say to each other (links, forwarding, calls). A node refuses to
#: join beside live nodes of another number; bump it for any incompatible change.
CLUSTER_PROTOCOL = 1
#: Seconds between a single node's heartbeats (a cluster node's come with its lease renewals).
SOLO_HEARTBEAT = 5.0
#: A node whose heartbeat is younger than this is live, as a single node judges it.
SOLO_LIVE_WITHIN = 3 * SOLO_HEARTBEAT
#: The file in a node's directory that keeps its id across restarts.
NODE_ID_FILE = "node-id"


class ClusterConflict(ConfigError):
    """This node cannot join: the store holds a live node it must not run beside."""


def node_id_for(node_dir: Path) -> str:
    """The node id kept in ``node_dir`` (created, and written atomically, on first use)."""
    path = node_dir / NODE_ID_FILE
    try:
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    node_dir.mkdir(parents=True, exist_ok=True)
    node_id = f"node-{os.urandom(8).hex()}"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(node_id + "\n")
    os.replace(temporary, path)
    return node_id


def cluster_fingerprint(secret: str | None) -> str:
    """What the membership table shows of a cluster's secret: a keyed hash, never the secret
    ('' for a solo node). Nodes with the same secret show the same fingerprint."""
    if secret is None:
        return ""
    return hmac.new(secret.encode(), b"roost-cluster-fingerprint", hashlib.sha256).hexdigest()[:16]


class Membership:
    """This node's row: joining (after the conflict checks), heartbeats, leaving.

    Args:
        store: the shared store (opened by the caller).
        node_id: this node's id (:func:`node_id_for`).
        address: where other nodes and key-aware load balancers reach this node.
        secret: the cluster secret, or None for a solo node.
        live_within: a node whose heartbeat is younger than this many seconds is live.
    """

    def __init__(
        self,
        store: SharedStore,
        *,
        node_id: str,
        address: str,
        secret: str | None,
        live_within: float,
    ) -> None:
        self.store = store
        self.node_id = node_id
        self.address = address
        self.clustered = secret is not None
        self.fingerprint = cluster_fingerprint(secret)
        self.live_within = live_within

    async def join(self) -> NodeInfo:
        """Check who else is live, then register this node (or take its row back).

        Raises:
            ClusterConflict: a live node this one must not run beside (see the module).
            StoreUnavailable: the store cannot be reached.
        """
        others = [
            n for n in await self.store.live_nodes(self.live_within) if n.node_id != self.node_id
        ]
        for other in others:
            problem = self._conflict(other)
            if problem is not None:
                raise ClusterConflict(problem)
        info = await self.store.register_node(
            self.node_id,
            self.address,
            version=__version__,
            protocol=CLUSTER_PROTOCOL,
            cluster=self.fingerprint,
        )
        log.info(
            "node %s joined %s at %s (%d other live node%s)",
            self.node_id,
            "the cluster" if self.clustered else "the store as a single node",
            self.address,
            len(others),
            "" if len(others) == 1 else "s",
        )
        return info

    def _conflict(self, other: NodeInfo) -> str | None:
        """Why this node must not start beside ``other``, or None."""
        seen = (
            f"node {other.node_id} at {other.address} (heartbeat {other.heartbeat_age:.1f} s ago)"
        )
        if not self.clustered:
            return (
                f"another live node uses this store: {seen}; a single node needs the store to "
                "itself (stop the other node, or give every node the same --cluster-secret "
                "to run them as a cluster)"
            )
        if other.cluster != self.fingerprint:
            kind = "a single node" if not other.cluster else "a node of another cluster"
            return (
                f"{kind} uses this store: {seen}; every node of one store needs the same "
                "--cluster-secret"
            )
        if other.protocol != CLUSTER_PROTOCOL:
            return (
                f"{seen} speaks cluster protocol {other.protocol} (roost {other.version}), "
                f"this node {CLUSTER_PROTOCOL} (roost {__version__}): upgrade the nodes to "
                "compatible versions"
            )
        return None

    async def leave(self) -> None:
        """Remove this node's row (graceful shutdown, after its leases were released)."""
        await self.store.unregister_node(self.node_id)


#: Longest wait between attempts to reach the store at the start; a warning at most this often.
JOIN_RETRY_MAX = 5.0
JOIN_WARN_EVERY = 10.0

T = TypeVar("T")


async def when_reachable(start: Callable[[], Awaitable[T]]) -> T:
    """``start()`` (opening the store, joining), again and again while the store cannot be
    reached: a node started during a store outage (PostgreSQL restarting, a network cut)
    waits for it, with a warning every JOIN_WARN_EVERY seconds, instead of exiting as if it
    were misconfigured (found by chaos: a node restarted during a cut died with exit 2).
    It does not serve meanwhile: it could not tell whether another node owns its actors."""
    delay, warned = 0.2, -float("inf")
    while True:
        try:
            return await start()
        except StoreUnavailable as exc:
            now = trio.current_time()
            if now - warned >= JOIN_WARN_EVERY:
                log.warning("the shared store cannot be reached (%s); waiting for it", exc)
                warned = now
            await trio.sleep(delay)
            delay = min(delay * 2, JOIN_RETRY_MAX)


async def run_solo(
    open_store: Callable[[], Awaitable[SharedStore]],
    *,
    node_id: str,
    address: str,
    close_timeout: float,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A single node on a store of its own choosing: register (refusing to run beside another
    live node), heartbeat every SOLO_HEARTBEAT seconds, leave when cancelled.

    Raises:
        ClusterConflict: another live node uses the store (before ``task_status.started``).
    """

    async def join() -> tuple[SharedStore, Membership]:
        store = await open_store()
        membership = Membership(
            store, node_id=node_id, address=address, secret=None, live_within=SOLO_LIVE_WITHIN
        )
        await membership.join()
        return store, membership

    store, membership = await when_reachable(join)
    task_status.started()
    try:
        while True:
            await trio.sleep(SOLO_HEARTBEAT)
            try:
                await store.heartbeat_node(node_id)
            except StoreUnavailable:
                pass  # the sync worker reports the outage
    finally:
        with trio.move_on_after(close_timeout) as scope:
            scope.shield = True
            try:
                await membership.leave()
            except StoreUnavailable:
                pass


def host_text(host: str) -> str:
    """A host as it goes into HOST:PORT (IPv6 in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
