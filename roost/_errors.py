"""The one exception root of roost and its whole tree.

Every error roost raises on purpose derives from :class:`RoostError`, so callers can catch
everything of ours in one place. Errors that travel to a peer carry what they become on the
wire (a WebSocket close code or an HTTP status); the mapping is decided here and nowhere else,
and internal details never reach a peer.

::

    RoostError
    ├── ProtocolError            a peer broke the WebSocket protocol        -> close 1002
    │   ├── InvalidFrameData     text that is not UTF-8, bad close payload  -> close 1007
    │   └── MessageTooBig        a frame or message over the size limit     -> close 1009
    ├── HandshakeError           an upgrade request we cannot accept        -> HTTP status
    │   ├── BadRequest           malformed request or key                   -> HTTP 400
    │   └── NotFound             unknown actor type or path                 -> HTTP 404
    ├── ConnectionRefused        the authenticate hook or on_connect refused -> HTTP status
    ├── EnvelopeError            an envelope (roost.v1.json/cbor) cannot be decoded or encoded
    │   ├── InvalidEnvelopeData  not JSON/CBOR, bad UTF-8, a CBOR tag, off the data model -> 1007
    │   ├── UnsupportedFrame     binary frame in roost.v1.json, text frame in .cbor      -> 1003
    │   ├── EnvelopeTooBig       over max_size, max_depth or an item limit              -> 1009
    │   ├── BadEnvelope          well-formed but not a valid envelope -> reply bad_request
    │   └── UnencodableValue     (also ValueError) a value that cannot be sent -> reply internal
    │       └── ValueTooLarge    over a limit when encoding              -> reply too_large
    ├── ConnectionClosed         the connection is closed; carries code and reason
    ├── ConnectionModeError      conn.send() of a raw frame on an envelope connection
    ├── RpcError                 an rpc call failed: code not_found, bad_request, internal, ...
    │   └── Unavailable          code "unavailable": retryable
    │       ├── Disconnected     (client) the connection dropped with the call in flight
    │       └── CallTimeout      (client) no reply within call_timeout
    ├── HandoffFailed            a connection could not be handed to a sibling worker
    ├── StorageError             per-actor or shared storage could not do what was asked
    │   ├── CommitFailed         a turn's writes could not be committed (G4: outputs dropped)
    │   ├── DataDirLocked        another process holds the data directory (storage._lock)
    │   └── StoreUnavailable     the shared store cannot be reached; retried with backoff
    ├── ConfigError              an App or server setting is invalid
    └── LinkError                a node-to-node link (runtime/_links.py) failed
        ├── LinkRefused          refused: bad secret proof, incompatible cluster protocol
        └── LinkUnavailable      cannot connect, the link was lost, or a timeout

The codes themselves live here too, once: :class:`CloseCode` (every close code roost sends or
reports) and :class:`ErrorCode` (an error reply's code, with the HTTP status of its HTTP rpc
form); roost.protocol re-exports both.
"""

from __future__ import annotations

import enum


