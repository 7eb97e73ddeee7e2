"""One port for everything: WebSocket upgrades, actor HTTP, and the runtime's endpoints.

Each accepted socket gets one task. It reads HTTP requests with h11; an upgrade to
``/<type>/<key>`` becomes a :class:`WebSocketSession` on the same task, anything else is
answered by the runtime (``/_roost/...``), by a static mount (``App.static``) or by the actor's
``on_request``.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeGuard

import attrs
import h11
import trio

from roost._errors import (
    CommitFailed,
    ConnectionRefused,
    ErrorCode,
    HandshakeError,
    NotFound,
    RpcError,
    http_status_for,
)
from roost.actors import Actor, Connection, HttpCaller, Request, Response
from roost.actors.hosting import http_callable
from roost.protocol import (
    SUBPROTOCOLS,
    CloseCode,
    EnvelopeCodec,
    EnvelopeError,
    EnvelopeTooBig,
    ValueTooLarge,
    accept_headers,
    check_upgrade,
    codec_for_content_type,
    codec_for_subprotocol,
    is_websocket_upgrade,
    rejection_headers,
)

from ._alarm_turns import fire_alarm
from ._app import App
from ._auth import identify
from ._batcher import PassBatcher
from ._config import ServerConfig
from ._exposure import Exposure
from ._http import (
    error_response,
    is_rpc_target,
    new_connection,
    read_body,
    read_head,
    to_request,
    write_response,
)
from ._metrics import Gauges, MetricsExporter
from ._node import Node
from ._registry import ActorRegistry
from ._routing import RUNTIME_PREFIX, parse_target, route_actor
from ._slot import ActorSlot
from ._stats import NodeStats
from ._sync import SyncWorker
from ._transport import Peer
from ._websocket import WebSocketSession, clip_message, linger_bytes

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

    def __init__(self, app: App, config: ServerConfig | None = None) -> None:
        self.app = app
        self.config = config or ServerConfig()
        self.stats = NodeStats()
        # The node's services (runtime/_node.py), built when serve() starts: building them
        # opens node.sqlite, which a Server that is only configured must not do.
        self._node: Node | None = None
        self.metrics = MetricsExporter(self.stats, self._gauges)
        self.port: int | None = None
        self.sessions: set[WebSocketSession] = set()
        self._flusher: PassBatcher[Peer] = PassBatcher()
        self._peers: set[Peer] = set()
        # Peers waiting for a request head (keep-alive between requests): they hold no work,
        # so the drain does not wait for them.
        self._idle: set[Peer] = set()
        self._stopping = False
        self._listening = False
        self._stop_requested = trio.Event()
        self._drained = trio.Event()  # stopping, and every peer is idle
        self._gone = trio.Event()  # stopping, and no peer is left
        self._stopped = trio.Event()
        self._nursery: trio.Nursery | None = None
        # Origins, trusted proxies, per-client limits, admin access (G10); the admin
        # listener's peers serve only the runtime endpoints.
        self.exposure = Exposure(self.config)
        self.admin_port: int | None = None
        self._admin_peers: set[Peer] = set()

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
        )

    def statistics(self) -> ServerStatistics:
        """Counts for health checks and tests (all zero before :meth:`serve` started)."""
        node = self._node
        return ServerStatistics(
            connections=len(self._peers),
            websockets=len(self.sessions),
            actors=0 if node is None else len(node.registry.slots),
            activations_total=self.stats.activations_total,
            open_databases=0 if node is None else node.registry.pool.statistics().open,
        )

    # -- running -----------------------------------------------------------------------------

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, serve until :meth:`shutdown`, then shut down gracefully."""
        config = self.config
        listener = socket.create_server((config.host, config.port), backlog=1024, reuse_port=False)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        admin = self._listen_admin()
        node = self._node = Node(self.app, config, self.stats)
        registry, sync = node.registry, node.sync
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._flusher.run, lambda peer: peer.flush(nursery))
                nursery.start_soon(node.committer.run, ActorSlot.commit_group)
                nursery.start_soon(self._maintain)
                await nursery.start(registry.run_evictions)
                alarm_scope = trio.CancelScope()
                fire = registry.fire_due_alarm
                nursery.start_soon(_run_in, alarm_scope, partial(node.scheduler.run, fire))
                sync_scope = trio.CancelScope()
                nursery.start_soon(_run_in, sync_scope, partial(sync.run, registry))
                accept_scope = trio.CancelScope()
                self._listening = True
                nursery.start_soon(self._accept, listener, admin, nursery, accept_scope)
                task_status.started(self)
                await self._stop_requested.wait()
                alarm_scope.cancel()
                await self._drain_connections()
                # The listeners close when the drain ends, not when it begins: meanwhile
                # they answer probes (ready: 503 stopping) and refuse the rest with 503.
                self._listening = False
                accept_scope.cancel()
                listener.close()
                if admin is not None:
                    admin.close()
                await self._cut_peers()
                await registry.stop_all()
                sync_scope.cancel()
                await self._final_sync(node)
                nursery.cancel_scope.cancel()
        finally:
            listener.close()
            if admin is not None:
                admin.close()
            node.close()
            with trio.CancelScope(shield=True):
                await sync.aclose()
            self._stopped.set()

    def serve_socket(self, sock: socket.socket) -> None:
        """Serve an already connected socket as if it had been accepted.

        The test kit hands it one end of a ``socket.socketpair()``, so tests talk to the
        real server code without a listening port. Call only while :meth:`serve` runs.
        """
        if self._nursery is None or self._stopping:
            raise RuntimeError("the server is not serving")
        sock.setblocking(False)
        self._nursery.start_soon(self._handle, sock)

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
        host = config.admin_host or config.host
        admin = socket.create_server((host, config.admin_port), backlog=128, reuse_port=False)
        admin.setblocking(False)
        self.admin_port = admin.getsockname()[1]
        return admin

    async def _accept(
        self,
        listener: socket.socket,
        admin: socket.socket | None,
        nursery: trio.Nursery,
        scope: trio.CancelScope,
    ) -> None:
        """Accept on the public listener (and the admin one) until ``scope`` is cancelled."""
        with scope:
            async with trio.open_nursery() as loops:
                if admin is not None:
                    loops.start_soon(self._accept_loop, admin, nursery, True)
                await self._accept_loop(listener, nursery, False)

    async def _accept_loop(
        self, listener: socket.socket, nursery: trio.Nursery, admin: bool
    ) -> None:
        gate = self.exposure.gate
        while True:
            # Slow-loris guard: while max_pending_handshakes connections are still sending
            # their head, new ones wait in the kernel's backlog and cost us nothing.
            await gate.wait_for_room()
            await trio.lowlevel.wait_readable(listener)
            for _ in range(64):  # take a burst of handshakes per wake-up
                if not gate.has_room() or not self._listening:
                    break
                try:
                    sock, _addr = listener.accept()
                except BlockingIOError:
                    break
                except OSError as exc:  # EMFILE and friends: log, back off a little
                    log.warning("accept failed: %s", exc)
                    await trio.sleep(0.05)
                    break
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                gate.enter(sock)
                nursery.start_soon(self._handle, sock, admin)

    async def _maintain(self) -> None:
        """Keep-alive pings, close deadlines and idle actors: one task for the whole node."""
        config = self.config
        tick = min(config.ping_interval, config.close_timeout, config.idle_timeout) / 4
        while True:
            await trio.sleep(tick)
            now = trio.current_time()
            for session in list(self.sessions):
                session.keepalive(now, config.ping_interval, config.ping_timeout)
            if not self._stopping:
                await self.registry.evict_idle(now, config.idle_timeout)

    async def _final_sync(self, node: Node) -> None:
        """Graceful shutdown flushes: what cannot be written in time stays marked dirty."""
        with trio.move_on_after(self.config.shutdown_timeout):
            try:
                await node.sync.flush(node.registry)
            except Exception as exc:
                log.warning("final sync incomplete (%s); it resumes at the next start", exc)

    async def _drain_connections(self) -> None:
        """Graceful shutdown: close WebSockets with 1001, then wait (``shutdown_timeout``)
        until every peer is idle: WebSockets closed, requests answered.

        The listeners stay open meanwhile, and peers are served in drain mode (see
        :meth:`_serve_http`): probes are answered, everything else gets 503 and a close.
        """
        self._stopping = True
        for session in list(self.sessions):
            session.close(CloseCode.GOING_AWAY, "server shutting down")
        self._peer_changed()
        with trio.move_on_after(self.config.shutdown_timeout):
            await self._drained.wait()

    async def _cut_peers(self) -> None:
        """After the drain: cut every peer left (idle keep-alives, WebSockets past the
        deadline) and give their tasks ``close_timeout`` to run their on_close turns."""
        for peer in list(self._peers):
            peer.abort()
        self._peer_changed()
        with trio.move_on_after(self.config.close_timeout):
            await self._gone.wait()

    def _peer_changed(self) -> None:
        """A peer left or became idle: wake the drain when it is done."""
        if self._stopping:
            if self._peers <= self._idle:
                self._drained.set()
            if not self._peers:
                self._gone.set()

    # -- one TCP connection ------------------------------------------------------------------

    async def _handle(self, sock: socket.socket, admin: bool = False) -> None:
        """Serve one TCP connection; whatever goes wrong ends this connection only.

        ``admin``: it came in on the admin listener, which serves the runtime endpoints only.

        Its task runs in the server's nursery, so an exception escaping here would end the
        whole node: every failure is contained, logged once, and closes this socket (style
        16; _serve_http answers 500 first when HTTP still allows it).
        """
        peer = Peer(sock, self._flusher, max_outbound_bytes=self.config.max_outbound_bytes)
        self._peers.add(peer)
        if admin:
            self._admin_peers.add(peer)
        try:
            upgraded = await self._serve_http(peer)
            if upgraded is not None:
                # Only the session stays referenced while the WebSocket lives: the HTTP
                # parser and the upgrade request are gone with _serve_http's frame.
                await self._run_session(*upgraded)
        except trio.ClosedResourceError:
            pass
        except Exception:
            log.exception("a connection failed; it is closed, the server goes on")
        finally:
            peer.abort()
            self._peers.discard(peer)
            self._idle.discard(peer)
            self._admin_peers.discard(peer)
            self.exposure.gate.leave(sock)
            self.exposure.release(peer)
            self._peer_changed()

    async def _serve_http(self, peer: Peer) -> tuple[WebSocketSession, bytes] | None:
        """Answer HTTP requests until the peer leaves or upgrades to a WebSocket."""
        config = self.config
        conn = new_connection()
        while not peer.closed:
            request: h11.Request | None = None
            try:
                with self.exposure.gate.reading(peer.sock), trio.fail_after(config.request_timeout):
                    self._idle.add(peer)  # between requests: nothing for a drain to wait on
                    self._peer_changed()
                    try:
                        request = await read_head(peer, conn, max_headers=config.max_headers)
                    finally:
                        self._idle.discard(peer)
                    if request is None:
                        return None
                    body = await read_body(peer, conn, request, max_body=config.max_message_size)
            except trio.TooSlowError:
                if conn.their_state is h11.IDLE and not conn.trailing_data[0]:
                    return None  # an idle keep-alive connection: just close it
                await self._refuse(peer, conn, 408, "request timeout", request=request)
                return None
            except HandshakeError as exc:
                await self._refuse(peer, conn, exc.status, exc.reason, request=request)
                return None
            except (h11.RemoteProtocolError, ValueError):
                await self._refuse(peer, conn, 400, "malformed HTTP request", request=request)
                return None
            if not self.exposure.admit(peer, self._client_address(peer, request)):
                await self._refuse(
                    peer, conn, 429, "too many connections from this address", request=request
                )
                return None
            if self._stopping and not _is_runtime_target(request.target):
                # Draining: only the probes are answered; a client retries elsewhere.
                await self._refuse(
                    peer,
                    conn,
                    503,
                    "server shutting down",
                    headers=[(b"retry-after", RETRY_AFTER)],
                    request=request,
                )
                return None
            if is_websocket_upgrade(request.headers):
                return await self._upgrade(peer, conn, request)
            try:
                response = await self._respond(request, body, peer)
                if self._stopping:
                    response = attrs.evolve(
                        response, headers=(*response.headers, ("connection", "close"))
                    )
                write_response(peer, conn, response, head=request.method == b"HEAD")
            except Exception:
                # A bug or an invalid Response (a bad header, say): this request's failure.
                path = request.target.partition(b"?")[0]  # the query may hold a token (G10)
                log.exception("answering %s %r failed", request.method, path)
                await self._refuse(peer, conn, 500, "internal error")
                return None
            finally:
                self.exposure.release(peer)  # an upgraded peer keeps its unit until it ends
            if conn.our_state is h11.MUST_CLOSE or self._stopping:
                with trio.move_on_after(config.close_timeout):
                    await peer.aclose()
                return None
            conn.start_next_cycle()
        return None

    async def _refuse(
        self,
        peer: Peer,
        conn: h11.Connection,
        status: int,
        reason: str,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        request: h11.Request | None = None,
    ) -> None:
        """Answer with an error and close, if HTTP still allows a response.

        ``request``: the request whose head was read, if any. An rpc call's refusal (a body
        over the limit, say) is JSON like its error replies, so its client reads them alike.

        The close lingers: the client may still be sending (the rest of a 20 MiB body, a
        head over the limit) and closing with unread bytes would reset the connection,
        destroying the answer before it is read. So the write side is shut down behind the
        answer and what arrives is dropped until the client's EOF, for at most
        ``close_timeout`` seconds and ``linger_bytes`` bytes.
        """
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            if request is not None and is_rpc_target(request.target):
                response = _with_headers(
                    self._rpc_refusal(peer, request, status, reason), (("connection", "close"),)
                )
            else:
                response = error_response(status, reason)
            if headers:
                extra = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)
                response = attrs.evolve(response, headers=response.headers + extra)
            try:
                write_response(peer, conn, response)
            except h11.LocalProtocolError:
                pass
        with trio.move_on_after(self.config.close_timeout):
            await peer.aclose(linger_bytes=linger_bytes(self.config.max_message_size))

    def _rpc_refusal(self, peer: Peer, request: h11.Request, status: int, reason: str) -> Response:
        """An rpc call refused before its actor: JSON like its error replies, with the CORS
        headers an allowed page needs to read it (every answer carries them, G10)."""
        code = _REFUSAL_CODE.get(status, ErrorCode.BAD_REQUEST.value)
        cors = self.exposure.cors(self._peer_address(peer), request.headers)
        return _with_headers(_rpc_error(status, code, reason), cors)

    async def _respond(self, request: h11.Request, body: bytes, peer: Peer) -> Response:
        """Answer a plain HTTP request: the runtime's own endpoints, static files or an actor."""
        try:
            target = parse_target(request.target)
            refusal = self.exposure.runtime_refusal(
                target.raw_path, request.headers, admin=peer in self._admin_peers
            )
            if refusal is not None:  # in front of the dispatch: the admin port and token
                return refusal
            if target.raw_path.startswith(RUNTIME_PREFIX):
                return self._runtime_endpoint(request, target.raw_path)
            files = self.app.files_for(target.raw_path)
            if files is not None:
                return await files.respond(request.method.decode("ascii"), target.raw_path)
            route = route_actor(target, max_key_bytes=self.config.max_key_bytes)
            actor_type = self.app.get(route.actor_type) if route else None
            if route is None or actor_type is None:
                raise NotFound("no actor type serves this path")
        except HandshakeError as exc:
            if is_rpc_target(request.target):  # a bad key, no such type: an rpc error
                return self._rpc_refusal(peer, request, exc.status, exc.reason)
            return error_response(exc.status, exc.reason)
        rpc = route.rest.startswith("/rpc/")
        cors: tuple[tuple[str, str], ...] = ()
        if rpc:  # a browser page's call: its Origin decides, before authentication (G10)
            answer = self.exposure.rpc_cors(
                request.method, self._peer_address(peer), request.headers
            )
            if isinstance(answer, Response):
                return answer
            cors = answer
        actor_request = to_request(request, target, body, route.rest)
        try:  # before the slot: a refused request activates nothing (G10)
            actor_request = await self._authenticate(actor_request, peer, request)
        except (ConnectionRefused, HandshakeError) as exc:
            if rpc:
                code = _REFUSAL_CODE.get(exc.status, "refused")
                return _with_headers(_rpc_error(exc.status, code, exc.reason), cors)
            return error_response(exc.status, exc.reason)
        if rpc:
            caller = HttpCaller(
                identity=actor_request.identity,
                client=actor_request.client,
                headers=actor_request.headers,
            )
            reply = await self._rpc_over_http(
                request, route.actor_type, route.key, route.rest, body, caller
            )
            return _with_headers(reply, cors)
        slot = self.registry.slot(actor_type, route.key)

        async def on_request(actor: Actor) -> Response:
            return await actor.on_request(actor_request)

        try:
            response = await slot.turn(on_request)
        except Exception as exc:
            if _unavailable(exc):  # the shared store is down (logged): retryable
                return _with_headers(_rpc_failure(exc.code, exc.message), _RETRY_AFTER)
            log.exception("on_request failed for %s/%s", slot.actor_type, slot.key)
            return error_response(500, "internal error")
        if not isinstance(response, Response):
            log.error("on_request of %s returned %r, not a Response", slot.actor_type, response)
            return error_response(500, "internal error")
        return response

    async def _rpc_over_http(
        self,
        request: h11.Request,
        actor_type: str,
        key: str,
        rest: str,
        body: bytes,
        caller: HttpCaller,
    ) -> Response:
        """``POST /<type>/<key>/rpc/<method>``: a map of arguments in, ``{"value": ...}`` out.

        The body is read by the envelope codec's rules and limits (the data model lives in
        one place), and only as ``application/json`` or ``application/cbor``, so a foreign
        page cannot make a browser post a form here (G10). The reply, errors included, is in
        the request's encoding.
        """
        try:
            codec = codec_for_content_type(_content_type(request.headers), empty=not body)
        except HandshakeError as exc:
            return _rpc_error(exc.status, ErrorCode.BAD_REQUEST.value, exc.reason)
        if request.method != b"POST":
            return _rpc_error(
                405, ErrorCode.BAD_REQUEST.value, "rpc calls are POST requests", codec
            )
        method = rest[len("/rpc/") :]
        registered = self.app.get(actor_type)
        if registered is not None and not http_callable(registered.cls, method):
            # @rpc(http=False): the same answer as a method that does not exist.
            return _rpc_failure(ErrorCode.NOT_FOUND, f"no rpc method {method!r}", codec)
        try:
            args = codec.decode_args(body)
        except EnvelopeError as exc:
            if isinstance(exc, EnvelopeTooBig):
                return _rpc_failure(ErrorCode.TOO_LARGE, exc.reason, codec)
            return _rpc_failure(ErrorCode.BAD_REQUEST, exc.reason, codec)
        try:
            value = await self.registry.call_actor(None, actor_type, key, method, args, conn=caller)
        except RpcError as exc:
            if exc.code == ErrorCode.INTERNAL:
                log.error("rpc %r of %s/%r failed: %r", method, actor_type, key, exc.message)
                return _rpc_failure(ErrorCode.INTERNAL, "the method failed", codec)
            reply = _rpc_failure(exc.code, exc.message, codec)
            return _with_headers(reply, _RETRY_AFTER) if _unavailable(exc) else reply
        try:
            return _rpc_reply(codec, 200, {"value": value})
        except EnvelopeError as exc:  # the turn committed; its result cannot be sent
            log.error(
                "rpc %r of %s/%r returned an unsendable value: %s", method, actor_type, key, exc
            )
            if isinstance(exc, ValueTooLarge):
                return _rpc_failure(
                    ErrorCode.TOO_LARGE, "the result is over the size limits", codec
                )
            return _rpc_failure(ErrorCode.INTERNAL, "the result is outside the data model", codec)

    def _runtime_endpoint(self, request: h11.Request, path: str) -> Response:
        if request.method not in (b"GET", b"HEAD"):
            return error_response(405, "method not allowed")
        if path == RUNTIME_PREFIX + "health":
            # Liveness: 200 as long as the process serves, draining or not, store or not; a
            # PostgreSQL blip must not make a supervisor restart every node.
            return Response.json({"status": "stopping" if self._stopping else "ok"})
        if path == RUNTIME_PREFIX + "ready":
            # Readiness: whether to send this node traffic. Not while it drains, nor while
            # the shared store does not answer (activations that restore would fail and sync
            # lags; G7 keeps the state meanwhile). The reason never carries the store's error.
            if self._stopping or self._stop_requested.is_set():
                return Response.json({"status": "stopping"}, status=503)
            if self.sync is not None and not self.sync.store_ready:
                return Response.json({"status": "store unreachable"}, status=503)
            return Response.json({"status": "ready"})
        if path == RUNTIME_PREFIX + "metrics":
            accept = next((v.decode("latin-1") for k, v in request.headers if k == b"accept"), None)
            body, content_type = self.metrics.render(accept)
            return Response(body=body, content_type=content_type)
        return error_response(404, "not found")

    async def _authenticate(self, request: Request, peer: Peer, event: h11.Request) -> Request:
        """``request`` with its client address and the app's identity for it (G10).

        Raises:
            ConnectionRefused: the authenticate hook refused.
            HandshakeError: the hook failed (500) or timed out (503).
        """
        request = attrs.evolve(request, client=self._client_address(peer, event))
        # A page let in only by "*" may call, but not with the user's cookies (G10).
        request = self.exposure.without_foreign_credentials(
            request, self._peer_address(peer), event.headers
        )
        hook = self.app.authenticate_hook
        identity = await identify(hook, request, max_seconds=self.config.request_timeout)
        return attrs.evolve(request, identity=identity)

    def _client_address(self, peer: Peer, event: h11.Request) -> tuple[str, int] | None:
        """The client's ``(host, port)``: the one place it is decided, from the socket's peer.

        ``event`` carries the headers a trusted proxy's resolution reads
        (``forwarded_allow_ips``); anybody else's forwarding headers are ignored.
        """
        return self.exposure.client(self._peer_address(peer), event.headers)

    def _peer_address(self, peer: Peer) -> tuple[str, int] | None:
        """The socket's peer ``(host, port)``; None for a Unix socket or a closed one."""
        try:
            address = peer.sock.getpeername()
        except OSError:  # already gone
            return None
        if isinstance(address, tuple) and len(address) >= 2:  # IPv6 adds flow and scope
            return (str(address[0]), int(address[1]))
        return None  # a Unix socket (the test kit's socket pairs)

    # -- WebSocket ---------------------------------------------------------------------------

    async def _upgrade(
        self, peer: Peer, conn: h11.Connection, request: h11.Request
    ) -> tuple[WebSocketSession, bytes] | None:
        """Run on_connect; on acceptance return the session and the bytes behind the request."""
        config = self.config
        try:
            if self._stopping:  # an upgrade to /_roost/...; the others never get here
                raise HandshakeError("server shutting down", status=503)
            if peer in self._admin_peers:
                raise NotFound("the admin port serves the runtime endpoints only")
            # A foreign page must not open a socket with the user's cookies (G10).
            self.exposure.check_origin(self._peer_address(peer), request.headers)
            upgrade = check_upgrade(
                request.method, request.headers, http_version=request.http_version
            )
            target = parse_target(request.target)
            route = route_actor(target, max_key_bytes=config.max_key_bytes)
            actor_type = self.app.get(route.actor_type) if route else None
            if route is None or actor_type is None:
                raise NotFound("no actor type serves this path")
        except HandshakeError as exc:
            await self._refuse(peer, conn, exc.status, exc.reason, headers=rejection_headers(exc))
            return None
        try:  # before the slot: a refused upgrade activates nothing (G10)
            actor_request = await self._authenticate(
                to_request(request, target, b"", route.rest), peer, request
            )
        except (ConnectionRefused, HandshakeError) as exc:
            await self._refuse(peer, conn, exc.status, exc.reason)
            return None

        # The client lists subprotocols by preference: the first we speak is the one.
        subprotocol = next((p for p in upgrade.subprotocols if p in SUBPROTOCOLS), None)
        codec = codec_for_subprotocol(subprotocol) if subprotocol else None
        slot = self.registry.slot(actor_type, route.key)
        connection = Connection(
            slot,
            self.registry.new_connection_id(),
            subprotocol,
            identity=actor_request.identity,
            client=actor_request.client,
        )
        session = WebSocketSession(
            slot,
            connection,
            peer,
            max_message_size=config.max_message_size,
            close_timeout=config.close_timeout,
            codec=codec,
            max_messages_per_second=config.max_messages_per_second,
        )
        peer.on_overflow = session.slow_consumer

        async def on_connect(actor: Actor) -> None:
            # Counted inside the turn, where sessions are added: exact under concurrency.
            if len(slot.sessions) >= config.max_connections_per_actor:
                raise ConnectionRefused("too many connections to this actor", status=503)
            slot.sessions[connection] = session
            try:
                await actor.on_connect(connection, actor_request)
            except BaseException:
                slot.sessions.pop(connection, None)
                raise

        def accept() -> None:
            # After the commit, before the turn's frames: the 101 must lead the stream.
            response = h11.InformationalResponse(
                status_code=101, headers=accept_headers(upgrade, subprotocol)
            )
            peer.write(conn.send(response))
            session.opened()

        try:
            await slot.turn(on_connect, before_release=accept, may_group=True)
        except ConnectionRefused as exc:
            slot.sessions.pop(connection, None)
            await self._refuse(peer, conn, exc.status, exc.reason)
            return None
        except Exception as exc:
            slot.sessions.pop(connection, None)
            if _unavailable(exc):  # the shared store is down (logged): retryable
                headers = [(k.encode(), v.encode()) for k, v in _RETRY_AFTER]
                await self._refuse(
                    peer, conn, ErrorCode.UNAVAILABLE.http_status, "unavailable", headers=headers
                )
                return None
            if not isinstance(exc, CommitFailed):
                log.exception("on_connect failed for %s/%s", slot.actor_type, slot.key)
            await self._refuse(peer, conn, 500, "internal error")
            return None

        trailing, _closed = conn.trailing_data
        return session, bytes(trailing)

    async def _run_session(self, session: WebSocketSession, trailing: bytes) -> None:
        self.sessions.add(session)
        try:
            if self._stopping:
                session.close(CloseCode.GOING_AWAY, "server shutting down")
            await session.run(trailing)
        finally:
            self.sessions.discard(session)


