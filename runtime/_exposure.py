"""A node's policy toward the outside world, built once from :class:`ServerConfig` (G10).

The server asks it, at a few call sites, what to do with a request before any actor is
touched: who the client is (trusted proxies), whether a browser page may call (Origin and
CORS), whether the client is over its budget (per-IP), and whether the runtime endpoints are
reachable from this listener with these credentials. The policies themselves are the pure
modules ``_origin``, ``_forwarded`` and ``_limits``; this class only binds them to the config
and to the server's vocabulary (HTTP statuses and responses).
"""

from __future__ import annotations

import hmac

import attrs

from roost._errors import ConfigError, HandshakeError
from roost.actors import Request, Response

from ._config import ServerConfig
from ._forwarded import Headers, TrustedProxies, client_address, request_host
from ._http import error_response
from ._limits import Budget, HandshakeGate
from ._origin import OriginPolicy
from ._routing import RUNTIME_PREFIX

#: Runtime endpoints a load balancer probes: open without the admin token on the public port.
PROBES = frozenset({RUNTIME_PREFIX + "health", RUNTIME_PREFIX + "ready"})
#: The inspector's page and its two assets: static, holding no data, so a browser loads them
#: without the token; every /_roost/api/ call of the page needs it (runtime/_inspector.py).
PAGES = frozenset(
    {RUNTIME_PREFIX, RUNTIME_PREFIX + "inspector.js", RUNTIME_PREFIX + "inspector.css"}
)

PeerAddress = tuple[str, int] | None


class Exposure:
    """Origins, trusted proxies, per-client budgets and admin access for one node."""

    def __init__(self, config: ServerConfig) -> None:
        self.origins = OriginPolicy.parse(config.allow_origins)
        self.trusted = TrustedProxies.parse(config.forwarded_allow_ips)
        #: Connections still sending a request head; the acceptor waits while it is full.
        self.gate = HandshakeGate(config.max_pending_handshakes)
        #: WebSocket connections plus in-flight requests per resolved client address.
        self.per_ip: Budget[str] = Budget(config.max_connections_per_ip)
        self._held: dict[object, str] = {}  # connection -> the address whose unit it holds
        if config.admin_port is not None and config.admin_port == config.port != 0:
            raise ConfigError("admin_port must differ from port")
        self.admin_listener = config.admin_port is not None
        self._token = config.admin_token.encode() if config.admin_token else None

    # -- who is calling

    def client(self, peer: PeerAddress, headers: Headers) -> tuple[str, int] | None:
        """The client's address: the peer's, or what its trusted proxies say (None: unknown)."""
        return None if peer is None else client_address(peer, headers, self.trusted)

    def admit(self, connection: object, client: tuple[str, int] | None) -> bool:
        """Take one unit of ``client``'s budget for ``connection``'s current request.

        False when the client is at ``max_connections_per_ip`` (answer 429). The unit is
        kept by a connection that upgrades until :meth:`release` at its end.
        """
        self.release(connection)
        address = client[0] if client is not None else ""
        if not self.per_ip.try_acquire(address):
            return False
        if self.per_ip.limit:
            self._held[connection] = address
        return True

    def release(self, connection: object) -> None:
        """Give back what ``connection`` holds (idempotent)."""
        address = self._held.pop(connection, None)
        if address is not None:
            self.per_ip.release(address)

    # -- browsers

    def check_origin(self, peer: PeerAddress, headers: Headers) -> None:
        """Refuse a browser page from a foreign origin.

        Raises:
            HandshakeError: 403 when the Origin is neither this server's nor allowed.
        """
        origin = _origin(headers)
        if origin is None:  # not a browser page: allowed, and no host to work out (hot path)
            return
        if not self.origins.allows(origin, request_host(peer, headers, self.trusted)):
            raise HandshakeError("origin not allowed", status=403)

    def rpc_cors(
        self, method: bytes, peer: PeerAddress, headers: Headers
    ) -> Response | tuple[tuple[str, str], ...]:
        """For an HTTP rpc request: a final answer (403, a preflight), or the CORS headers
        its response must carry."""
        try:
            self.check_origin(peer, headers)
        except HandshakeError as exc:
            return error_response(exc.status, exc.reason)
        asked = _header(headers, b"access-control-request-method") if method == b"OPTIONS" else None
        if asked is not None:
            granted = self.origins.preflight_headers(
                _origin(headers),
                asked,
                _header(headers, b"access-control-request-headers"),
                request_host(peer, headers, self.trusted),
            )
            if granted is None:
                return error_response(403, "preflight refused")
            return Response(status=204, body=b"", content_type="text/plain", headers=granted)
        return self.cors(peer, headers)

    def cors(self, peer: PeerAddress, headers: Headers) -> tuple[tuple[str, str], ...]:
        """The CORS headers every answer to an rpc call carries, refusals included, so an
        allowed page reads its error (a 413, a 400) instead of a CORS failure; () for a
        request whose Origin is absent or not allowed."""
        origin = _origin(headers)
        if origin is None:  # no page to answer: skip working out the host (hot path)
            return ()
        return self.origins.cors_headers(origin, request_host(peer, headers, self.trusted))

    def without_foreign_credentials(
        self, request: Request, peer: PeerAddress, headers: Headers
    ) -> Request:
        """``request`` without its cookies when its page may call but not as the user (G10).

        A browser sends the user's cookies with a cross-site WebSocket handshake, a "simple"
        POST and a form post whatever CORS says; a page that is not credentialed (one let in
        only by ``*``, or a foreign page posting to ``on_request``) must not reach the
        authenticate hook or the actor with them. ``headers``: the raw request's.
        """
        origin = _origin(headers)
        if origin is None or self.origins.credentialed(
            origin, request_host(peer, headers, self.trusted)
        ):
            return request  # without an Origin: not a page, nothing to hijack
        kept = {name: value for name, value in request.headers.items() if name != "cookie"}
        return attrs.evolve(request, headers=kept, cookies={})

    # -- the runtime endpoints

    def runtime_refusal(self, path: str, headers: Headers, *, admin: bool) -> Response | None:
        """Whether ``path`` may be answered on this listener with these credentials.

        With an admin listener, ``/_roost/*`` lives only there (404 on the public port) and
        the admin listener serves nothing else. With a token, the runtime endpoints need
        ``Authorization: Bearer <token>`` (401), except the load balancer's probes (health,
        ready) on the public port.
        """
        runtime = path.startswith(RUNTIME_PREFIX)
        if (admin and not runtime) or (runtime and self.admin_listener and not admin):
            return error_response(404, "not found")
        if not runtime or self._token is None or (path in PROBES and not admin) or path in PAGES:
            return None
        scheme, _, credentials = (_header(headers, b"authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode("latin-1"), self._token
        ):
            return None
        return Response.text(
            "admin token required\n", status=401, headers={"www-authenticate": "Bearer"}
        )


def _header(headers: Headers, name: bytes) -> str | None:
    """The first value of ``name``, or None."""
    return next((v.decode("latin-1") for k, v in headers if k == name), None)


def _origin(headers: Headers) -> str | None:
    values = [v.decode("latin-1") for k, v in headers if k == b"origin"]
    # Two Origin lines are no browser's doing: treat them as one unparseable origin.
    return ", ".join(values) if values else None
