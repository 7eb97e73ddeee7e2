"""The HTTP request path of one node: read requests with h11 and answer each one.

A request goes, in order, to the runtime's endpoints (``/_roost/...``), a static mount
(``App.static``), an actor's rpc over HTTP, or the actor's ``on_request``; an upgrade leaves
for :func:`~roost.runtime._upgrade.upgrade`. Refusals (a head too slow or too big, a client
over its limits, a draining node) are answered here, and the connection closes behind them.
On a cluster node a request for an actor owned elsewhere goes to its owner from here
(runtime/_cluster.py), and a node link's upgrade is handed to the links.

Long because: one request's whole path (read, route, refuse, answer, and on a cluster node
the hand-over to the owner between its head and its body) shares the connection's h11 state
and its refusal rules; split, each piece would pass that state back and forth.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import attrs
import h11
import trio

from roost._errors import ConnectionRefused, HandshakeError, LinkError, NotFound, RpcError
from roost.actors import Actor, HttpCaller, Request, Response
from roost.protocol import is_websocket_upgrade

from . import _access_log, _tracing
from ._app import App
from ._auth import identify
from ._cluster import Cluster
from ._config import ServerConfig
from ._connections import Connections
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
from ._http_rpc import (
    REFUSAL_CODE,
    RETRY_AFTER_UNAVAILABLE,
    rpc_failure,
    rpc_over_http,
    rpc_refusal,
    unavailable,
    with_headers,
)
from ._registry import ActorRegistry
from ._routing import RUNTIME_PREFIX, parse_target, route_actor
from ._runtime_endpoints import RETRY_AFTER, is_runtime_target
from ._transport import Peer
from ._upgrade import upgrade
from ._websocket import WebSocketSession, linger_bytes

log = logging.getLogger("roost.server")

#: Answers a runtime endpoint: the request and its path.
Endpoint = Callable[[h11.Request, str], Awaitable[Response]]


class HttpFront:
    """Answers the HTTP requests of the node's peers, until a peer leaves or upgrades."""

    def __init__(
        self,
        app: App,
        config: ServerConfig,
        exposure: Exposure,
        connections: Connections,
        registry: ActorRegistry,
        endpoint: Endpoint,
        *,
        cluster: Cluster | None = None,
    ) -> None:
        self.app = app
        self.config = config
        #: A cluster node's routing: requests for actors owned elsewhere go to their owner.
        self.cluster = cluster
        # Origins, trusted proxies, per-client limits, admin access (G10).
        self.exposure = exposure
        self.connections = connections
        self.registry = registry
        self._endpoint = endpoint
        self._access_log = config.access_log  # read once: off costs nothing per request

    @property
    def owner_headers(self) -> list[tuple[bytes, bytes]]:
        """``Roost-Owner: HOST:PORT`` on a cluster node (the owner serves every request it
        answers, forwarded or not), for key-aware load balancers; none on a single node."""
        if self.cluster is None or not self.cluster.public_address:
            return []
        return [(b"roost-owner", self.cluster.public_address.encode())]

    async def serve(
        self, peer: Peer, *, prefix: bytes = b"", forwarded: bool = False
    ) -> tuple[WebSocketSession, bytes] | None:
        """Answer HTTP requests until the peer leaves, upgrades to a WebSocket, or goes to
        the node that owns the actor it asks for (a cluster node).

        ``prefix``: bytes another node or worker read from this connection already.
        ``forwarded``: that node sent it here because this node owns the actor of its first
        request, which is therefore served here or refused (never forwarded again).
        """
        config = self.config
        connections = self.connections
        conn = new_connection()
        if prefix:
            conn.receive_data(prefix)
        while not peer.closed:
            request: h11.Request | None = None
            elsewhere: tuple[str, str] | None = None
            link = False
            try:
                with self.exposure.gate.reading(peer.sock), trio.fail_after(config.request_timeout):
                    connections.idle(peer)  # between requests: nothing for a drain to wait on
                    try:
                        request = await read_head(peer, conn, max_headers=config.max_headers)
                    finally:
                        connections.busy(peer)
                    if request is None:
                        return None
                    started = trio.current_time() if self._access_log else 0.0
                    link = self.cluster is not None and _is_link(request)
                    if self.cluster is not None and not link:
                        elsewhere = self._not_held_here(request)
                    if elsewhere is None and not link:
                        body = await read_body(
                            peer, conn, request, max_body=config.max_message_size
                        )
            except trio.TooSlowError:
                if conn.their_state is h11.IDLE and not conn.trailing_data[0]:
                    return None  # an idle keep-alive connection: just close it
                await self.refuse(peer, conn, 408, "request timeout", request=request)
                return None
            except HandshakeError as exc:
                await self.refuse(peer, conn, exc.status, exc.reason, request=request)
                return None
            except (h11.RemoteProtocolError, ValueError):
                await self.refuse(peer, conn, 400, "malformed HTTP request", request=request)
                return None
            if link:  # a node link lives as long as the nodes do: no request deadline
                await self._accept_link(peer, conn)
                return None
            if elsewhere is not None:
                if await self._route(peer, conn, request, elsewhere, forwarded=forwarded):
                    return None  # gone to its owner, or refused
                forwarded = False
                read = await self._read_body(peer, conn, request)
                if read is None:
                    return None
                body = read
            forwarded = False
            client = self._client_address(peer, request)
            if not self.exposure.admit(peer, client):
                await self.refuse(
                    peer, conn, 429, "too many connections from this address", request=request
                )
                return None
            if connections.stopping and not is_runtime_target(request.target):
                # Draining: only the probes are answered; a client retries elsewhere.
                await self.refuse(
                    peer,
                    conn,
                    503,
                    "server shutting down",
                    headers=[(b"retry-after", RETRY_AFTER)],
                    request=request,
                )
                return None
            if is_websocket_upgrade(request.headers):
                return await upgrade(self, peer, conn, request)
            try:
                answer = self._respond(request, body, peer)
                if _tracing.tracer is not None:  # OpenTelemetry (runtime/_tracing)
                    answer = _tracing.traced_http(answer, request, client)
                response = await answer
                if connections.stopping:
                    response = attrs.evolve(
                        response, headers=(*response.headers, ("connection", "close"))
                    )
                if self.cluster is not None:
                    response = attrs.evolve(
                        response, headers=(*response.headers, *_text(self.owner_headers))
                    )
                write_response(peer, conn, response, head=request.method == b"HEAD")
                if self._access_log:
                    _access_log.answered(request, response, client, started, bytes_in=len(body))
            except Exception:
                # A bug or an invalid Response (a bad header, say): this request's failure.
                path = request.target.partition(b"?")[0]  # the query may hold a token (G10)
                log.exception("answering %s %r failed", request.method, path)
                await self.refuse(peer, conn, 500, "internal error")
                return None
            finally:
                self.exposure.release(peer)  # an upgraded peer keeps its unit until it ends
            if conn.our_state is h11.MUST_CLOSE or connections.stopping:
                with trio.move_on_after(config.close_timeout):
                    await peer.aclose()
                return None
            conn.start_next_cycle()
        return None

    # -- a cluster node's routing --------------------------------------------------------------

    def _not_held_here(self, request: h11.Request) -> tuple[str, str] | None:
        """The actor a request is for, when this node does not hold its lease now (never
        raises: a target that is no actor's is answered by the usual path)."""
        assert self.cluster is not None
        try:
            target = parse_target(request.target)
            if target.raw_path.startswith(RUNTIME_PREFIX):
                return None
            if self.app.files_for(target.raw_path) is not None:
                return None
            route = route_actor(target, max_key_bytes=self.config.max_key_bytes)
        except HandshakeError:
            return None
        if route is None or self.app.get(route.actor_type) is None:
            return None
        if self.cluster.serves(route.actor_type, route.key):
            return None
        return (route.actor_type, route.key)

    async def _route(
        self,
        peer: Peer,
        conn: h11.Connection,
        request: h11.Request,
        actor: tuple[str, str],
        *,
        forwarded: bool,
    ) -> bool:
        """Find the actor's owner and send the connection there; True when it is gone (to
        the owner, or refused here), False when this node serves it (it holds the lease now).

        A forwarded connection's first request is served here or refused: never sent on.
        """
        assert self.cluster is not None
        try:
            if forwarded:
                await self.cluster.locate(*actor, forwarded=True)
                return False
            return await self.cluster.hand_over(peer, conn, request, actor)
        except RpcError as exc:
            log.info("cannot serve %s/%s here or at its owner: %s", *actor, exc.message)
            headers = [(k.encode(), v.encode()) for k, v in RETRY_AFTER_UNAVAILABLE]
            await self.refuse(
                peer, conn, 503, "actor unavailable", headers=headers, request=request
            )
            return True

    async def _read_body(
        self, peer: Peer, conn: h11.Connection, request: h11.Request
    ) -> bytes | None:
        """The body of a request routed here after its head was read; None when refused."""
        try:
            with (
                self.exposure.gate.reading(peer.sock),
                trio.fail_after(self.config.request_timeout),
            ):
                return await read_body(peer, conn, request, max_body=self.config.max_message_size)
        except trio.TooSlowError:
            await self.refuse(peer, conn, 408, "request timeout", request=request)
        except HandshakeError as exc:
            await self.refuse(peer, conn, exc.status, exc.reason, request=request)
        except (h11.RemoteProtocolError, ValueError):
            await self.refuse(peer, conn, 400, "malformed HTTP request", request=request)
        return None

    async def _accept_link(self, peer: Peer, conn: h11.Connection) -> None:
        """Another node's link (``GET /_roost/link``, Upgrade: roost-link): the link protocol
        proves the cluster secret before anything is served (runtime/_links.py)."""
        assert self.cluster is not None
        self.connections.idle(peer)  # a link is no request a drain waits for
        peer.stop_reading()  # the stream reads it now (and closes it: unregistered first)
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(peer.sock))
        trailing, _closed = conn.trailing_data
        try:
            await self.cluster.links.accept(stream, prefix=bytes(trailing))
        except LinkError as exc:
            log.info("a node link ended: %s", exc)

    async def refuse(
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
                response = with_headers(
                    self._rpc_refusal(peer, request, status, reason), (("connection", "close"),)
                )
            else:
                response = error_response(status, reason)
            if headers:
                extra = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)
                response = attrs.evolve(response, headers=response.headers + extra)
            try:
                write_response(peer, conn, response)
                if self._access_log:
                    self._log_refusal(peer, request, response)
            except h11.LocalProtocolError:
                pass
        with trio.move_on_after(self.config.close_timeout):
            await peer.aclose(linger_bytes=linger_bytes(self.config.max_message_size))

    def _log_refusal(self, peer: Peer, request: h11.Request | None, response: Response) -> None:
        """The access record of a refusal (its duration is not known: ``-``)."""
        client = self.peer_address(peer) if request is None else self._client_address(peer, request)
        _access_log.answered(request, response, client)

    def _rpc_refusal(self, peer: Peer, request: h11.Request, status: int, reason: str) -> Response:
        """An rpc call refused before its actor, with the CORS headers of its Origin (G10)."""
        cors = self.exposure.cors(self.peer_address(peer), request.headers)
        return rpc_refusal(status, reason, cors)

    async def _respond(self, request: h11.Request, body: bytes, peer: Peer) -> Response:
        """Answer a plain HTTP request: the runtime's own endpoints, static files or an actor."""
        try:
            target = parse_target(request.target)
            refusal = self.exposure.runtime_refusal(
                target.raw_path, request.headers, admin=self.connections.is_admin(peer)
            )
            if refusal is not None:  # in front of the dispatch: the admin port and token
                return refusal
            if target.raw_path.startswith(RUNTIME_PREFIX):
                return await self._endpoint(request, target.raw_path)
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
                request.method, self.peer_address(peer), request.headers
            )
            if isinstance(answer, Response):
                return answer
            cors = answer
        actor_request = to_request(request, target, body, route.rest)
        try:  # before the slot: a refused request activates nothing (G10)
            actor_request = await self.authenticate(actor_request, peer, request)
        except (ConnectionRefused, HandshakeError) as exc:
            if rpc:
                code = REFUSAL_CODE.get(exc.status, "refused")
                return rpc_refusal(exc.status, exc.reason, cors, code=code)
            return error_response(exc.status, exc.reason)
        if rpc:
            caller = HttpCaller(
                identity=actor_request.identity,
                client=actor_request.client,
                headers=actor_request.headers,
            )
            reply = await rpc_over_http(
                self.app,
                self.registry,
                request,
                route.actor_type,
                route.key,
                route.rest,
                body,
                caller,
            )
            return with_headers(reply, cors)
        slot = self.registry.slot(actor_type, route.key)

        async def on_request(actor: Actor) -> Response:
            return await actor.on_request(actor_request)

        try:
            response = await slot.turn(on_request)
        except Exception as exc:
            if unavailable(exc):  # the shared store is down (logged): retryable
                reply = rpc_failure(exc.code, exc.message)
                return with_headers(reply, RETRY_AFTER_UNAVAILABLE)
            log.exception(
                "on_request failed for %s/%s",
                slot.actor_type,
                slot.key,
                extra={"actor_type": slot.actor_type, "key": slot.key},
            )
            return error_response(500, "internal error")
        if not isinstance(response, Response):
            log.error("on_request of %s returned %r, not a Response", slot.actor_type, response)
            return error_response(500, "internal error")
        return response

    async def authenticate(self, request: Request, peer: Peer, event: h11.Request) -> Request:
        """``request`` with its client address and the app's identity for it (G10).

        Raises:
            ConnectionRefused: the authenticate hook refused.
            HandshakeError: the hook failed (500) or timed out (503).
        """
        request = attrs.evolve(request, client=self._client_address(peer, event))
        # A page let in only by "*" may call, but not with the user's cookies (G10).
        request = self.exposure.without_foreign_credentials(
            request, self.peer_address(peer), event.headers
        )
        hook = self.app.authenticate_hook
        if hook is None:
            return request  # no hook: everyone gets in, with identity None
        identity = await identify(hook, request, max_seconds=self.config.request_timeout)
        if self._access_log:
            _access_log.IDENTITY.set(identity)
        return attrs.evolve(request, identity=identity)

    def _client_address(self, peer: Peer, event: h11.Request) -> tuple[str, int] | None:
        """The client's ``(host, port)``: the one place it is decided, from the socket's peer.

        ``event`` carries the headers a trusted proxy's resolution reads
        (``forwarded_allow_ips``); anybody else's forwarding headers are ignored.
        """
        return self.exposure.client(self.peer_address(peer), event.headers)

    def peer_address(self, peer: Peer) -> tuple[str, int] | None:
        """The socket's peer ``(host, port)``; None for a Unix socket or a closed one."""
        return peer.remote_address()


def _is_link(request: h11.Request) -> bool:
    """A node link's upgrade request (runtime/_links.py)."""
    if request.target != LINK_TARGET or request.method != b"GET":
        return False
    return any(
        name == b"upgrade" and value.lower() == LINK_UPGRADE for name, value in request.headers
    )


def _text(headers: list[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers)


#: The path and upgrade token of node links.
LINK_TARGET = b"/_roost/link"
LINK_UPGRADE = b"roost-link"
