"""The Origin policy and CORS answers (pure; the server wiring is tested end to end)."""

from __future__ import annotations

import pytest

from roost._errors import ConfigError
from roost.runtime._origin import OriginPolicy

DEFAULT = OriginPolicy.parse([])


def test_no_origin_is_not_a_browser_and_is_allowed() -> None:
    assert DEFAULT.allows(None, "example.com")


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://localhost:8787", "localhost:8787"),
        ("https://chat.example.com", "chat.example.com"),
        ("https://chat.example.com", "chat.example.com:443"),
        ("http://chat.example.com", "chat.example.com"),
        ("http://[::1]:8787", "[::1]:8787"),
        ("https://chat.example.com", "Chat.Example.COM"),  # Host is case-insensitive
    ],
)
def test_the_servers_own_page_is_allowed(origin: str, host: str) -> None:
    assert DEFAULT.allows(origin, host)


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("https://evil.example", "chat.example.com"),
        ("http://localhost:3000", "localhost:8787"),
        ("https://chat.example.com:8443", "chat.example.com"),
        ("https://chat.example.com.evil.example", "chat.example.com"),
        ("null", "chat.example.com"),
        ("chat.example.com", "chat.example.com"),
        ("file://chat.example.com", "chat.example.com"),
        ("https://user@chat.example.com", "chat.example.com"),
        ("https://chat.example.com/path", "chat.example.com"),
        # Not serialized origins (RFC 6454): a trailing slash, a query, a fragment, user
        # info, an empty port, a backslash.
        ("http://localhost:3000/", "localhost:3000"),
        ("https://chat.example.com/", "chat.example.com"),
        ("https://chat.example.com?x=1", "chat.example.com"),
        ("https://chat.example.com#top", "chat.example.com"),
        ("https://user:pw@chat.example.com", "chat.example.com"),
        ("https://chat.example.com:", "chat.example.com"),
        ("https://chat.example.com\\", "chat.example.com"),
        ("https://chat.example.com", ""),
        ("https://chat.example.com:99999", "chat.example.com:99999"),
        ("https://chat.example.com:\u00b2", "chat.example.com"),
    ],
)
def test_foreign_or_malformed_origins_are_refused(origin: str, host: str) -> None:
    assert not DEFAULT.allows(origin, host)


#: Spellings no browser sends (RFC 6454 6.2 serializes lower case, without a default port).
NOT_SERIALIZED = [
    "HTTP://127.0.0.1:8787",
    "http://127.0.0.1:08787",
    "https://EXAMPLE.com",
    "https://example.com:443",
    "http://example.com:80",
    " https://example.com",
    "https://example.com.",
    "https://a..example.com",
    "https://.example.com",
    "https://*.example.com",
    "https://exa*mple.com",
    "http://[0:0::1]:8787",
    "http://[::1",
]


@pytest.mark.parametrize("origin", NOT_SERIALIZED)
def test_an_origin_not_in_serialized_form_is_foreign_and_never_echoed(origin: str) -> None:
    listed = OriginPolicy.parse(
        [
            "http://127.0.0.1:8787",
            "https://example.com",
            "http://example.com",
            "https://*.example.com",
            "http://[::1]:8787",
        ]
    )
    for host in ("127.0.0.1:8787", "example.com", "[::1]:8787", "api.internal"):
        assert not listed.allows(origin, host)
        assert not listed.credentialed(origin, host)
        assert listed.cors_headers(origin, host) == ()
    star = OriginPolicy.parse(["*", "https://example.com"])
    assert star.cors_headers(origin, "example.com") == (("access-control-allow-origin", "*"),)


def test_configured_origins_are_normalised_to_the_serialized_form() -> None:
    policy = OriginPolicy.parse(["HTTPS://App.Example.com:443/", "https://*.Example.ORG"])
    assert policy.allows("https://app.example.com", "api.internal")
    assert policy.allows("https://a.example.org", "api.internal")
    assert not policy.allows("https://App.Example.com", "api.internal")


