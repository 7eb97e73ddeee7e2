"""Who is the client, really: the peer address, or what a trusted proxy says it is.

A proxy in front of roost connects from its own address and tells us the client's in
``X-Forwarded-For`` (or RFC 7239 ``Forwarded``) and the host the browser asked for in
``X-Forwarded-Host``. Anybody can send those headers, so they are believed only from peers in
``forwarded_allow_ips`` (uvicorn's convention): everyone else's are ignored. Per-IP limits and
``conn.client`` rest on this, and so does the Origin check's idea of "our own host".

Pure functions over the peer address and h11's header list; no I/O.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence

import attrs

from roost._errors import ConfigError

#: h11's header list: lower-cased names, raw values.
Headers = Sequence[tuple[bytes, bytes]]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@attrs.frozen
class TrustedProxies:
    """The peers whose forwarding headers are believed: networks, or every peer (``*``)."""

    networks: tuple[_Network, ...] = ()
    everyone: bool = False

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TrustedProxies:
        """Addresses (``10.0.0.7``), networks (``10.0.0.0/8``) or ``*``.

        Raises:
            ConfigError: an entry is neither.
        """
        networks: list[_Network] = []
        everyone = False
        for entry in entries:
            if entry == "*":
                everyone = True
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ConfigError(
                    f"forwarded_allow_ips: {entry!r} is not an address, a network or '*'"
                ) from None
        return cls(networks=tuple(networks), everyone=everyone)

    def trusts(self, host: str) -> bool:
        """Whether ``host`` (a peer or hop address) may speak for the client."""
        if self.everyone:
            return True
        return bool(self.networks) and _in_networks(host, self.networks)


@functools.lru_cache(maxsize=1024)
def _in_networks(host: str, networks: tuple[_Network, ...]) -> bool:
    """Whether ``host`` is an address inside one of ``networks``.

    Cached (bounded): it runs for every HTTP request's peer, usually the same few proxies,
    and parsing an address costs microseconds; the answer depends on its arguments alone.
    """
    address = _ip(host)
    return address is not None and any(address in network for network in networks)


def client_address(
    peer: tuple[str, int] | None, headers: Headers, trusted: TrustedProxies
) -> tuple[str, int]:
    """The client's ``(host, port)``: the peer's, or the one its trusted proxies report.

    ``X-Forwarded-For`` is read from right to left (each proxy appends the address it saw)
    and the first hop that is not itself a trusted proxy is the client, so a client cannot
    pass itself off as someone else by sending the header itself. Without ``X-Forwarded-For``
    the ``for=`` entries of ``Forwarded`` are read the same way. A hop that is not an address
    (``unknown``, an obfuscated name, garbage) ends the walk at the last hop we can vouch for.
    Forwarded clients have port 0 unless the proxy gave one.

    Args:
        peer: the socket's peer address; None (a Unix socket, a socketpair) is never trusted.
        headers: the request's headers as h11 gives them.
        trusted: the proxies whose headers are believed.
    """
    if peer is None:
        return ("", 0)
    host, port = _normalise(peer[0]), peer[1]
    if not trusted.trusts(host):
        return (host, port)
    hops = _forwarded_for(headers)
    for hop in reversed(hops):
        parsed = _split_hop(hop)
        if parsed is None:
            break
        host, port = parsed
        if not trusted.trusts(host):
            break
    return (host, port)


def request_host(peer: tuple[str, int] | None, headers: Headers, trusted: TrustedProxies) -> str:
    """The host the client asked for: ``X-Forwarded-Host`` from a trusted proxy, else ``Host``.

    Returns the first forwarded value (the one the outermost proxy received), lower-cased;
    an empty string when there is none.
    """
    if peer is not None and trusted.trusts(_normalise(peer[0])):
        forwarded = _header_values(headers, b"x-forwarded-host")
        if not forwarded:
            forwarded = _forwarded_params(headers, "host")
        if forwarded:
            return forwarded[0].lower()
    values = _header_values(headers, b"host")
    return values[0].lower() if values else ""


def _forwarded_for(headers: Headers) -> list[str]:
    """The hops of ``X-Forwarded-For``, or failing that the ``for=`` hops of ``Forwarded``.

    X-Forwarded-For wins because the common proxies (nginx, Caddy, HAProxy, Traefik) set it:
    a ``Forwarded`` header they pass through untouched came from the client.
    """
    hops = _header_values(headers, b"x-forwarded-for")
    return hops if hops else _forwarded_params(headers, "for")


def _header_values(headers: Headers, name: bytes) -> list[str]:
    """The comma-separated values of every ``name`` line, in order."""
    values: list[str] = []
    for key, value in headers:
        if key == name:
            text = value.decode("latin-1")
            values.extend(item.strip() for item in text.split(",") if item.strip())
    return values


def _forwarded_params(headers: Headers, param: str) -> list[str]:
    """RFC 7239: ``Forwarded: for=1.2.3.4;host=a, for="[::1]:80"`` -> the ``param`` values."""
    values: list[str] = []
    for element in _header_values(headers, b"forwarded"):
        for pair in element.split(";"):
            name, sep, value = pair.partition("=")
            if sep and name.strip().lower() == param:
                values.append(value.strip().strip('"'))
    return values


def _split_hop(hop: str) -> tuple[str, int] | None:
    """``1.2.3.4``, ``1.2.3.4:80``, ``::1``, ``[::1]:80`` -> (address, port); None otherwise."""
    host, port = hop, ""
    if hop.startswith("["):
        host, bracket, rest = hop[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port = rest[1:]
    elif hop.count(":") == 1:
        host, _, port = hop.partition(":")
    if _ip(host) is None:
        return None
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        return None
    return (_normalise(host), int(port) if port else 0)


def _ip(host: str) -> _Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1024)
def _normalise(host: str) -> str:
    """IPv4 clients of a dual-stack listener arrive as ``::ffff:a.b.c.d``: use ``a.b.c.d``.

    Cached (bounded): it runs for every HTTP request's peer and parsing an address costs
    microseconds; the answer depends on the text alone.
    """
    address = _ip(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address) if address is not None else host
