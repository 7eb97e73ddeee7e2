"""The composition root: every service of one node, built once, in dependency order.

Each service gets its collaborators at construction, so none is ``Optional`` and nothing is
attached afterwards (style rule 14). The order:

1. node.sqlite (:class:`NodeStore`) and the node clock;
2. the alarm scheduler (the node store, the clock);
3. the shared store (opened on first use) and the sync worker (the node store, the shared
   store, the node id);
4. the group committer (a :class:`PassBatcher` of slots);
5. the actor registry (all of the above; it creates the slots, which use them).

Two services call back into the registry built after them: the scheduler fires due alarms
and the sync worker snapshots actors. They get the registry when they start to run
(``scheduler.run(registry.fire_due_alarm)``, ``sync.run(registry)``), not at construction;
:class:`~roost.runtime._server.Server` starts them, and the committer, in its nursery.
"""

from __future__ import annotations

import os

from roost._errors import ConfigError
from roost.storage import SharedStore, open_shared_store

from ._alarms import AlarmScheduler, NodeClock
from ._app import App
from ._batcher import PassBatcher
from ._cluster import Cluster
from ._config import ServerConfig
from ._durable import DurableShipper
from ._membership import node_id_for
from ._node_store import NodeStore
from ._placement import Placement, Solo
from ._registry import ActorRegistry
from ._slot import ActorSlot
from ._stats import NodeStats
from ._sync import SyncWorker
from ._worker import WorkerContext


class Node:
    """One node's services, wired once. Build it inside trio, when the node starts serving:
    it opens node.sqlite and reads the actors left dirty by the last run (G7).

    A cluster node (``--cluster-secret``, or a worker of ``--workers``) also gets its
    :class:`~roost.runtime._cluster.Cluster` (leases, routing, links), which the registry
    sees as its :class:`~roost.runtime._placement.Placement`; a single node places every
    actor here (:class:`~roost.runtime._placement.Solo`).

    Call :meth:`close` when the node has stopped (after the sync worker's last flush).
    """

    __slots__ = (
        "clock",
        "cluster",
        "committer",
        "node_dir",
        "node_id",
        "node_store",
        "registry",
        "scheduler",
        "shipper",
        "sync",
    )

    def __init__(
        self,
        app: App,
        config: ServerConfig,
        stats: NodeStats,
        *,
        worker: WorkerContext | None = None,
    ) -> None:
        #: This node's directory: the data dir, or a worker's own directory in it.
        self.node_dir = config.data_dir if worker is None else worker.node_dir(config.data_dir)
        secret = config.cluster_secret if worker is None else worker.secret
        if secret is None and (config.durable or app.has_durable_actors()):
            # Durable output is fenced by leases: a single node holds them as a cluster of
            # one, with a secret of its own (a node of any other cluster is refused).
            secret = os.urandom(16).hex()
        clustered = secret is not None
        #: This node's identity in the shared store, kept in its directory across restarts
        #: (a single node on the embedded store needs none that lasts).
        self.node_id = (
            node_id_for(self.node_dir)
            if clustered or config.store is not None
            else f"node-{os.urandom(8).hex()}"
        )
        self.node_store = NodeStore(self.node_dir / "node.sqlite")
        self.clock = NodeClock()
        self.scheduler = AlarmScheduler(self.node_store, self.clock)
        # The shared store opens on first use (a dirty actor, a restore): a node that never
        # syncs never waits on it.
        shared: SharedStore = open_shared_store(
            config.store, data_dir=config.data_dir, call_timeout=config.store_timeout
        )
        if shared.embedded and (config.durable or app.has_durable_actors()):
            raise ConfigError(
                "durable output needs a PostgreSQL store (--store postgresql://...): the "
                "embedded SQLite store lives on this machine and is lost with it"
            )
        self.sync = SyncWorker(
            self.node_store,
            shared,
            node_id=self.node_id,
            stats=stats,
            interval=config.sync_interval,
            batch_size=config.sync_batch_size,
            clustered=clustered,
            retention=config.store_retention * 86_400.0,
        )
        self.shipper = DurableShipper(
            self.sync.store,
            node_id=self.node_id,
            stats=stats,
            log_retention=config.log_retention * 86400.0,
        )
        placement: Placement
        if secret is not None:
            self.cluster: Cluster | None = Cluster(
                config,
                node_id=self.node_id,
                node_dir=self.node_dir,
                secret=secret,
                worker=worker,
                sync=self.sync,
                stats=stats,
                shipper=self.shipper,
            )
            placement = self.cluster
        else:
            self.cluster = None
            placement = Solo()
        self.committer: PassBatcher[ActorSlot] = PassBatcher()
        self.registry = ActorRegistry(
            app=app,
            data_dir=config.data_dir,
            max_open_databases=config.max_open_databases,
            synchronous=config.synchronous,
            max_active_actors=config.max_active_actors,
            max_group_turns=config.max_group_turns,
            max_key_bytes=config.max_key_bytes,
            stats=stats,
            clock=self.clock,
            scheduler=self.scheduler,
            sync=self.sync,
            committer=self.committer,
            node_id=self.node_id,
            placement=placement,
            shipper=self.shipper,
            durable=config.durable,
        )

    def close(self) -> None:
        """Close node.sqlite (the shared store is closed by ``await sync.aclose()``)."""
        self.node_store.close()
