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
        headers: header names lowercased; repeated headers joined with ", ".
        body: the request body (empty for upgrades), at most the server's message limit.
    """

    method: str
    path: str
    rest: str = ""
    query: Mapping[str, str] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""

    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes raise UnicodeDecodeError)."""
        return self.body.decode("utf-8")

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not)."""
        return json.loads(self.body)


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
