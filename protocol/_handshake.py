"""The WebSocket opening handshake (RFC 6455 §4), on values already parsed by h11.

The server side checks an upgrade request and builds the 101 response headers; the small
client side builds a request and checks the answer. HTTP itself is h11's job: these functions
take a method and a header list (names lowercased bytes, as h11 gives them) and do no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence

import attrs

from roost._errors import BadRequest, HandshakeError

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_VERSION = b"13"
# RFC 7230 §3.2.6 token: what a subprotocol name must be.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

Headers = Sequence[tuple[bytes, bytes]]


@attrs.frozen
class UpgradeRequest:
    """A valid WebSocket upgrade request: the client's key and offered subprotocols, in order."""

    key: str
    subprotocols: tuple[str, ...]


def accept_key(key: str) -> str:
    """Return the ``Sec-WebSocket-Accept`` value for a ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1(key.encode("ascii") + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def _values(headers: Headers, name: bytes) -> list[bytes]:
    """Every value of header ``name``, in order (names compared case-insensitively)."""
    return [value for key, value in headers if key.lower() == name]


def _tokens(headers: Headers, name: bytes) -> list[bytes]:
    """The comma-separated, lowercased tokens of every ``name`` header."""
    return [
        token.strip().lower()
        for value in _values(headers, name)
        for token in value.split(b",")
        if token.strip()
    ]


def _subprotocols(headers: Headers) -> tuple[str, ...]:
    """The subprotocols listed across every ``Sec-WebSocket-Protocol`` header, case kept."""
    names = []
    for value in _values(headers, b"sec-websocket-protocol"):
        for item in value.split(b","):
            name = item.strip().decode("latin-1")
            if not name:
                continue
            if not _TOKEN.fullmatch(name):
                raise BadRequest("invalid Sec-WebSocket-Protocol")
            names.append(name)
    return tuple(names)


def is_websocket_upgrade(headers: Headers) -> bool:
    """Whether a request asks to upgrade to WebSocket, so it should go to :func:`check_upgrade`.

    True when ``Upgrade`` lists ``websocket`` and ``Connection`` lists ``upgrade`` (both
    case-insensitive); the request may still be invalid.
    """
    return b"websocket" in _tokens(headers, b"upgrade") and b"upgrade" in _tokens(
        headers, b"connection"
    )


def check_upgrade(
    method: bytes, headers: Headers, *, http_version: bytes = b"1.1"
) -> UpgradeRequest:
    """Validate a WebSocket upgrade request and return what the response needs.

    Args:
        method: The request method, as h11 gives it.
        headers: The request headers, as h11 gives them.
        http_version: The request's HTTP version, as h11 gives it (``b"1.1"``). RFC 6455 §4.1
            requires HTTP/1.1 or higher; an HTTP/1.0 client has no upgrade mechanism.

    Raises:
        BadRequest: Not HTTP/1.1 nor GET, no ``Connection: upgrade`` or ``Upgrade: websocket``,
            a missing or malformed ``Sec-WebSocket-Key``, or an invalid subprotocol list
            (HTTP 400).
        HandshakeError: ``Sec-WebSocket-Version`` is not 13 (HTTP 426; answer with
            :func:`rejection_headers`).
    """
    if http_version < b"1.1":
        raise BadRequest("WebSocket upgrade requires HTTP/1.1")
    if method != b"GET":
        raise BadRequest("WebSocket upgrade requires GET")
    if b"upgrade" not in _tokens(headers, b"connection"):
        raise BadRequest("missing Connection: upgrade")
    if b"websocket" not in _tokens(headers, b"upgrade"):
        raise BadRequest("missing Upgrade: websocket")
    if [value.strip() for value in _values(headers, b"sec-websocket-version")] != [_VERSION]:
        raise HandshakeError("unsupported WebSocket version", status=426)
    keys = _values(headers, b"sec-websocket-key")
    if len(keys) != 1:
        raise BadRequest("missing Sec-WebSocket-Key")
    key = keys[0].strip()
    try:
        nonce = base64.b64decode(key, validate=True)
    except binascii.Error:
        nonce = b""
    if len(key) != 24 or len(nonce) != 16:
        raise BadRequest("invalid Sec-WebSocket-Key")
    return UpgradeRequest(key=key.decode("ascii"), subprotocols=_subprotocols(headers))


def accept_headers(
    request: UpgradeRequest, subprotocol: str | None = None
) -> list[tuple[bytes, bytes]]:
    """Headers of the 101 response accepting ``request``, optionally with a subprotocol.

    Raises:
        ValueError: ``subprotocol`` was not offered by the client.
    """
    headers = [
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Accept", accept_key(request.key).encode("ascii")),
    ]
    if subprotocol is not None:
        if subprotocol not in request.subprotocols:
            raise ValueError(f"subprotocol {subprotocol!r} was not offered by the client")
        headers.append((b"Sec-WebSocket-Protocol", subprotocol.encode("ascii")))
    return headers


def rejection_headers(exc: HandshakeError) -> list[tuple[bytes, bytes]]:
    """Extra headers for the error response to a rejected upgrade.

    A 426 must tell the client which version we speak (RFC 6455 §4.4); others need nothing.
    """
    if exc.status == 426:
        return [(b"Sec-WebSocket-Version", _VERSION)]
    return []


def client_request_headers(
    host: str, path: str, key: str, subprotocols: Sequence[str] = ()
) -> list[tuple[bytes, bytes]]:
    """Headers of a client's upgrade request; send them with ``GET path``.

    Args:
        host: The ``Host`` header value (``host`` or ``host:port``).
        path: The request target; checked here, sent by the caller as the h11 target.
        key: A fresh ``Sec-WebSocket-Key``: base64 of 16 random bytes, chosen by the caller.
        subprotocols: Subprotocols to offer, in order of preference.

    Raises:
        ValueError: ``path`` does not start with ``/``, ``host`` is not ASCII (punycode it
            first) or a subprotocol is not a token.
    """
    if not path.startswith("/"):
        raise ValueError("the request path must start with '/'")
    headers = [
        (b"Host", host.encode("ascii")),
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Key", key.encode("ascii")),
        (b"Sec-WebSocket-Version", _VERSION),
    ]
    if subprotocols:
        for name in subprotocols:
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"subprotocol {name!r} is not an HTTP token")
        headers.append((b"Sec-WebSocket-Protocol", ", ".join(subprotocols).encode("ascii")))
    return headers


def check_accept(key: str, headers: Headers, *, subprotocols: Sequence[str] = ()) -> str | None:
    """Validate a server's 101 response to our request; return the chosen subprotocol.

    Args:
        key: The ``Sec-WebSocket-Key`` we sent.
        headers: The response headers, as h11 gives them.
        subprotocols: The subprotocols we offered; the server may choose only one of them.

    Raises:
        HandshakeError: The response does not accept a WebSocket for ``key``.
    """
    if b"websocket" not in _tokens(headers, b"upgrade"):
        raise HandshakeError("response lacks Upgrade: websocket")
    if b"upgrade" not in _tokens(headers, b"connection"):
        raise HandshakeError("response lacks Connection: upgrade")
    accepts = [value.strip() for value in _values(headers, b"sec-websocket-accept")]
    if accepts != [accept_key(key).encode("ascii")]:
        raise HandshakeError("wrong Sec-WebSocket-Accept")
    if _values(headers, b"sec-websocket-extensions"):
        raise HandshakeError("server chose an extension we did not offer")
    chosen = [
        item.strip().decode("latin-1")
        for value in _values(headers, b"sec-websocket-protocol")
        for item in value.split(b",")
    ]
    if not chosen:
        return None
    if len(chosen) > 1 or chosen[0] not in subprotocols:
        raise HandshakeError("server chose a subprotocol we did not offer")
    return chosen[0]