def test_star_lets_pages_call_but_only_named_pages_are_credentialed() -> None:
    policy = OriginPolicy.parse(["*", "https://app.example.com", "https://*.example.org"])
    host = "api.example.net"
    assert policy.allows("https://evil.test", host)
    assert not policy.credentialed("https://evil.test", host)  # let in by "*" only
    assert not policy.credentialed("null", host)
    assert policy.credentialed(None, host)  # not a browser: nothing to hijack
    assert policy.credentialed("https://app.example.com", host)
    assert policy.credentialed("https://a.example.org", host)  # a named wildcard
    assert policy.credentialed("https://api.example.net", host)  # the server's own page
    assert (
        dict(policy.cors_headers("https://a.example.org", host))["access-control-allow-credentials"]
        == "true"
    )


def test_listed_origins_and_subdomain_wildcards() -> None:
    policy = OriginPolicy.parse(["http://localhost:3000", "https://*.example.com"])
    assert policy.allows("http://localhost:3000", "api.internal")
    assert policy.allows("https://app.example.com", "api.internal")
    assert policy.allows("https://a.b.example.com", "api.internal")
    assert not policy.allows("https://example.com", "api.internal")
    assert not policy.allows("http://app.example.com", "api.internal")
    assert not policy.allows("https://app.example.com:8443", "api.internal")
    assert not policy.allows("https://evilexample.com", "api.internal")
    assert not policy.allows("http://localhost:3001", "api.internal")


def test_star_allows_every_origin_without_credentials() -> None:
    policy = OriginPolicy.parse(["*"])
    assert policy.allows("https://anyone.example", "chat.example.com")
    assert policy.allows("null", "chat.example.com")
    assert policy.cors_headers("https://anyone.example", "chat.example.com") == (
        ("access-control-allow-origin", "*"),
    )


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:3000/",
        "http://localhost:3000/app",
        "http://localhost:3000?q",
        "http://localhost:3000#f",
        "http://me@localhost:3000",
    ],
)
def test_an_origin_with_more_than_scheme_host_port_is_foreign_and_never_echoed(
    origin: str,
) -> None:
    listed = OriginPolicy.parse(["http://localhost:3000"])
    assert not listed.allows(origin, "api.internal")
    assert not listed.allows(origin, "localhost:3000")
    assert listed.cors_headers(origin, "localhost:3000") == ()
    assert listed.preflight_headers(origin, "POST", None, "api.internal") is None
    star = OriginPolicy.parse(["*", "http://localhost:3000"])
    assert star.allows(origin, "api.internal")  # everyone may call, without credentials
    assert star.cors_headers(origin, "localhost:3000") == (("access-control-allow-origin", "*"),)


def test_a_configured_origin_may_end_in_a_slash() -> None:
    policy = OriginPolicy.parse(["http://localhost:3000/"])
    assert policy.allows("http://localhost:3000", "api.internal")
    assert not policy.allows("http://localhost:3000/", "api.internal")


def test_listed_origins_get_credentialed_cors_headers() -> None:
    policy = OriginPolicy.parse(["https://app.example.com"])
    assert dict(policy.cors_headers("https://app.example.com", "api.internal")) == {
        "access-control-allow-origin": "https://app.example.com",
        "access-control-allow-credentials": "true",
        "vary": "Origin",
    }
    assert policy.cors_headers(None, "api.internal") == ()


def test_preflight_grants_post_with_known_headers_only() -> None:
    policy = OriginPolicy.parse(["https://app.example.com"])
    granted = policy.preflight_headers(
        "https://app.example.com", "POST", "Content-Type, Authorization", "api.internal"
    )
    assert granted is not None
    answer = dict(granted)
    assert answer["access-control-allow-methods"] == "POST"
    assert answer["access-control-allow-origin"] == "https://app.example.com"
    assert "content-type" in answer["access-control-allow-headers"]
    assert int(answer["access-control-max-age"]) > 0
    host = "api.internal"
    assert policy.preflight_headers("https://app.example.com", "DELETE", None, host) is None
    assert policy.preflight_headers("https://app.example.com", "POST", "x-custom", host) is None
    assert policy.preflight_headers(None, "POST", None, host) is None


@pytest.mark.parametrize(
    "entry", ["example.com", "*.example.com", "ftp://x", "https://", "https://a/b"]
)
def test_bad_allow_origins_are_config_errors(entry: str) -> None:
    with pytest.raises(ConfigError, match="allow_origins"):
        OriginPolicy.parse([entry])
