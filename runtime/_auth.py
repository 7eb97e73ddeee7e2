"""The authenticate hook's one call site: who is asking, decided before any actor activates.

The server calls :func:`identify` for every WebSocket upgrade and every HTTP request addressed
to ``/<type>/<key>``, before it touches the actor's slot, so a refused request activates no
actor and leaves nothing on disk (G10). Log lines name the method and the decoded path only:
the query, headers and cookies may carry credentials and are never logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from roost._errors import ConnectionRefused, HandshakeError
from roost.actors import Request

log = logging.getLogger("roost.auth")

#: An identity must serialise to at most this many bytes of JSON (it is kept per connection).
MAX_IDENTITY_BYTES = 16 * 1024


async def identify(
    hook: Callable[[Request], Awaitable[Any]] | None, request: Request, *, max_seconds: float
) -> Any:
    """Run ``hook`` on ``request``; return the identity, as a JSON round trip of its value.

    Without a hook the identity is None and nothing is refused.

    Raises:
        ConnectionRefused: the hook returned None (401 ``unauthorized``) or refused.
        HandshakeError: 500 ``internal error`` when the hook raised something else or returned
            an identity that is not JSON-able (logged once, with the reason; the client learns
            nothing), 503 when it did not answer within ``max_seconds``.
    """
    if hook is None:
        return None
    where = f"{request.method} {request.path!r}"  # repr: a decoded path may hold a newline
    try:
        with trio.fail_after(max_seconds):
            identity = await hook(request)
    except ConnectionRefused as exc:
        if not 400 <= exc.status <= 599:
            log.error("authenticate refused %s with status %d, not 4xx/5xx", where, exc.status)
            raise HandshakeError("internal error", status=500) from None
        log.info("authenticate refused %s: %d", where, exc.status)
        raise
    except trio.TooSlowError:
        log.error("authenticate did not answer within %gs for %s", max_seconds, where)
        raise HandshakeError("authentication timed out", status=503) from None
    except Exception:
        log.exception("authenticate failed for %s", where)
        raise HandshakeError("internal error", status=500) from None
    if identity is None:
        log.info("authenticate refused %s: 401", where)
        raise ConnectionRefused("unauthorized", status=401)
    try:
        encoded = json.dumps(identity, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        log.error(
            "authenticate returned an identity that is not JSON-able for %s: %s (%s)",
            where,
            type(identity).__name__,
            exc,
        )
        raise HandshakeError("internal error", status=500) from None
    if len(encoded.encode("utf-8")) > MAX_IDENTITY_BYTES:
        log.error(
            "authenticate returned an identity over %d bytes of JSON for %s",
            MAX_IDENTITY_BYTES,
            where,
        )
        raise HandshakeError("internal error", status=500)
    return json.loads(encoded)
