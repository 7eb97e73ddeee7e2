"""Request targets to routes: ``/<type>/<key>[/<rest>][?query]``.

Keys are percent-decoded and may be any UTF-8 string of 1 to the configured number of bytes
without control characters; anything else is refused here with HTTP 400, before any actor or
file is touched (G9).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, unquote_to_bytes

import attrs

from roost._errors import BadRequest

#: Paths under this prefix belong to the runtime itself (health, metrics), never to an actor.
RUNTIME_PREFIX = "/_roost/"


@attrs.frozen
class Target:
    """A parsed request target: the decoded path and the query parameters (first value wins)."""

    path: str
    raw_path: str
    query: dict[str, str]


@attrs.frozen
class ActorRoute:
    """A request addressed to one actor: ``/<actor_type>/<key>`` plus an optional rest."""

    actor_type: str
    key: str
    rest: str


def parse_target(target: bytes) -> Target:
    """Split a request target into its path and query.

    Raises:
        BadRequest: the target is not an origin-form path or is not valid UTF-8.
    """
    try:
        text = target.decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest("request target must be ASCII (percent-encode the rest)") from None
    if not text.startswith("/"):
        raise BadRequest("request target must start with '/'")
    raw_path, _, query_string = text.partition("?")
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, errors="strict", max_num_fields=100)
        query: dict[str, str] = {}
        for name, value in pairs:  # the first value of a repeated name wins, as documented
            query.setdefault(name, value)
        path = unquote(raw_path, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("malformed query or path encoding") from None
    return Target(path=path, raw_path=raw_path, query=query)


def route_actor(target: Target, *, max_key_bytes: int) -> ActorRoute | None:
    """The actor a target addresses, or None when the path has no ``/<type>/<key>`` shape.

    The key is taken from the raw path segment and percent-decoded on its own, so a key may
    contain ``/`` (as ``%2F``) without changing the route.

    Raises:
        BadRequest: the key is empty, not UTF-8, longer than ``max_key_bytes`` or holds a
            control character (see :func:`check_key`).
    """
    segments = target.raw_path.split("/", 3)
    if len(segments) < 3 or not segments[1] or target.raw_path.startswith(RUNTIME_PREFIX):
        return None
    raw_key = segments[2]
    if not raw_key:
        raise BadRequest("empty actor key")
    # A percent-encoded key can be at most 3x its decoded size; refuse early.
    if len(raw_key) > 3 * max_key_bytes:
        raise BadRequest(f"actor key longer than {max_key_bytes} bytes")
    try:
        key_bytes = unquote_to_bytes_strict(raw_key)
        key = key_bytes.decode("utf-8")
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("actor key is not valid percent-encoded UTF-8") from None
    check_key(key, max_key_bytes=max_key_bytes, size=len(key_bytes))
    rest = "/" + segments[3] if len(segments) == 4 else ""
    return ActorRoute(actor_type=unquote(segments[1]), key=key, rest=unquote(rest))


#: C0 controls, DEL and C1 controls: never part of a key (they forge log lines, file listings).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def check_key(key: str, *, max_key_bytes: int, size: int | None = None) -> None:
    """Enforce the one key rule of WebSocket and HTTP alike (G9).

    A key is 1 to ``max_key_bytes`` bytes of UTF-8 with no NUL or other control character
    (U+0000-U+001F, U+007F-U+009F); ``size`` is its UTF-8 length when the caller knows it.

    Raises:
        BadRequest: the key breaks the rule (HTTP 400).
    """
    if not key:
        raise BadRequest("empty actor key")
    if (len(key.encode("utf-8")) if size is None else size) > max_key_bytes:
        raise BadRequest(f"actor key longer than {max_key_bytes} bytes")
    if _CONTROL.search(key):
        raise BadRequest("actor key holds a control character")


def unquote_to_bytes_strict(text: str) -> bytes:
    """Percent-decode ``text`` to bytes, refusing malformed escapes such as ``%zz``."""
    index = text.find("%")
    while index != -1:
        escape = text[index + 1 : index + 3]
        if len(escape) != 2 or not all(c in "0123456789abcdefABCDEF" for c in escape):
            raise ValueError("malformed percent escape")
        index = text.find("%", index + 3)
    return unquote_to_bytes(text)