async def _run_in(scope: trio.CancelScope, fn: Callable[[], Awaitable[None]]) -> None:
    """Run ``fn`` inside ``scope``, so it can be stopped apart from its nursery."""
    with scope:
        await fn()


_JSON_BODY = codec_for_content_type("application/json")
#: Retry-After of a draining node's 503, in seconds: the client should come back soon, to
#: another node (the load balancer stops routing here once ready says "stopping").
RETRY_AFTER = b"1"


def _is_runtime_target(target: bytes) -> bool:
    """Whether a raw request target is a runtime endpoint (``/_roost/...``)."""
    return target.partition(b"?")[0].startswith(RUNTIME_PREFIX.encode())


#: The error code of an HTTP rpc call the authenticate hook refused, by status: the code
#: whose status it is (ErrorCode.http_status, the one map), else the refusal's own word.
_REFUSAL_CODE = {
    **{code.http_status: code.value for code in ErrorCode},
    401: "unauthorized",
    403: "forbidden",
}


def _content_type(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """The request's Content-Type (repeated ones joined, which no codec accepts)."""
    values = [value.decode("latin-1") for name, value in headers if name == b"content-type"]
    return ", ".join(values) if values else None


def _rpc_reply(codec: EnvelopeCodec, status: int, body: dict[str, Any]) -> Response:
    """An HTTP rpc reply in ``codec``'s encoding (EnvelopeError when it cannot be encoded)."""
    return Response(
        status=status, body=codec.encode_body(body), content_type=f"application/{codec.kind}"
    )


#: Retry-After of a 503 ``unavailable`` (a shared-store outage at activation): a few seconds.
_RETRY_AFTER = (("retry-after", "5"),)


def _unavailable(exc: Exception) -> TypeGuard[RpcError]:
    """Whether ``exc`` is the retryable ``unavailable`` (an activation the store failed)."""
    return isinstance(exc, RpcError) and exc.code == ErrorCode.UNAVAILABLE


def _with_headers(response: Response, headers: tuple[tuple[str, str], ...]) -> Response:
    """``response`` with ``headers`` added (the CORS answer of an rpc call)."""
    return attrs.evolve(response, headers=(*response.headers, *headers)) if headers else response


def _rpc_failure(code: str, message: str, codec: EnvelopeCodec = _JSON_BODY) -> Response:
    """An error reply with the HTTP status of its ``code`` (:func:`http_status_for`)."""
    return _rpc_error(http_status_for(code), str(code), message, codec)


def _rpc_error(status: int, code: str, message: str, codec: EnvelopeCodec = _JSON_BODY) -> Response:
    """An error reply, ``{"error": {"code": ..., "message": ...}}``, in ``codec``'s encoding.

    The message is clipped: it may repeat client text (a method name).
    """
    try:
        error = {"code": code, "message": clip_message(message)}
        return _rpc_reply(codec, status, {"error": error})
    except EnvelopeError:  # an actor's RpcError message off the data model or too long
        return _rpc_reply(codec, status, {"error": {"code": code, "message": code}})
