"""Actor rpc over plain HTTP: ``POST /<type>/<key>/rpc/<method>``, and its error bodies.

The request's body is decoded by the envelope codec's rules and limits (the data model lives
in one place); every answer, errors and refusals included, is ``{"value": ...}`` or
``{"error": {"code": ..., "message": ...}}`` in the request's encoding, so a client reads them
alike.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeGuard

import attrs
import h11

from roost._errors import ErrorCode, HandshakeError, RpcError, http_status_for
from roost.actors import HttpCaller, Response
from roost.actors.hosting import http_callable
from roost.protocol import (
    EnvelopeCodec,
    EnvelopeError,
    EnvelopeTooBig,
    ValueTooLarge,
    codec_for_content_type,
)

from . import _tracing
from ._app import App
from ._registry import ActorRegistry
from ._websocket import clip_message

log = logging.getLogger("roost.server")

_JSON_BODY = codec_for_content_type("application/json")

#: The error code of an HTTP rpc call the authenticate hook refused, by status: the code
#: whose status it is (ErrorCode.http_status, the one map), else the refusal's own word.
REFUSAL_CODE = {
    **{code.http_status: code.value for code in ErrorCode},
    401: "unauthorized",
    403: "forbidden",
}

#: Retry-After of a 503 ``unavailable`` (a shared-store outage at activation): a few seconds.
RETRY_AFTER_UNAVAILABLE = (("retry-after", "5"),)


async def rpc_over_http(
    app: App,
    registry: ActorRegistry,
    request: h11.Request,
    actor_type: str,
    key: str,
    rest: str,
    body: bytes,
    caller: HttpCaller,
) -> Response:
    """``POST /<type>/<key>/rpc/<method>``: a map of arguments in, ``{"value": ...}`` out.

    The body is read only as ``application/json`` or ``application/cbor``, so a foreign page
    cannot make a browser post a form here (G10). The reply, errors included, is in the
    request's encoding.
    """
    try:
        codec = codec_for_content_type(_content_type(request.headers), empty=not body)
    except HandshakeError as exc:
        return rpc_error(exc.status, ErrorCode.BAD_REQUEST.value, exc.reason)
    if request.method != b"POST":
        return rpc_error(405, ErrorCode.BAD_REQUEST.value, "rpc calls are POST requests", codec)
    method = rest[len("/rpc/") :]
    registered = app.get(actor_type)
    if registered is not None and not http_callable(registered.cls, method):
        # @rpc(http=False): the same answer as a method that does not exist.
        return rpc_failure(ErrorCode.NOT_FOUND, f"no rpc method {method!r}", codec)
    try:
        args = codec.decode_args(body)
    except EnvelopeError as exc:
        if isinstance(exc, EnvelopeTooBig):
            return rpc_failure(ErrorCode.TOO_LARGE, exc.reason, codec)
        return rpc_failure(ErrorCode.BAD_REQUEST, exc.reason, codec)
    try:
        call = registry.call_actor(None, actor_type, key, method, args, conn=caller)
        if _tracing.tracer is not None:  # OpenTelemetry (runtime/_tracing)
            call = _tracing.traced_rpc(call, actor_type, key, method, server=False)
        value = await call
    except RpcError as exc:
        if exc.code == ErrorCode.INTERNAL:
            log.error(
                "rpc %r of %s/%r failed: %r",
                method,
                actor_type,
                key,
                exc.message,
                exc_info=exc.__cause__,  # the method's own exception, when it ran here
                extra={"actor_type": actor_type, "key": key, "method": method},
            )
            return rpc_failure(ErrorCode.INTERNAL, "the method failed", codec)
        reply = rpc_failure(exc.code, exc.message, codec)
        return with_headers(reply, RETRY_AFTER_UNAVAILABLE) if unavailable(exc) else reply
    try:
        return _rpc_reply(codec, 200, {"value": value})
    except EnvelopeError as exc:  # the turn committed; its result cannot be sent
        log.error("rpc %r of %s/%r returned an unsendable value: %s", method, actor_type, key, exc)
        if isinstance(exc, ValueTooLarge):
            return rpc_failure(ErrorCode.TOO_LARGE, "the result is over the size limits", codec)
        return rpc_failure(ErrorCode.INTERNAL, "the result is outside the data model", codec)


def rpc_refusal(
    status: int, reason: str, cors: tuple[tuple[str, str], ...], *, code: str | None = None
) -> Response:
    """An rpc call refused before its actor: JSON like its error replies, with the CORS
    headers an allowed page needs to read it (every answer carries them, G10).

    ``code``: the error code; by default the one of ``status`` (:data:`REFUSAL_CODE`).
    """
    if code is None:
        code = REFUSAL_CODE.get(status, ErrorCode.BAD_REQUEST.value)
    return with_headers(rpc_error(status, code, reason), cors)


def unavailable(exc: Exception) -> TypeGuard[RpcError]:
    """Whether ``exc`` is the retryable ``unavailable`` (an activation the store failed)."""
    return isinstance(exc, RpcError) and exc.code == ErrorCode.UNAVAILABLE


def with_headers(response: Response, headers: tuple[tuple[str, str], ...]) -> Response:
    """``response`` with ``headers`` added (the CORS answer of an rpc call)."""
    return attrs.evolve(response, headers=(*response.headers, *headers)) if headers else response


def rpc_failure(code: str, message: str, codec: EnvelopeCodec = _JSON_BODY) -> Response:
    """An error reply with the HTTP status of its ``code`` (:func:`http_status_for`)."""
    return rpc_error(http_status_for(code), str(code), message, codec)


def rpc_error(status: int, code: str, message: str, codec: EnvelopeCodec = _JSON_BODY) -> Response:
    """An error reply, ``{"error": {"code": ..., "message": ...}}``, in ``codec``'s encoding.

    The message is clipped: it may repeat client text (a method name).
    """
    try:
        error = {"code": code, "message": clip_message(message)}
        return _rpc_reply(codec, status, {"error": error})
    except EnvelopeError:  # an actor's RpcError message off the data model or too long
        return _rpc_reply(codec, status, {"error": {"code": code, "message": code}})


def _content_type(headers: Sequence[tuple[bytes, bytes]]) -> str | None:
    """The request's Content-Type (repeated ones joined, which no codec accepts)."""
    values = [value.decode("latin-1") for name, value in headers if name == b"content-type"]
    return ", ".join(values) if values else None


def _rpc_reply(codec: EnvelopeCodec, status: int, body: dict[str, Any]) -> Response:
    """An HTTP rpc reply in ``codec``'s encoding (EnvelopeError when it cannot be encoded)."""
    return Response(
        status=status, body=codec.encode_body(body), content_type=f"application/{codec.kind}"
    )
