"""Client address and host behind proxies: believed only from trusted peers."""

from __future__ import annotations

import pytest

from roost._errors import ConfigError
from roost.runtime._forwarded import (
    TrustedProxies,
    _in_networks,
    _normalise,
    client_address,
    request_host,
)

LOCAL = TrustedProxies.parse(["127.0.0.1"])


def h(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in pairs]


def test_untrusted_peer_headers_are_ignored() -> None:
    headers = h(("x-forwarded-for", "9.9.9.9"), ("forwarded", "for=8.8.8.8"))
    assert client_address(("203.0.113.5", 4242), headers, LOCAL) == ("203.0.113.5", 4242)


def test_trusted_peer_gives_the_forwarded_client() -> None:
    headers = h(("x-forwarded-for", "198.51.100.7"))
    assert client_address(("127.0.0.1", 50000), headers, LOCAL) == ("198.51.100.7", 0)


def test_no_header_from_a_trusted_peer_is_the_peer() -> None:
    assert client_address(("127.0.0.1", 50000), [], LOCAL) == ("127.0.0.1", 50000)


def test_a_client_cannot_spoof_by_prepending() -> None:
    # The client sent "X-Forwarded-For: 1.1.1.1"; the proxy appended what it saw.
    headers = h(("x-forwarded-for", "1.1.1.1, 198.51.100.7"))
    assert client_address(("127.0.0.1", 1), headers, LOCAL) == ("198.51.100.7", 0)


def test_chains_of_trusted_proxies_are_walked_right_to_left() -> None:
    trusted = TrustedProxies.parse(["127.0.0.1", "10.0.0.0/8"])
    headers = h(("x-forwarded-for", "1.1.1.1, 198.51.100.7"), ("x-forwarded-for", "10.1.2.3"))
    assert client_address(("127.0.0.1", 1), headers, trusted) == ("198.51.100.7", 0)
    # Every hop trusted: the leftmost is the client.
    headers = h(("x-forwarded-for", "10.9.9.9, 10.1.2.3"))
    assert client_address(("127.0.0.1", 1), headers, trusted) == ("10.9.9.9", 0)


def test_forwarded_header_ports_and_ipv6() -> None:
    headers = h(("forwarded", 'for="[2001:db8::1]:4711";proto=https, for=192.0.2.60:8080'))
    assert client_address(("127.0.0.1", 1), headers, LOCAL) == ("192.0.2.60", 8080)
    headers = h(("forwarded", 'for="[2001:db8::1]:4711"'))
    assert client_address(("127.0.0.1", 1), headers, LOCAL) == ("2001:db8::1", 4711)


def test_a_forwarded_port_is_kept_and_no_port_is_zero() -> None:
    """The proxy's port is information (documented in operations.md): it is passed on."""
    for value in ("198.51.100.7:5555", "1.1.1.1, 198.51.100.7:5555"):
        headers = h(("x-forwarded-for", value))
        assert client_address(("127.0.0.1", 1), headers, LOCAL) == ("198.51.100.7", 5555)
    headers = h(("x-forwarded-for", "[2001:db8::1]:4711"))
    assert client_address(("127.0.0.1", 1), headers, LOCAL) == ("2001:db8::1", 4711)
    headers = h(("x-forwarded-for", "2001:db8::1"))
    assert client_address(("127.0.0.1", 1), headers, LOCAL) == ("2001:db8::1", 0)


def test_x_forwarded_for_wins_over_a_passed_through_forwarded() -> None:
    headers = h(("forwarded", "for=6.6.6.6"), ("x-forwarded-for", "198.51.100.7"))
    assert client_address(("127.0.0.1", 1), headers, LOCAL) == ("198.51.100.7", 0)


@pytest.mark.parametrize(
    "hop", ["unknown", "_hidden", "<script>", "1.2.3.4:http", "1.2.3.4.5", "[::1"]
)
def test_a_hop_that_is_not_an_address_stops_at_the_last_trusted_one(hop: str) -> None:
    headers = h(("x-forwarded-for", f"198.51.100.7, {hop}"))
    assert client_address(("127.0.0.1", 9), headers, LOCAL) == ("127.0.0.1", 9)


def test_ipv4_mapped_peers_are_plain_ipv4() -> None:
    assert client_address(("::ffff:127.0.0.1", 5), h(("x-forwarded-for", "198.51.100.7")), LOCAL)[
        0
    ] == ("198.51.100.7")
    assert client_address(("::ffff:192.0.2.1", 5), [], LOCAL) == ("192.0.2.1", 5)


def test_unix_peers_are_never_trusted_and_star_trusts_all() -> None:
    headers = h(("x-forwarded-for", "198.51.100.7"))
    assert client_address(None, headers, TrustedProxies.parse(["*"])) == ("", 0)
    assert client_address(("192.0.2.1", 5), headers, TrustedProxies.parse(["*"])) == (
        "198.51.100.7",
        0,
    )
    assert client_address(("127.0.0.1", 5), headers, TrustedProxies.parse([])) == ("127.0.0.1", 5)


@pytest.mark.parametrize("entry", ["localhost", "10.0.0.0/33", "1.2.3", ""])
def test_bad_trusted_entries_are_config_errors(entry: str) -> None:
    with pytest.raises(ConfigError, match="forwarded_allow_ips"):
        TrustedProxies.parse([entry])


def test_request_host_from_trusted_proxies_only() -> None:
    headers = h(("host", "127.0.0.1:8787"), ("x-forwarded-host", "Chat.Example.com, inner"))
    assert request_host(("127.0.0.1", 1), headers, LOCAL) == "chat.example.com"
    assert request_host(("192.0.2.1", 1), headers, LOCAL) == "127.0.0.1:8787"
    headers = h(("host", "internal:8787"), ("forwarded", 'for=1.2.3.4;host="chat.example.com"'))
    assert request_host(("127.0.0.1", 1), headers, LOCAL) == "chat.example.com"
    assert request_host(None, [], LOCAL) == ""


def test_the_default_resolves_a_known_peer_without_parsing_it_again() -> None:
    """The hot path of every HTTP request: no trusted proxies, the same peer address again.

    Parsing an address costs microseconds per call and used to run several times per request
    (client address, the Origin check's host); the default trusts nobody without parsing and
    a peer's normal form is remembered (bounded), so a known peer is a cache hit.
    """
    nobody = TrustedProxies.parse([])
    headers = h(("x-forwarded-for", "9.9.9.9"), ("host", "Example.COM"))
    peer = ("::ffff:192.0.2.77", 5000)
    assert client_address(peer, headers, nobody) == ("192.0.2.77", 5000)
    hits = _normalise.cache_info().hits
    assert client_address(peer, headers, nobody) == ("192.0.2.77", 5000)
    assert request_host(peer, headers, nobody) == "example.com"
    assert _normalise.cache_info().hits == hits + 2
    assert not nobody.trusts("not an address") and not nobody.trusts("192.0.2.77")
    # The default trusts 127.0.0.1: the verdict on a known peer is remembered too.
    assert client_address(("127.0.0.1", 1), headers, LOCAL) == ("9.9.9.9", 0)
    hits = _in_networks.cache_info().hits
    assert client_address(("127.0.0.1", 1), headers, LOCAL) == ("9.9.9.9", 0)
    assert _in_networks.cache_info().hits == hits + 2  # the peer, then its hop
    assert not LOCAL.trusts("not an address") and LOCAL.trusts("127.0.0.1")
