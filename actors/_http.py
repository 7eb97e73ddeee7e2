"""Plain HTTP as actors see it: an immutable Request in, a Response out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class Request:
    """An HTTP request, or the upgrade request of a WebSocket (given to ``on_connect``).

    Attributes:
        method: ``GET``, ``POST``, ...
        path: the percent-decoded path, for example ``/chat/lobby/history``.
        rest: what follows ``/<type>/<key>`` in the path (``/history``), or "".
        query: query parameters, first value of each name.
        headers: header names lowercased; repeated headers joined with ", " (``Cookie``
            lines with "; ", so two lines read as one cookie list).
        cookies: the ``Cookie`` header's pairs by name (the first of a repeated name wins).
        body: the request body (empty for upgrades), at most the server's message limit.
        client: the client's ``(host, port)`` as in ASGI, or None when unknown (a Unix
            socket, the test kit).
        identity: what the app's ``authenticate`` hook returned (JSON-able), or None without
            a hook (G10).

    The repr leaves out the query, headers, cookies and body: they may carry credentials, and
    a request that reaches a log line must not leak them.
    """

    method: str
    path: str
    rest: str = ""
    query: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    cookies: Mapping[str, str] = attrs.field(
        default=attrs.Factory(lambda self: parse_cookies(self.headers.get("cookie", "")), True),
        repr=False,
    )
    body: bytes = attrs.field(default=b"", repr=False)
    client: tuple[str, int] | None = None
    identity: Any = None

    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes raise UnicodeDecodeError)."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not)."""
        return json.loads(self.body)


def parse_cookies(header: str) -> dict[str, str]:
    """The pairs of a ``Cookie`` header (RFC 6265 5.4): ``a=1; b="2"`` -> ``{a: 1, b: 2}``.

    Pieces without ``=`` are skipped and the first value of a repeated name wins (browsers
    send the cookie with the longest path first), so a malformed header costs nothing worse
    than a missing cookie.
    """
    cookies: dict[str, str] = {}
    for piece in header.split(";"):
        name, equals, value = piece.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies.setdefault(name, value)
    return cookies


@attrs.frozen(kw_only=True)
class Response:
    """What ``on_request`` returns. Build one directly or with :meth:`text` / :meth:`json`."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/octet-stream"

    @classmethod
    def text(cls, text: str, *, status: int = 200, headers: Mapping[str, str] = {}) -> Response:
        """A ``text/plain; charset=utf-8`` response."""
        return cls(
            status=status,
            body=text.encode("utf-8"),
            headers=tuple(headers.items()),
            content_type="text/plain; charset=utf-8",
        )

    @classmethod
    def json(cls, value: Any, *, status: int = 200, headers: Mapping[str, str] = {}) -> Response:
        """An ``application/json`` response with ``value`` serialised compactly."""
        return cls(
            status=status,
            body=json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
            headers=tuple(headers.items()),
            content_type="application/json",
        )
