"""The envelope protocol: rpc calls, replies and events over ``roost.v1.json`` / ``roost.v1.cbor``.

Sans-I/O: :class:`EnvelopeCodec` turns one WebSocket message into one envelope record and
back. Untrusted input is checked against the limits before a recursive decoder sees it (CBOR)
or right after the stdlib's recursion-bounded parser built it (JSON); every way it can be
refused becomes a close code or an error reply in :func:`envelope_error_for`. The spec, with
examples that the tests check byte for byte, is docs/protocol.md.

Long because: the records, the codec's two uses (WebSocket envelopes and HTTP rpc bodies) and
the one function that turns its errors into replies or close codes share the same fields and
limits; and the reply's fast path (``encode_result``, run once per call) sits beside the
general path it must match.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias, TypeGuard

import attrs

from roost._errors import ErrorCode, HandshakeError, ProtocolError, RpcError

from ._envelope_errors import (
    BadEnvelope,
    EnvelopeError,
    EnvelopeTooBig,
    InvalidEnvelopeData,
    UnencodableValue,
    UnsupportedFrame,
    ValueTooLarge,
)
from ._envelope_values import (
    Limits,
    OffModel,
    OverLimit,
    check_tree,
    decode_cbor,
    decode_json,
    encode_cbor,
    encode_json,
)
from ._frames import close_for_error

__all__ = [
    "SUBPROTOCOLS",
    "Call",
    "Envelope",
    "EnvelopeCodec",
    "ErrorCode",
    "ErrorReply",
    "Result",
    "ServerEvent",
    "codec_for_content_type",
    "codec_for_subprotocol",
    "envelope_error_for",
]

#: The envelope subprotocols, as offered in ``Sec-WebSocket-Protocol``.
SUBPROTOCOLS = ("roost.v1.cbor", "roost.v1.json")

#: The deepest ``max_depth`` allowed: far from where cbor2's encoder crashes (~5,000 levels)
#: and Python's recursion limit stops the json module (~1,000).
MAX_DEPTH_CAP = 256

#: Call ids are integers 0 <= id < 2**53, so that JavaScript numbers hold them exactly.
MAX_CALL_ID = (1 << 53) - 1


@attrs.frozen
class Call:
    """Client to server: call ``method`` with keyword ``args``; answered under ``id``."""

    id: int
    method: str
    args: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Result:
    """Server to client: the value the call ``id`` returned."""

    id: int
    value: Any


@attrs.frozen
class ErrorReply:
    """Server to client: the call ``id`` failed (``id`` None: the call's id was unreadable)."""

    id: int | None
    code: str
    message: str


@attrs.frozen
class ServerEvent:
    """Server to client: an event the actor emitted, ``seq`` its place in the actor's stream."""

    name: str
    data: Any
    seq: int | None = attrs.field(default=None, kw_only=True)


Envelope: TypeAlias = Call | Result | ErrorReply | ServerEvent

_NEEDS_ID = "a call needs an integer id, 0 <= id < 2**53"
_BAD_SEQ = "its optional seq is an integer, 0 <= seq < 2**53"
_FROM_SERVER = frozenset({"result", "error", "event"})


def _is_id(value: object) -> TypeGuard[int]:
    return type(value) is int and 0 <= value <= MAX_CALL_ID


@attrs.frozen
class EnvelopeCodec:
    """Decode and encode envelopes of one subprotocol; immutable, so shareable.

    Args:
        kind: ``"json"`` (text frames) or ``"cbor"`` (binary frames).
        client: the side using the codec. A server (the default) accepts only ``call``
            envelopes from its peer; a client accepts only ``result``, ``error`` and
            ``event``. Either side may encode any envelope.
        max_size: bytes in one envelope; the WebSocket layer's message limit applies too.
        max_depth: nesting of maps and arrays, the envelope map itself counting as level 1
            (so the arguments of a call nest ``max_depth - 2`` levels inside ``args``).
            Bounds recursion in the decoders and the encoders (cbor2 crashes the process on
            values nested a few thousand levels deep), hence at most 256.
        max_items: items in one array or entries in one map.
        max_total_items: items and entries in all the containers of one envelope. With
            ``max_items``, this bounds the Python objects one envelope decodes into (about
            100 bytes each: ~10 MB at the defaults, strings aside, which ``max_size``
            bounds). A CBOR envelope is checked before cbor2 builds anything; a JSON one
            is counted (brackets and commas) before the parser runs, which then builds at
            most about twice that many objects before the exact check refuses them.
    """

    kind: Literal["json", "cbor"] = attrs.field(validator=attrs.validators.in_(("json", "cbor")))
    client: bool = attrs.field(default=False, kw_only=True)
    max_size: int = attrs.field(default=1 << 20, kw_only=True)
    max_depth: int = attrs.field(default=32, kw_only=True)
    max_items: int = attrs.field(default=10_000, kw_only=True)
    max_total_items: int = attrs.field(default=100_000, kw_only=True)
    _limits: Limits = attrs.field(init=False, repr=False, eq=False)
    # A result's own map is within the item limits (always, but for max_items 2).
    _result_fits: bool = attrs.field(init=False, repr=False, eq=False)

    @max_size.validator
    @max_items.validator
    @max_total_items.validator
    def _at_least_two(self, attribute: attrs.Attribute[int], value: int) -> None:
        if type(value) is not int or value < 2:
            raise ValueError(f"{attribute.name} must be an integer >= 2, not {value!r}")

    @max_depth.validator
    def _sane_depth(self, attribute: attrs.Attribute[int], value: int) -> None:
        if type(value) is not int or not 2 <= value <= MAX_DEPTH_CAP:
            raise ValueError(f"max_depth must be an integer in 2..{MAX_DEPTH_CAP}, not {value!r}")

    @_limits.default
    def _make_limits(self) -> Limits:
        return Limits(self.max_size, self.max_depth, self.max_items, self.max_total_items)

    @_result_fits.default
    def _fits(self) -> bool:
        # Defaults are made before the validators run: a bad limit is theirs to report.
        limits = (self.max_items, self.max_total_items)
        return all(type(limit) is int and limit >= 3 for limit in limits)

    @property
    def subprotocol(self) -> str:
        """The subprotocol name this codec speaks."""
        return f"roost.v1.{self.kind}"

    def decode(self, message: str | bytes) -> Envelope:
        """Decode one WebSocket message (str: a text frame, bytes: a binary frame).

        Raises:
            UnsupportedFrame: a binary message in JSON mode, or text in CBOR mode (1003).
            EnvelopeTooBig: over ``max_size``, ``max_depth`` or an item limit (1009).
            InvalidEnvelopeData: not one valid JSON/CBOR value of the data model (1007).
            BadEnvelope: no valid envelope for this side (error reply ``bad_request``).
        """
        try:
            value = self._decode_value(message)
        except OverLimit as exc:
            raise EnvelopeTooBig(str(exc)) from None
        except OffModel as exc:
            raise InvalidEnvelopeData(str(exc)) from None
        return self._client_envelope(value) if self.client else self._server_envelope(value)

    def encode(self, envelope: Envelope) -> str | bytes:
        """Encode ``envelope``: str for JSON (a text frame), bytes for CBOR (a binary frame).

        Raises:
            ValueTooLarge: over ``max_size``, ``max_depth`` or an item limit (``too_large``).
            UnencodableValue: a value outside the data model, or invalid envelope fields
                (``internal``); both are ValueErrors and carry the envelope's id, if any.
        """
        if type(envelope) is Result and self._result_fits and _is_id(envelope.id):
            return self.encode_result(envelope.id, envelope.value)
        call_id = getattr(envelope, "id", None)
        if not _is_id(call_id):
            call_id = None
        try:
            obj = _as_map(envelope)
            if self.kind == "json":
                return encode_json(obj, self._limits)
            return encode_cbor(obj, self._limits)
        except OverLimit as exc:
            raise ValueTooLarge(str(exc), call_id=call_id) from None
        except OffModel as exc:
            raise UnencodableValue(str(exc), call_id=call_id) from None

    def encode_result(self, call_id: int, value: Any) -> str | bytes:
        """``encode(Result(call_id, value))`` without building the record: once per call.

        The map is the codec's own (three entries, str keys, a checked id), so only the
        value is walked, one level down.

        Raises:
            ValueTooLarge: as :meth:`encode`.
            UnencodableValue: as :meth:`encode`.
        """
        if not (self._result_fits and _is_id(call_id)):
            return self.encode(Result(call_id, value))
        limits = self._limits
        try:
            check_tree(value, limits, allow_bytes=self.kind == "cbor", depth=1, counted=3)
            obj = {"type": "result", "id": call_id, "value": value}
            if self.kind == "json":
                return encode_json(obj, limits, checked=True)
            return encode_cbor(obj, limits, checked=True)
        except OverLimit as exc:
            raise ValueTooLarge(str(exc), call_id=call_id) from None
        except OffModel as exc:
            raise UnencodableValue(str(exc), call_id=call_id) from None

    def decode_args(self, body: bytes) -> dict[str, Any]:
        """Decode the body of an HTTP rpc call: the ``args`` map of a call, by the same rules.

        The data model and the limits are the envelope's (a duplicate key, a lone surrogate
        or an integer outside int64 is refused as in a WebSocket frame); the body is the map
        itself, so it may nest as deep as ``args`` inside an envelope. An empty body is ``{}``.

        Raises:
            EnvelopeTooBig: over ``max_size``, the depth or an item limit.
            InvalidEnvelopeData: not one JSON/CBOR value of the data model (JSON: UTF-8 text).
            BadEnvelope: a valid value that is not a map.
        """
        if not body:
            return {}
        # The body is the args map itself: one level less than inside an envelope.
        limits = attrs.evolve(self._limits, max_depth=self.max_depth - 1)
        try:
            if len(body) > limits.max_size:
                raise OverLimit(f"body over {limits.max_size} bytes")
            if self.kind == "json":
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    raise OffModel("invalid UTF-8") from None
                value = decode_json(text, limits)
            else:
                value = decode_cbor(body, limits)
        except OverLimit as exc:
            raise EnvelopeTooBig(str(exc)) from None
        except OffModel as exc:
            raise InvalidEnvelopeData(str(exc)) from None
        if type(value) is not dict:
            raise BadEnvelope("the body must be a map of arguments")
        return value

    def encode_body(self, value: dict[str, Any]) -> bytes:
        """Encode the body of an HTTP rpc reply (``{"value": ...}`` or ``{"error": ...}``).

        Raises:
            ValueTooLarge: over ``max_size``, ``max_depth`` or an item limit.
            UnencodableValue: a value outside the data model.
        """
        try:
            if self.kind == "json":
                return encode_json(value, self._limits).encode()
            return encode_cbor(value, self._limits)
        except OverLimit as exc:
            raise ValueTooLarge(str(exc)) from None
        except OffModel as exc:
            raise UnencodableValue(str(exc)) from None

    def _decode_value(self, message: str | bytes) -> Any:
        if self.kind == "json":
            if not isinstance(message, str):
                raise UnsupportedFrame("roost.v1.json takes text frames")
            return decode_json(message, self._limits)
        if isinstance(message, str):
            raise UnsupportedFrame("roost.v1.cbor takes binary frames")
        return decode_cbor(bytes(message), self._limits)

    def _server_envelope(self, obj: Any) -> Call:
        if type(obj) is not dict:
            raise BadEnvelope("an envelope must be a map")
        kind = obj.get("type")
        raw_id = obj.get("id")
        # _is_id, inline: this runs for every call received.
        call_id = raw_id if type(raw_id) is int and 0 <= raw_id <= MAX_CALL_ID else None
        if kind != "call":
            if type(kind) is str and kind in _FROM_SERVER:
                raise BadEnvelope(f"a client cannot send {kind} envelopes", call_id=call_id)
            raise BadEnvelope("unknown or missing envelope type", call_id=call_id)
        if call_id is None:
            raise BadEnvelope(_NEEDS_ID)
        method = obj.get("method")
        if type(method) is not str:
            raise BadEnvelope("a call needs a string method", call_id=call_id)
        args = obj["args"] if "args" in obj else {}
        if type(args) is not dict:
            raise BadEnvelope("args must be a map", call_id=call_id)
        return Call(call_id, method, args)

    def _client_envelope(self, obj: Any) -> Result | ErrorReply | ServerEvent:
        if type(obj) is not dict:
            raise BadEnvelope("an envelope must be a map")
        kind = obj.get("type")
        raw_id = obj.get("id")
        if kind == "result":
            if not _is_id(raw_id):
                raise BadEnvelope("a result needs an integer id, 0 <= id < 2**53")
            if "value" not in obj:
                raise BadEnvelope("a result needs a value", call_id=raw_id)
            return Result(raw_id, obj["value"])
        if kind == "error":
            if raw_id is not None and not _is_id(raw_id):
                raise BadEnvelope("an error needs an integer or null id")
            code, message = obj.get("code"), obj.get("message")
            if type(code) is not str or type(message) is not str:
                raise BadEnvelope("an error needs a string code and message", call_id=raw_id)
            return ErrorReply(raw_id, code, message)
        if kind == "event":
            name, seq = obj.get("name"), obj.get("seq")
            if type(name) is not str or "data" not in obj or not (seq is None or _is_id(seq)):
                raise BadEnvelope(f"an event needs a string name and data; {_BAD_SEQ}")
            return ServerEvent(name, obj["data"], seq=seq)
        if kind == "call":
            raise BadEnvelope("a server cannot send call envelopes")
        raise BadEnvelope("unknown or missing envelope type")


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise OffModel(f"{field} must be a string")
    return str.__str__(value)  # an exact str, also for a StrEnum member


def _as_map(envelope: Envelope) -> dict[str, Any]:
    """The map of ``envelope``, ``type`` first; raises OffModel on invalid fields."""
    if isinstance(envelope, Result):
        if not _is_id(envelope.id):
            raise OffModel("a result needs an integer id, 0 <= id < 2**53")
        return {"type": "result", "id": envelope.id, "value": envelope.value}
    if isinstance(envelope, ErrorReply):
        if envelope.id is not None and not _is_id(envelope.id):
            raise OffModel("an error needs an integer or null id")
        code, message = _text(envelope.code, "code"), _text(envelope.message, "message")
        return {"type": "error", "id": envelope.id, "code": code, "message": message}
    if isinstance(envelope, ServerEvent):
        event = {"type": "event", "name": _text(envelope.name, "name"), "data": envelope.data}
        if envelope.seq is not None:
            if not _is_id(envelope.seq):
                raise OffModel(_BAD_SEQ)
            event["seq"] = envelope.seq
        return event
    if isinstance(envelope, Call):
        if not _is_id(envelope.id):
            raise OffModel(_NEEDS_ID)
        if type(envelope.args) is not dict:
            raise OffModel("args must be a dict")
        method = _text(envelope.method, "method")
        return {"type": "call", "id": envelope.id, "method": method, "args": envelope.args}
    raise OffModel(f"not an envelope: {type(envelope).__qualname__}")


_CODECS = {
    name: EnvelopeCodec("cbor" if name.endswith("cbor") else "json") for name in SUBPROTOCOLS
}


def codec_for_subprotocol(name: str) -> EnvelopeCodec | None:
    """The server-side codec (default limits) of an envelope subprotocol; None: raw mode."""
    return _CODECS.get(name)


#: The media types of HTTP rpc bodies and replies, each with the codec that reads them.
_MEDIA_TYPES = {
    "application/json": _CODECS["roost.v1.json"],
    "application/cbor": _CODECS["roost.v1.cbor"],
}


def codec_for_content_type(content_type: str | None, *, empty: bool = False) -> EnvelopeCodec:
    """The server-side codec of an HTTP rpc body with this ``Content-Type`` (None: absent).

    Only ``application/json`` and ``application/cbor`` (parameters such as ``charset``
    aside) are read, which also closes the form posts a foreign page could make a browser
    send (G10). An ``empty`` body without a content type means no arguments (JSON).

    Raises:
        HandshakeError: 415 for any other media type, or a non-empty body without one.
    """
    if content_type is None:
        if empty:
            return _MEDIA_TYPES["application/json"]
        raise HandshakeError(
            "an rpc body needs Content-Type application/json or application/cbor", status=415
        )
    codec = _MEDIA_TYPES.get(content_type.partition(";")[0].strip().lower())
    if codec is None:
        raise HandshakeError("rpc bodies are application/json or application/cbor", status=415)
    return codec


def envelope_error_for(
    exc: BaseException, *, call_id: int | None = None
) -> ErrorReply | tuple[int, str]:
    """What an error becomes on an envelope connection; the one place this is decided.

    Returns a ``(close code, reason)`` pair (close the connection) or the :class:`ErrorReply`
    to send (the connection stays open), addressed to the error's own ``call_id`` if it
    carries one, else to ``call_id``. Envelope errors carry their decision; an
    :class:`~roost.RpcError` becomes a reply with its code; a WebSocket protocol error, its
    close code; anything else the reply ``internal`` with no detail.
    """
    if isinstance(exc, EnvelopeError):
        if exc.close_code is not None:
            return exc.close_code, exc.reason
        own_id = exc.call_id if exc.call_id is not None else call_id
        return ErrorReply(own_id, exc.code or ErrorCode.INTERNAL.value, exc.reason)
    if isinstance(exc, RpcError):
        return ErrorReply(call_id, exc.code, exc.message or exc.code)
    if isinstance(exc, ProtocolError):
        return close_for_error(exc)
    return ErrorReply(call_id, ErrorCode.INTERNAL.value, "internal error")
