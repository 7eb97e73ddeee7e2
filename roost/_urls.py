"""Actor URLs for clients, the extra headers of an upgrade request, and URLs safe to show.

A key is data, not part of a path: ``a/b``, ``é ?#`` or ``%2F`` pasted into a URL would name
another key (or start a query or a fragment), so :func:`actor_url` percent-encodes every byte
outside RFC 3986's unreserved set. The server percent-decodes the key segment on its own, so
the actor sees exactly the key given here (docs/client.md, "Keys and URLs").

Credentials travel in headers or in the query (browsers cannot set WebSocket headers), so a
URL is shown only through :func:`redact_url`, which drops the query and any user info.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

__all__ = ["actor_url", "check_headers", "redact_url"]

#: C0 controls, DEL and C1 controls: the server refuses keys holding one (HTTP 400).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
#: An HTTP header name (RFC 9110 token).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Headers the client writes itself for the handshake; a caller may not replace them.
_RESERVED_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "content-length",
        "transfer-encoding",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
    }
)

Params = Mapping[str, str] | Iterable[tuple[str, str]]


def actor_url(base_url: str, actor_type: str, key: str, *, params: Params | None = None) -> str:
    """The WebSocket URL of one actor: ``<base_url>/<type>/<key>?<params>``, percent-encoded.

    Args:
        base_url: ``ws://host:port`` or ``wss://...`` (``http``/``https`` become ``ws``/``wss``),
            optionally with a path prefix such as ``wss://example.com/roost``.
        actor_type: the type's name, as registered with ``app.actor``.
        key: any non-empty string without control characters, except ``.`` and ``..``
            (URL parsers drop those path segments); every character is kept.
        params: query parameters, e.g. ``{"user": "ann", "token": token}``. A token in the
            query is for clients that cannot send headers (browsers); prefer ``headers=``.

    Raises:
        ValueError: ``base_url`` is not a ws/wss/http/https URL with a host, or has a query or
            a fragment; the type or key is empty, ``.`` or ``..``, or holds a control
            character.
        TypeError: a name, key or parameter is not a str.
    """
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(
            f"base_url must be a ws, wss, http or https URL, not {redact_url(base_url)!r}"
        )
    if parts.query or parts.fragment or base_url.endswith(("?", "#")):
        raise ValueError("base_url takes no query or fragment: pass params=")
    segments = [_segment("actor_type", actor_type), _segment("key", key)]
    path = parts.path.rstrip("/") + "/" + "/".join(segments)
    query = urlencode(_pairs(params), quote_via=quote) if params else ""
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def check_headers(headers: Params | None) -> tuple[tuple[bytes, bytes], ...]:
    """Extra upgrade-request headers, checked and encoded.

    Raises:
        ValueError: a name is not an HTTP token or is one the handshake sets itself (Host,
            Upgrade, Connection, Sec-WebSocket-*), or a value holds CR, LF or NUL or is not
            Latin-1.
        TypeError: a name or value is not a str.
    """
    checked: list[tuple[bytes, bytes]] = []
    for name, value in _pairs(headers):
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"header name {name!r} is not an HTTP token")
        if name.lower() in _RESERVED_HEADERS:
            raise ValueError(f"the {name} header belongs to the WebSocket handshake")
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"the value of header {name} holds CR, LF or NUL")
        try:
            checked.append((name.encode("ascii"), value.strip(" \t").encode("latin-1")))
        except UnicodeEncodeError:
            raise ValueError(f"the value of header {name} is not Latin-1") from None
    return tuple(checked)


def redact_url(url: str) -> str:
    """``url`` without its query and user info, to show in messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<an invalid URL>"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "<redacted>" if parts.query else "", ""))


def _segment(what: str, text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, not {type(text).__name__}")
    if not text:
        raise ValueError(f"{what} must not be empty")
    if _CONTROL.search(text):
        raise ValueError(f"{what} holds a control character, which the server refuses")
    if text in (".", ".."):
        # WHATWG URL parsers (browsers, the JS client, proxies) drop such segments, even as %2E.
        raise ValueError(f"{what} cannot be {text!r}: URL parsers remove that path segment")
    try:
        return quote(text, safe="", errors="strict")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode (a lone surrogate)") from None


def _pairs(items: Params | None) -> list[tuple[str, str]]:
    """``items`` as a list of (name, value) str pairs."""
    if items is None:
        return []
    pairs = list(items.items() if isinstance(items, Mapping) else items)
    for pair in pairs:
        if (
            not isinstance(pair, tuple)
            or len(pair) != 2
            or not all(isinstance(part, str) for part in pair)
        ):
            raise TypeError(f"expected (str, str) pairs, got {pair!r}")
    return pairs
