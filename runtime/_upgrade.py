"""The WebSocket upgrade: from an HTTP request to an accepted :class:`WebSocketSession`.

In order: drain and admin port, Origin (G10), the handshake's headers, the route, the app's
authenticate hook, then on_connect in a turn with the per-actor connection limit; the 101
goes out after that turn commits, ahead of anything the turn sent.
"""

from __future__ import annotations

import logging
from typing import Protocol

import h11

from roost._errors import (
    CommitFailed,
    ConnectionRefused,
    ErrorCode,
    HandshakeError,
    NotFound,
)
from roost.actors import Actor, Connection, Request
from roost.protocol import (
    SUBPROTOCOLS,
    accept_headers,
    check_upgrade,
    codec_for_subprotocol,
    parse_resume,
    rejection_headers,
)

from ._access_log import session_started
from ._app import App
from ._config import ServerConfig
from ._connections import Connections
from ._exposure import Exposure
from ._http import to_request
from ._http_rpc import RETRY_AFTER_UNAVAILABLE, unavailable
from ._registry import ActorRegistry
from ._replay import resume_session
from ._routing import parse_target, route_actor
from ._transport import Peer
from ._websocket import WebSocketSession

log = logging.getLogger("roost.server")


class UpgradeFront(Protocol):
    """What an upgrade needs of the HTTP front that read its request (runtime._http_front)."""

    app: App
    config: ServerConfig
    exposure: Exposure
    connections: Connections
    registry: ActorRegistry

    @property
    def owner_headers(self) -> list[tuple[bytes, bytes]]:
        """``Roost-Owner: HOST:PORT`` on a cluster node (key-aware load balancers), else none."""
        ...

    async def refuse(
        self,
        peer: Peer,
        conn: h11.Connection,
        status: int,
        reason: str,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        request: h11.Request | None = None,
    ) -> None: ...

    async def authenticate(self, request: Request, peer: Peer, event: h11.Request) -> Request: ...

    def peer_address(self, peer: Peer) -> tuple[str, int] | None: ...


async def upgrade(
    front: UpgradeFront, peer: Peer, conn: h11.Connection, request: h11.Request
) -> tuple[WebSocketSession, bytes] | None:
    """Run on_connect; on acceptance return the session and the bytes behind the request."""
    config = front.config
    registry = front.registry
    try:
        if front.connections.stopping:  # an upgrade to /_roost/...; the others never get here
            raise HandshakeError("server shutting down", status=503)
        if front.connections.is_admin(peer):
            raise NotFound("the admin port serves the runtime endpoints only")
        # A foreign page must not open a socket with the user's cookies (G10).
        front.exposure.check_origin(front.peer_address(peer), request.headers)
        upgrade = check_upgrade(request.method, request.headers, http_version=request.http_version)
        target = parse_target(request.target)
        route = route_actor(target, max_key_bytes=config.max_key_bytes)
        actor_type = front.app.get(route.actor_type) if route else None
        if route is None or actor_type is None:
            raise NotFound("no actor type serves this path")
        resume = parse_resume(target.query.get("resume"))  # runtime/_replay.py
    except HandshakeError as exc:
        await front.refuse(
            peer, conn, exc.status, exc.reason, headers=rejection_headers(exc), request=request
        )
        return None
    try:  # before the slot: a refused upgrade activates nothing (G10)
        actor_request = await front.authenticate(
            to_request(request, target, b"", route.rest), peer, request
        )
    except (ConnectionRefused, HandshakeError) as exc:
        await front.refuse(peer, conn, exc.status, exc.reason, request=request)
        return None

    # The client lists subprotocols by preference: the first we speak is the one.
    subprotocol = next((p for p in upgrade.subprotocols if p in SUBPROTOCOLS), None)
    codec = codec_for_subprotocol(subprotocol) if subprotocol else None
    slot = registry.slot(actor_type, route.key)
    connection = Connection(
        slot,
        registry.new_connection_id(),
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
    resume_from = resume if codec is not None else None  # raw connections get no events
    upto = 0  # the last seq before this connection's own turn: replayed up to it
    if config.access_log:
        session.access = session_started(request)

    async def on_connect(actor: Actor) -> None:
        nonlocal upto
        # Counted inside the turn, where sessions are added: exact under concurrency.
        if len(slot.sessions) >= config.max_connections_per_actor:
            raise ConnectionRefused("too many connections to this actor", status=503)
        slot.sessions[connection] = session
        if resume_from is not None:
            upto = slot.outbox.replay.last if slot.outbox.replay is not None else 0
        try:
            await actor.on_connect(connection, actor_request)
        except BaseException:
            slot.sessions.pop(connection, None)
            raise

    def accept() -> None:
        # After the commit, before the turn's frames: the 101 must lead the stream.
        response = h11.InformationalResponse(
            status_code=101, headers=[*accept_headers(upgrade, subprotocol), *front.owner_headers]
        )
        peer.write(conn.send(response))
        session.opened()
        if resume_from is not None and slot.outbox.replay is not None:
            resume_session(slot.outbox.replay, session, connection.tags, resume_from, upto)

    try:
        await slot.turn(on_connect, before_release=accept, may_group=True)
    except ConnectionRefused as exc:
        slot.sessions.pop(connection, None)
        await front.refuse(peer, conn, exc.status, exc.reason, request=request)
        return None
    except Exception as exc:
        slot.sessions.pop(connection, None)
        # The store is down, or the commit failed (the actor restarted): logged, retryable.
        if unavailable(exc) or isinstance(exc, CommitFailed):
            headers = [(k.encode(), v.encode()) for k, v in RETRY_AFTER_UNAVAILABLE]
            await front.refuse(
                peer,
                conn,
                ErrorCode.UNAVAILABLE.http_status,
                "unavailable",
                headers=headers,
                request=request,
            )
            return None
        log.exception(
            "on_connect failed for %s/%s",
            slot.actor_type,
            slot.key,
            extra={"actor_type": slot.actor_type, "key": slot.key},
        )
        await front.refuse(peer, conn, 500, "internal error", request=request)
        return None

    trailing, _closed = conn.trailing_data
    return session, bytes(trailing)
