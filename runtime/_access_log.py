"""The access log (logger ``roost.access``, INFO): one record per answered HTTP request and
one per WebSocket session when it ends.

What a record holds is decided here only, because it is a security decision (G10): the path
goes without its query string (tokens travel in ``?token=``), and of the headers only
User-Agent is read, so Authorization, Cookie and the like never reach a log. Every field is
also a structured field of the record (``extra=``), which ``--log-format json`` writes as
keys; the message is a one-line rendering in the spirit of uvicorn's::

    127.0.0.1:50312 - "GET /chat/lobby/history HTTP/1.1" 200 1.4ms in=0 out=512 "curl/8.5.0"
    127.0.0.1:50318 - "WS /chat/lobby" 1000 5021.0ms in=2048 msgs=12 id=alice "Mozilla/5.0"

Callers read ``ServerConfig.access_log`` once, when they are built, and call nothing here when
it is off: a node without an access log pays nothing per request.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING

import attrs
import h11
import trio

if TYPE_CHECKING:
    from roost.actors import Connection, Response

__all__ = [
    "IDENTITY",
    "MAX_FIELD",
    "SessionStart",
    "answered",
    "http_request",
    "session_ended",
    "session_started",
    "take_identity",
]

log = logging.getLogger("roost.access")

#: The longest identity or user agent a record carries (characters); a longer one is cut.
MAX_FIELD = 200
#: The longest path a record carries: a request line may be 8 KiB.
MAX_PATH = 2048

#: The identity the app's authenticate hook gave the HTTP request being answered: set by
#: ``HttpFront.authenticate`` deep in the dispatch, taken by the request's record. A context
#: variable, as every connection is served by a task of its own (trio copies the context).
IDENTITY: ContextVar[object] = ContextVar("roost_access_identity", default=None)


def take_identity() -> object:
    """The identity of the request being answered (None: none), forgotten for the next."""
    identity = IDENTITY.get()
    if identity is not None:
        IDENTITY.set(None)
    return identity


@attrs.frozen
class SessionStart:
    """What the access record of a WebSocket session needs from its upgrade request: copied
    out of it, so a long session keeps neither the request's headers nor its query."""

    path: str
    user_agent: str | None
    started: float


def session_started(request: h11.Request) -> SessionStart:
    """Note a WebSocket session's start (at its upgrade) for :func:`session_ended`."""
    return SessionStart(_path(request.target), _user_agent(request), trio.current_time())


def answered(
    request: h11.Request | None,
    response: Response,
    client: tuple[str, int] | None,
    started: float | None = None,
    *,
    bytes_in: int = 0,
) -> None:
    """Log ``response``, just written for ``request``, with the identity the app gave it
    (taken: the next request on the connection starts without one); see :func:`http_request`."""
    head = request is not None and request.method == b"HEAD"
    http_request(
        request,
        response.status,
        client=client,
        started=started,
        identity=take_identity(),
        bytes_in=bytes_in,
        bytes_out=0 if head else len(response.body),
    )


def http_request(
    request: h11.Request | None,
    status: int,
    *,
    client: tuple[str, int] | None,
    started: float | None = None,
    identity: object = None,
    bytes_in: int = 0,
    bytes_out: int = 0,
) -> None:
    """Log one answered HTTP request.

    ``request``: its head, None when the answer (400, 408, 431...) came before one was read.
    ``started``: when its head was read (``trio.current_time()``); None when the answer was
    a refusal whose start is not known, written as ``-`` (``null`` in JSON).
    ``bytes_in``/``bytes_out``: the bodies' sizes (``out`` is 0 for HEAD).
    """
    if not log.isEnabledFor(logging.INFO):
        return
    method = request.method.decode("ascii", "replace") if request is not None else "-"
    path = _path(request.target) if request is not None else "-"
    version = request.http_version.decode("ascii", "replace") if request is not None else "1.1"
    duration = _duration(started)
    user_agent = _user_agent(request) if request is not None else None
    who = _identity(identity)
    log.info(
        '%s - "%s %s HTTP/%s" %d %s in=%d out=%d%s%s',
        _address(client),
        method,
        path,
        version,
        status,
        "-" if duration is None else f"{duration}ms",
        bytes_in,
        bytes_out,
        "" if who is None else f" id={_printable(who)}",
        "" if user_agent is None else f' "{_printable(user_agent)}"',
        extra={
            "kind": "http",
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": duration,
            "bytes_in": bytes_in,
            "bytes_out": bytes_out,
            "client": _address(client),
            "identity": who,
            "user_agent": user_agent,
        },
    )


def session_ended(
    start: SessionStart, conn: Connection, close_code: int, *, bytes_in: int, messages_in: int
) -> None:
    """Log one WebSocket session that ended with ``close_code``.

    ``bytes_in``: the bytes read after the upgrade (frames, headers included);
    ``messages_in``: the messages the client sent (keep-alive frames not counted).
    """
    if not log.isEnabledFor(logging.INFO):
        return
    duration = _duration(start.started)
    who = _identity(conn.identity)
    log.info(
        '%s - "WS %s" %d %sms in=%d msgs=%d%s%s%s',
        _address(conn.client),
        start.path,
        close_code,
        duration,
        bytes_in,
        messages_in,
        "" if conn.subprotocol is None else f" proto={conn.subprotocol}",
        "" if who is None else f" id={_printable(who)}",
        "" if start.user_agent is None else f' "{_printable(start.user_agent)}"',
        extra={
            "kind": "websocket",
            "path": start.path,
            "close_code": close_code,
            "duration_ms": duration,
            "bytes_in": bytes_in,
            "messages_in": messages_in,
            "client": _address(conn.client),
            "identity": who,
            "subprotocol": conn.subprotocol,
            "user_agent": start.user_agent,
        },
    )


def _path(target: bytes) -> str:
    """The request target without its query string (it may hold a token: never logged)."""
    path = target.partition(b"?")[0].partition(b"#")[0]
    return path[:MAX_PATH].decode("ascii", "backslashreplace")


def _user_agent(request: h11.Request) -> str | None:
    for name, value in request.headers:
        if name == b"user-agent":
            return _clip(value.decode("latin-1"))
    return None


def _identity(identity: object) -> str | None:
    """The app's identity as text (its ``str``), cut to :data:`MAX_FIELD` characters."""
    if identity is None:
        return None
    try:
        text = identity if isinstance(identity, str) else str(identity)
    except Exception:  # an identity whose __str__ fails is still one
        text = f"<{type(identity).__name__}>"
    return _clip(text)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_FIELD else text[: MAX_FIELD - 1] + "\u2026"


def _printable(text: str) -> str:
    """``text`` with control characters escaped: a value cannot forge a second log line."""
    if text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii")


def _address(client: tuple[str, int] | None) -> str:
    if client is None:
        return "-"
    host, port = client
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _duration(started: float | None) -> float | None:
    if started is None:
        return None
    return round((trio.current_time() - started) * 1000, 1)
