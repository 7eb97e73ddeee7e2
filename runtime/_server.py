"""One port for everything: WebSocket upgrades, actor HTTP, and the runtime's endpoints.

:class:`Server` runs one node's life: it builds the node's services, listens, serves until
:meth:`Server.shutdown`, then shuts down gracefully. Each accepted socket gets one task
(:meth:`Server._handle`): its HTTP requests are answered by runtime._http_front, an upgrade
becomes a :class:`WebSocketSession` on the same task (runtime._upgrade). Accepting and
draining the connections is runtime._connections' job.

Long because: the node's life is one sequence (listen, build, start every service in its
nursery, drain, sync, hand the leases back, close), and the few operations tests and the
cluster need of a running node (serve a socket, fire an alarm, evict, metrics) sit beside it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import attrs
import h11
import trio

from roost.actors import Response
from roost.protocol import CloseCode

from . import _tracing
from ._alarm_turns import fire_alarm
from ._app import App
from ._batcher import PassBatcher
from ._cluster import cluster_addresses
from ._config import ServerConfig
from ._connections import Connections, listen
from ._exposure import Exposure
from ._http_front import HttpFront
from ._inspector import Inspector
from ._membership import host_text, run_solo
from ._metrics import Gauges, MetricsExporter
from ._node import Node
from ._reader import Reader, new_reader
from ._registry import ActorRegistry
from ._runtime_endpoints import runtime_endpoint
from ._slot import ActorSlot
from ._stats import NodeStats
from ._sync import SyncWorker
from ._transport import Peer
from ._websocket import WebSocketSession
from ._worker import WorkerContext

log = logging.getLogger("roost.server")


@attrs.frozen
class ServerStatistics:
    """A snapshot of what the server holds right now."""

    connections: int
    websockets: int
    actors: int
    activations_total: int
    open_databases: int


class Server:
    """A roost node serving one App on one port.

    Start it with ``await nursery.start(server.serve)``; stop it with :meth:`shutdown`
    (graceful: stop accepting, let turns finish, close WebSockets with 1001).
    """

    def __init__(
        self, app: App, config: ServerConfig | None = None, *, worker: WorkerContext | None = None
    ) -> None:
        self.app = app
        self.config = config or ServerConfig()
        #: Set in a worker process of ``--workers N``: its index, the inherited listener.
        self.worker = worker
        self.stats = NodeStats()
        # The node's services (runtime/_node.py), built when serve() starts: building them
        # opens node.sqlite, which a Server that is only configured must not do.
        self._node: Node | None = None
        self.metrics = MetricsExporter(self.stats, self._gauges)
        self.port: int | None = None
        self.sessions: set[WebSocketSession] = set()
        self._flusher: PassBatcher[Peer] = PassBatcher()
        # The node's edge-triggered epoll for every peer's reads (runtime/_reader; made by
        # serve(), None where there is no epoll: peers then wait on their own sockets).
        self._reader: Reader | None = None
        self._stop_requested = trio.Event()
        self._stopped = trio.Event()
        self._nursery: trio.Nursery | None = None
        # Origins, trusted proxies, per-client limits, admin access (G10); the admin
        # listener's peers serve only the runtime endpoints.
        self.exposure = Exposure(self.config)
        self.admin_port: int | None = None
        self._connections = Connections(self.exposure)
        # The HTTP request path, built with the node (it routes to the node's registry).
        self._front: HttpFront | None = None
        # The web inspector at /_roost/ (--inspector): it reads this server's node when asked.
        self.inspector = Inspector(self) if self.config.inspector else None

    @property
    def node(self) -> Node:
        """The node's services; there from the start of :meth:`serve` on.

        Raises:
            RuntimeError: the server has not started serving.
        """
        if self._node is None:
            raise RuntimeError("the server has not started: its node is built by serve()")
        return self._node

    @property
    def registry(self) -> ActorRegistry:
        """The node's actor registry (see :attr:`node`)."""
        return self.node.registry

    @property
    def sync(self) -> SyncWorker:
        """The node's sync worker (see :attr:`node`)."""
        return self.node.sync

    def _gauges(self) -> Gauges:
        active, hibernated = self.registry.counts()
        sync = self.sync
        return Gauges(
            connections=len(self.sessions),
            actors_active=active,
            actors_hibernated=hibernated,
            alarms_pending=self.registry.scheduler.pending,
            alarms_quarantined=self.stats.alarms_quarantined_total,
            open_databases=self.registry.pool.statistics().open,
            sync_pending=sync.pending,
            sync_lag_seconds=sync.lag(),
            store_up=int(sync.store_ready),
            leases_held=0 if self.node.cluster is None else self.node.cluster.keeper.count,
            cluster_nodes=0 if self.node.cluster is None else self.node.cluster.live_nodes,
            wal_checkpoints_pending=self.registry.checkpoints.pending,
        )

    def statistics(self) -> ServerStatistics:
        """Counts for health checks and tests (all zero before :meth:`serve` started)."""
        node = self._node
        return ServerStatistics(
            connections=len(self._connections.peers),
            websockets=len(self.sessions),
            actors=0 if node is None else len(node.registry.slots),
            activations_total=self.stats.activations_total,
            open_databases=0 if node is None else node.registry.pool.statistics().open,
        )

    # -- running -----------------------------------------------------------------------------

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, serve until :meth:`shutdown`, then shut down gracefully."""
        _tracing.setup()  # OpenTelemetry, when the standard OTEL_* variables configure it
        config = self.config
        connections = self._connections
        worker = self.worker
        if worker is None:
            listener = listen(config.host, config.port, backlog=1024)
        else:  # the supervisor's socket, shared by every worker
            listener = worker.listener()
        self.port = listener.getsockname()[1]
        admin = self._listen_admin()
        # A worker's own address, for its siblings' links (the public port reaches any worker).
        private = listen("127.0.0.1", 0, backlog=128) if worker is not None else None
        node = self._node = Node(self.app, config, self.stats, worker=worker)
        registry, sync = node.registry, node.sync
        self._front = HttpFront(
            self.app,
            config,
            self.exposure,
            connections,
            registry,
            self._runtime_endpoint,
            cluster=node.cluster,
        )
        extra = [] if private is None else [private]
        reader = self._reader = new_reader(self._wake_session)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._flusher.run, lambda peer: peer.flush(nursery))
                if reader is not None:
                    await nursery.start(reader.run)
                nursery.start_soon(node.committer.run, ActorSlot.commit_group)
                checkpoint_scope = trio.CancelScope()  # WAL checkpoints aside
                nursery.start_soon(_run_in, checkpoint_scope, registry.checkpoints.run)
                nursery.start_soon(node.shipper.run, registry)  # durable output
                nursery.start_soon(self._maintain)
                await nursery.start(registry.run_evictions)
                cluster_scope = trio.CancelScope()
                if node.cluster is not None:
                    address, public = cluster_addresses(config, self.port, private)
                    await nursery.start(
                        partial(
                            _run_in_started,
                            cluster_scope,
                            partial(
                                node.cluster.run,
                                registry,
                                self,
                                address=address,
                                public_address=public,
                            ),
                        )
                    )
                elif config.store is not None:
                    solo = partial(
                        run_solo,
                        node.sync.store,
                        node_id=node.node_id,
                        address=f"{host_text(config.host)}:{self.port}",
                        close_timeout=config.close_timeout,
                    )
                    await nursery.start(partial(_run_in_started, cluster_scope, solo))
                alarm_scope = trio.CancelScope()
                fire = registry.fire_due_alarm
                nursery.start_soon(_run_in, alarm_scope, partial(node.scheduler.run, fire))
                sync_scope = trio.CancelScope()
                nursery.start_soon(_run_in, sync_scope, partial(sync.run, registry))
                accept_scope = trio.CancelScope()
                connections.listening = True
                nursery.start_soon(
                    connections.accept, listener, admin, nursery, accept_scope, self._handle, extra
                )
                task_status.started(self)
                await self._stop_requested.wait()
                alarm_scope.cancel()
                if node.cluster is not None:
                    # Handing over, not going away: clients reconnect at once (1012) and
                    # other nodes take the actors as soon as their leases are released.
                    node.cluster.draining = True
                    connections.close_code = CloseCode.SERVICE_RESTART
                await connections.drain(self.sessions, config.shutdown_timeout)
                # The listeners close when the drain ends, not when it begins: meanwhile
                # they answer probes (ready: 503 stopping) and refuse the rest with 503.
                connections.listening = False
                accept_scope.cancel()
                listener.close()
                if admin is not None:
                    admin.close()
                for sock in extra:
                    sock.close()
                await connections.cut(config.close_timeout)
                checkpoint_scope.cancel()  # the actors' own closes checkpoint their files
                await registry.checkpoints.stopped()
                await registry.stop_all()
                # Files stand alone after a shutdown: the WALs idle evictions kept go in (on
                # this thread: the node serves nothing any more, and a worker thread would
                # let a test's autojump clock leap over the wait).
                registry.pool.checkpoint_kept()
                sync_scope.cancel()
                await self._final_sync(node)
                if node.cluster is not None:
                    await node.cluster.hand_back(config.shutdown_timeout)
                cluster_scope.cancel()
                nursery.cancel_scope.cancel()
        finally:
            listener.close()
            for sock in extra:
                sock.close()
            if admin is not None:
                admin.close()
            node.close()
            if reader is not None:
                reader.close()
            with trio.CancelScope(shield=True):
                await sync.aclose()
            self._stopped.set()

    def serve_socket(
        self,
        sock: socket.socket,
        *,
        prefix: bytes = b"",
        client: tuple[str, int] | None = None,
        forwarded: bool = False,
    ) -> None:
        """Serve an already connected socket as if it had been accepted.

        The test kit hands it one end of a ``socket.socketpair()``, so tests talk to the
        real server code without a listening port; the cluster hands it connections that
        another node or worker forwarded: ``prefix`` are the bytes that node read already,
        ``client`` the address the client connected from, and ``forwarded`` says that the
        first request must be served here (never forwarded again). Call only while
        :meth:`serve` runs.
        """
        if self._nursery is None:
            raise RuntimeError("the server is not serving")
        if self._connections.stopping and not forwarded:
            raise RuntimeError("the server is not serving")
        sock.setblocking(False)
        self._nursery.start_soon(
            partial(self._handle, sock, prefix=prefix, client=client, forwarded=forwarded)
        )

    async def fire_alarm(self, actor_type: str, key: str, name: str) -> None:
        """Fire the alarm ``name`` of an actor now, whatever its due time (for tests)."""
        app_type = self.app.get(actor_type)
        if app_type is None:
            raise KeyError(f"unknown actor type {actor_type!r}")
        await fire_alarm(self.registry.slot(app_type, key), name, force=True)

    async def evict(self, actor_type: str, key: str) -> None:
        """Evict an actor now: on_stop runs; it hibernates if it has connections (for tests)."""
        slot = self.registry.slots.get((actor_type, key))
        if slot is not None:
            await self.registry.evict(slot)

    async def shutdown(self) -> None:
        """Stop gracefully and wait until the server has stopped."""
        self._stop_requested.set()
        await self._stopped.wait()

    def _listen_admin(self) -> socket.socket | None:
        """The runtime endpoints' own listener, when ``admin_port`` is set."""
        config = self.config
        if config.admin_port is None:
            return None
        inherited = None if self.worker is None else self.worker.admin_listener()
        if inherited is not None:  # the supervisor bound it once for every worker
            self.admin_port = inherited.getsockname()[1]
            return inherited
        admin = listen(config.admin_host or config.host, config.admin_port, backlog=128)
        self.admin_port = admin.getsockname()[1]
        return admin

    async def _maintain(self) -> None:
        """Keep-alive pings, close deadlines, idle actors and idle connections' tasks: one
        task for the whole node."""
        config = self.config
        tick = min(config.ping_interval, config.close_timeout, config.idle_timeout) / 4
        while True:
            await trio.sleep(tick)
            now = trio.current_time()
            for session in list(self.sessions):
                session.keepalive(now, config.ping_interval, config.ping_timeout)
                if now - session.last_seen >= tick:
                    # Quiet for a whole tick: the connection gives its task up (no-op unless
                    # it waits for bytes); a new one starts when bytes come, at most once a
                    # tick per connection. Early, so a burst of new connections reuses the
                    # memory of the tasks that ended (by RSS, "Memory per hibernated actor").
                    session.peer.detach(session)
            if not self._connections.stopping:
                await self.registry.evict_idle(now, config.idle_timeout)

    async def _final_sync(self, node: Node) -> None:
        """Graceful shutdown flushes: what cannot be written in time stays marked dirty."""
        with trio.move_on_after(self.config.shutdown_timeout):
            try:
                await node.sync.flush(node.registry)
            except Exception as exc:
                log.warning("final sync incomplete (%s); it resumes at the next start", exc)

    async def _runtime_endpoint(self, request: h11.Request, path: str) -> Response:
        """Answer a runtime endpoint (``/_roost/...``) with this node's state (a worker's
        metrics cover its siblings too)."""
        draining = self._connections.stopping
        cluster = self.node.cluster
        worker = self.worker
        return await runtime_endpoint(
            request,
            path,
            draining=draining,
            stopping=draining or self._stop_requested.is_set(),
            sync=self.sync,
            metrics=self.metrics,
            siblings=None if cluster is None or worker is None else cluster.sibling_metrics,
            worker=None if worker is None else str(worker.index),
            inspector=self.inspector,
        )

    def metrics_snapshot(self) -> dict[str, Any]:
        """This node's numbers as plain data (a sibling worker asks for them)."""
        return self.metrics.snapshot()

    # -- one TCP connection ------------------------------------------------------------------

    async def _handle(
        self,
        sock: socket.socket,
        admin: bool = False,
        *,
        prefix: bytes = b"",
        client: tuple[str, int] | None = None,
        forwarded: bool = False,
    ) -> None:
        """Serve one TCP connection; whatever goes wrong ends this connection only.

        ``admin``: it came in on the admin listener, which serves the runtime endpoints only.

        Its task runs in the server's nursery, so an exception escaping here would end the
        whole node: every failure is contained, logged once, and closes this socket (style
        16; HttpFront.serve answers 500 first when HTTP still allows it).
        """
        assert self._front is not None  # built by serve(), which runs this task
        peer = Peer(
            sock, self._flusher, self._reader, max_outbound_bytes=self.config.max_outbound_bytes
        )
        if forwarded:
            peer.set_remote_address(client)
        self._connections.add(peer, admin=admin)
        session: WebSocketSession | None = None
        detached = False
        try:
            upgraded = await self._front.serve(peer, prefix=prefix, forwarded=forwarded)
            if upgraded is not None:
                # Only the session stays referenced while the WebSocket lives: the HTTP
                # parser and the upgrade request are gone with HttpFront.serve's frame. It
                # runs right here, not in a method of its own: every parked connection
                # holds one coroutine frame less, and every task switch unwinds one less.
                session, trailing = upgraded
                del upgraded
                self.sessions.add(session)
                if self._connections.stopping:
                    session.close(self._connections.close_code, "server shutting down")
                detached = await session.run(trailing)
        except trio.ClosedResourceError:
            pass
        except Exception:
            log.exception("a connection failed; it is closed, the server goes on")
        finally:
            if not detached:  # else the connection lives on without a task (_resume)
                self._ended(peer, session)

    async def _resume(self, session: WebSocketSession) -> None:
        """Serve a WebSocket that gave its task up while idle, now that its socket has
        bytes or was closed (see :meth:`_maintain`); contained like :meth:`_handle`."""
        detached = False
        try:
            detached = await session.run(b"")
        except trio.ClosedResourceError:
            pass
        except Exception:
            log.exception("a connection failed; it is closed, the server goes on")
        finally:
            if not detached:
                self._ended(session.peer, session)

    def _wake_session(self, session: object) -> None:
        """The reader's wake hook: a detached session's socket has bytes or was closed."""
        assert isinstance(session, WebSocketSession)
        assert self._nursery is not None  # peers exist only while serve() runs
        self._nursery.start_soon(self._resume, session)

    def _ended(self, peer: Peer, session: WebSocketSession | None) -> None:
        """A connection is over: forget it, close its socket, give back its limits."""
        if session is not None:
            self.sessions.discard(session)
        peer.abort()
        self._connections.remove(peer, peer.sock)


async def _run_in_started(
    scope: trio.CancelScope,
    fn: Callable[..., Awaitable[None]],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``fn`` (which supports ``nursery.start``) inside ``scope``."""
    with scope:
        await fn(task_status=task_status)


async def _run_in(scope: trio.CancelScope, fn: Callable[[], Awaitable[None]]) -> None:
    """Run ``fn`` inside ``scope``, so it can be stopped apart from its nursery."""
    with scope:
        await fn()