class CloseCode(enum.IntEnum):
    """Close status codes registered by RFC 6455 §7.4.1 that roost uses or reports."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005  # reported for an empty close frame; sent only as one
    ABNORMAL = 1006  # reported, never sent: the connection ended without a close frame
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014


class ErrorCode(enum.StrEnum):
    """The ``code`` of an error reply; peers must accept codes they do not know."""

    BAD_REQUEST = "bad_request"  # malformed envelope or wrong arguments
    NOT_FOUND = "not_found"  # no such method
    INTERNAL = "internal"  # the method raised (never a traceback), or its result is unencodable
    UNAVAILABLE = "unavailable"  # retryable: the actor could not be reached or is stopping
    TOO_LARGE = "too_large"  # the reply is over a limit

    @property
    def http_status(self) -> int:
        """The status of the HTTP form of rpc for this code."""
        return _HTTP_STATUS[self]


_HTTP_STATUS = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.TOO_LARGE: 413,
}


def http_status_for(code: str) -> int:
    """The HTTP status of an error reply's ``code``; 500 for a code roost does not define
    (an actor's own ``RpcError`` code)."""
    try:
        return ErrorCode(code).http_status
    except ValueError:
        return 500


class RoostError(Exception):
    """Root of every error roost raises on purpose."""


class ProtocolError(RoostError):
    """A peer broke the WebSocket protocol; the connection closes with :attr:`close_code`."""

    close_code: int = CloseCode.PROTOCOL_ERROR

    def __init__(self, reason: str = "protocol error") -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidFrameData(ProtocolError):
    """A frame's data is inconsistent with its type (for example text that is not UTF-8)."""

    close_code = CloseCode.INVALID_DATA


class MessageTooBig(ProtocolError):
    """A frame or a reassembled message is larger than the configured limit."""

    close_code = CloseCode.MESSAGE_TOO_BIG


class HandshakeError(RoostError):
    """An HTTP or upgrade request that cannot be served; answered with :attr:`status`."""

    status = 400

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status


class BadRequest(HandshakeError):
    """A malformed request, path or key (HTTP 400)."""

    status = 400


class NotFound(HandshakeError):
    """No actor type or endpoint serves this path (HTTP 404)."""

    status = 404


class ConnectionRefused(RoostError):
    """Raised by the app's ``authenticate`` hook (any request to an actor) or by
    ``Actor.on_connect`` (a WebSocket before it is accepted) to refuse.

    The client receives an HTTP response with ``status`` (403 by default; the hook's None
    means 401) and ``reason`` as its body; the reason is the app's own words, so it must not
    contain secrets.
    """

    def __init__(self, reason: str = "refused", *, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ConnectionClosed(RoostError):
    """The connection is closed (or closing) with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed ({code}) {reason}".rstrip())
        self.code = int(code)  # a plain int, also when given a CloseCode
        self.reason = reason


class ConnectionModeError(RoostError):
    """``conn.send()`` on an envelope (roost.v1.cbor / .json) connection: raw frames would
    break its protocol, so the actor gets this error instead; ``self.emit`` reaches it.
    Also ``send``/``close`` on an :class:`HttpCaller`, which has no connection at all."""


class RpcError(RoostError):
    """An rpc call failed. ``code`` is what the envelope protocol puts on the wire:
    ``not_found``, ``bad_request``, ``internal``, ``unavailable`` or ``too_large``."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class EnvelopeError(RoostError):
    """An envelope that cannot be decoded or encoded.

    Exactly one of :attr:`close_code` (close the connection with it) and :attr:`code` (send
    an error reply with it, to :attr:`call_id`) is set. :attr:`reason` is short, ASCII and
    safe to send to the peer, as a close reason or as the error reply's message.
    """

    close_code: int | None = None
    code: str | None = None

    def __init__(self, reason: str, *, call_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.call_id = call_id


class InvalidEnvelopeData(EnvelopeError):
    """Bytes that are not one JSON or CBOR value of the data model (close 1007).

    Invalid JSON or CBOR, invalid UTF-8, a CBOR tag, an integer out of range, a non-finite
    float, a duplicate map key, a map key that is not text, trailing bytes.
    """

    close_code = CloseCode.INVALID_DATA


class UnsupportedFrame(EnvelopeError):
    """A frame of the wrong kind: binary in ``roost.v1.json``, text in ``roost.v1.cbor`` (1003)."""

    close_code = CloseCode.UNSUPPORTED_DATA


class EnvelopeTooBig(EnvelopeError):
    """A received envelope over ``max_size``, ``max_depth`` or an item limit (close 1009)."""

    close_code = CloseCode.MESSAGE_TOO_BIG


class BadEnvelope(EnvelopeError):
    """A well-formed value that is not a valid envelope: error reply ``bad_request``.

    :attr:`call_id` is the call's id when it could be read, else None (sent as ``null``).
    """

    code = ErrorCode.BAD_REQUEST.value


class UnencodableValue(EnvelopeError, ValueError):
    """An envelope that cannot be sent: a value outside the data model (``internal``)."""

    code = ErrorCode.INTERNAL.value


class ValueTooLarge(UnencodableValue):
    """An envelope to send is over ``max_size``, ``max_depth`` or an item limit (``too_large``)."""

    code = ErrorCode.TOO_LARGE.value


class Unavailable(RpcError):
    """Retryable: the call may succeed if made again (it may or may not have taken effect)."""

    retryable = True

    def __init__(self, message: str = "") -> None:
        super().__init__(ErrorCode.UNAVAILABLE.value, message)


class Disconnected(Unavailable):
    """No connection: it dropped with the call in flight, or was not there within the call's
    ``call_timeout``, or the first connection could not be made."""


class CallTimeout(Unavailable):
    """The connection was open but no reply came within ``call_timeout``."""


class HandoffFailed(RoostError):
    """A connection could not be handed to a sibling worker (runtime/_handoff.py): nobody
    listens at its address, or it did not take the socket in time. The sender still owns
    the connection and keeps serving it."""


class StorageError(RoostError):
    """Per-actor or shared storage could not do what was asked."""


class CommitFailed(StorageError):
    """A turn's writes could not be committed; what the turn sent is dropped (G4)."""


class StoreUnavailable(StorageError):
    """The shared store cannot be reached, or the connection broke during the call.

    The call may or may not have taken effect (a commit can succeed just before the connection
    breaks); every store operation is safe to retry, so the caller retries with backoff.
    """


class ConfigError(RoostError):
    """An App registration or a server setting is invalid."""


class LinkError(RoostError):
    """A link between two nodes of a cluster failed (runtime/_links.py), or a peer broke
    the link protocol (protocol/_link.py)."""


class LinkRefused(LinkError):
    """One side refused the link: the proof of the cluster secret did not verify, or the
    nodes speak different cluster protocols (the message names both numbers and versions).
    Dialing again will not help until the configuration changes."""


class LinkUnavailable(LinkError):
    """The peer cannot be reached, the link was lost, or it did not answer in time; a
    stream or call in flight on a lost link fails with it. The next use dials again."""


__all__ = [
    "BadEnvelope",
    "BadRequest",
    "CallTimeout",
    "CloseCode",
    "CommitFailed",
    "ConfigError",
    "ConnectionClosed",
    "ConnectionRefused",
    "Disconnected",
    "EnvelopeError",
    "EnvelopeTooBig",
    "ErrorCode",
    "HandoffFailed",
    "HandshakeError",
    "InvalidEnvelopeData",
    "InvalidFrameData",
    "LinkError",
    "LinkRefused",
    "LinkUnavailable",
    "MessageTooBig",
    "NotFound",
    "ProtocolError",
    "RoostError",
    "RpcError",
    "StorageError",
    "StoreUnavailable",
    "Unavailable",
    "UnencodableValue",
    "UnsupportedFrame",
    "ValueTooLarge",
    "http_status_for",
]
