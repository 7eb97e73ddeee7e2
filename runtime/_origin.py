"""Which browser pages may talk to this server, and the CORS answers that tell browsers so.

A browser attaches ``Origin`` to every WebSocket upgrade and cross-site POST, and sends the
user's cookies along: without a check, any web page a user visits could open a socket to
roost as that user (cross-site WebSocket hijacking) or post to an rpc method. So (G10):

- no ``Origin`` (curl, servers, native apps) is allowed; authentication is their gate;
- an Origin naming the host the request was sent to (``Host``, or ``X-Forwarded-Host`` from
  a trusted proxy) is the server's own page and is allowed;
- an Origin in ``allow_origins`` (exact, ``https://*.example.com`` for subdomains, or ``*``)
  is allowed; every other one is refused with 403 before any actor is touched.

Only a serialized origin (lower-case scheme and host, no default port, no leading zeros, no
empty host label) is one: any other spelling names no page, is foreign, and is never echoed.
An origin allowed only by ``*`` may call, but not as the user: it is not *credentialed*, so
the server drops the Cookie header before the hook and the actor see the request.

Pure functions; the server calls them on upgrades and HTTP rpc.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import attrs

from roost._errors import ConfigError

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")

#: Request headers a preflight may ask for; anything else a page wants to send is refused.
ALLOWED_REQUEST_HEADERS = ("authorization", "content-type", "accept")
#: How long a browser may cache a preflight answer, in seconds.
PREFLIGHT_MAX_AGE = 600


@attrs.frozen
class _Origin:
    scheme: str
    host: str
    port: int


@attrs.frozen
class OriginPolicy:
    """The origins allowed besides the server's own; built once from ``allow_origins``."""

    exact: frozenset[_Origin] = frozenset()
    # (scheme, ".example.com", port) for "https://*.example.com"
    suffixes: tuple[tuple[str, str, int], ...] = ()
    everyone: bool = False

    @classmethod
    def parse(cls, entries: Iterable[str]) -> OriginPolicy:
        """``https://app.example.com``, ``http://localhost:3000``, ``https://*.example.com``, ``*``.

        Raises:
            ConfigError: an entry is not a scheme://host[:port] origin.
        """
        exact: set[_Origin] = set()
        suffixes: list[tuple[str, str, int]] = []
        everyone = False
        for entry in entries:
            if entry == "*":
                everyone = True
                continue
            # A configured origin may end in "/" (copied from an address bar) and be spelled
            # loosely (upper case, a default port); it is normalised. A request's may not be.
            text = entry.strip().removesuffix("/")
            parsed = _parse_origin(text.replace("://*.", "://wildcard.", 1), strict=False)
            if parsed is None:
                raise ConfigError(
                    f"allow_origins: {entry!r} is not an origin like https://app.example.com"
                )
            if "://*." in entry:
                suffixes.append((parsed.scheme, parsed.host[len("wildcard") :], parsed.port))
            else:
                exact.add(parsed)
        return cls(exact=frozenset(exact), suffixes=tuple(suffixes), everyone=everyone)

    def allows(self, origin: str | None, host: str) -> bool:
        """Whether a request carrying ``origin`` that was sent to ``host`` may proceed.

        Args:
            origin: the ``Origin`` header, None when absent.
            host: the host the request was addressed to (see ``request_host``).
        """
        return origin is None or self.everyone or self.credentialed(origin, host)

    def credentialed(self, origin: str | None, host: str) -> bool:
        """Whether a request from ``origin`` may carry the user's cookies (G10).

        True without an Origin (not a browser page: nothing to hijack), for the server's own
        pages and for the listed origins and wildcard subdomains, which the operator named.
        False for the rest, including every page let in only by ``*``: a browser sends the
        user's cookies with a cross-site WebSocket handshake and a "simple" POST whatever
        CORS says, so their cookies are dropped, or any site could act as the user.
        """
        if origin is None:
            return True
        parsed = _parse_origin(origin)
        if parsed is None:
            return False  # "null" (sandboxed frames, file://), other spellings, garbage
        if _same_host(parsed, host) or parsed in self.exact:
            return True
        return any(
            parsed.scheme == scheme and parsed.port == port and parsed.host.endswith(suffix)
            for scheme, suffix, port in self.suffixes
        )

    def cors_headers(self, origin: str | None, host: str) -> tuple[tuple[str, str], ...]:
        """The headers that let a browser page at ``origin`` read a response it was allowed.

        With ``*`` every page may call, but without the user's cookies (the browser refuses
        credentials with a wildcard, and the server drops them, see :meth:`credentialed`), so
        a foreign page cannot act as the user; a credentialed origin gets credentials.
        ``Vary: Origin`` keeps caches from mixing the answers.
        """
        if origin is None:
            return ()
        if not self.credentialed(origin, host):  # not a serialized origin: never echoed
            return (("access-control-allow-origin", "*"),) if self.everyone else ()
        return (
            ("access-control-allow-origin", origin),
            ("access-control-allow-credentials", "true"),
            ("vary", "Origin"),
        )

    def preflight_headers(
        self, origin: str | None, method: str | None, request_headers: str | None, host: str
    ) -> tuple[tuple[str, str], ...] | None:
        """The answer to an ``OPTIONS`` preflight for an rpc POST, or None to refuse it (403).

        Only POST with the headers in :data:`ALLOWED_REQUEST_HEADERS` is granted.
        """
        cors = self.cors_headers(origin, host)
        if not cors or method != "POST":  # no origin, or text that is not one
            return None
        asked = [h.strip().lower() for h in (request_headers or "").split(",") if h.strip()]
        if any(name not in ALLOWED_REQUEST_HEADERS for name in asked):
            return None
        return (
            *cors,
            ("access-control-allow-methods", "POST"),
            ("access-control-allow-headers", ", ".join(ALLOWED_REQUEST_HEADERS)),
            ("access-control-max-age", str(PREFLIGHT_MAX_AGE)),
        )


def _parse_origin(text: str, *, strict: bool = True) -> _Origin | None:
    """A serialized origin (RFC 6454 §6.2), ``scheme://host[:port]``, -> its parts.

    Nothing else is one: a path (even a lone trailing ``/``), a query, a fragment, user info,
    an empty port, an empty host label or a ``*`` make the text no origin at all, and so does
    any spelling a browser never sends (``strict``): upper case, a default port, a port with
    leading zeros. Such text is foreign and never echoed in a CORS answer (G10). Not
    ``strict`` (the configured entries): case and a default port are normalised away.
    """
    scheme, sep, rest = text.partition("://")
    if not strict:
        scheme = scheme.strip().lower()
    if not sep or scheme not in _DEFAULT_PORTS or not rest or any(c in rest for c in "/?#@ \\"):
        return None
    if rest.endswith(":"):
        return None
    split = _split_host(rest)
    if split is None or not _valid_host(split[0]):
        return None
    host, port = split
    origin = _Origin(scheme, host, _DEFAULT_PORTS[scheme] if port is None else port)
    if strict and _serialize(origin) != text:
        return None
    return origin


def _serialize(origin: _Origin) -> str:
    """The one spelling of ``origin`` a browser sends: no default port, lower case."""
    port = "" if origin.port == _DEFAULT_PORTS[origin.scheme] else f":{origin.port}"
    return f"{origin.scheme}://{origin.host}{port}"


def _valid_host(host: str) -> bool:
    """A lower-case name of non-empty labels, or an IPv6 literal in its canonical form."""
    if host.startswith("["):
        try:
            return host.endswith("]") and str(ipaddress.IPv6Address(host[1:-1])) == host[1:-1]
        except ValueError:
            return False
    return all(label and set(label) <= _LABEL_CHARS for label in host.split("."))


def _split_host(text: str) -> tuple[str, int | None] | None:
    """``example.com:8080`` / ``[::1]:80`` / ``example.com`` -> (host, port or None)."""
    text = text.lower()
    if text.startswith("["):
        host, sep, rest = text.partition("]")
        host, port = host + sep, rest[1:] if rest.startswith(":") else rest
    else:
        host, _, port = text.partition(":")
    if not host or (port and not (port.isascii() and port.isdigit() and int(port) <= 65535)):
        return None
    return host, int(port) if port else None


def _same_host(origin: _Origin, host: str) -> bool:
    """The page's origin names the host the request was sent to (a Host without a port
    was sent to the default port of the page's scheme)."""
    split = _split_host(host)
    if split is None:
        return False
    name, port = split
    return name == origin.host and (port or _DEFAULT_PORTS[origin.scheme]) == origin.port
