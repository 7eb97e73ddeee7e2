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
    ├── ConnectionRefused        raised by Actor.on_connect to refuse       -> HTTP status (403)
    ├── ConnectionClosed         the connection is closed; carries code and reason
    ├── StorageError             per-actor or shared storage could not do what was asked
    │   ├── CommitFailed         a turn's writes could not be committed (G4: outputs dropped)
    │   └── StoreUnavailable     the shared store cannot be reached; retried with backoff
    └── ConfigError              an App or server setting is invalid
"""

from __future__ import annotations


class RoostError(Exception):
    """Root of every error roost raises on purpose."""


class ProtocolError(RoostError):
    """A peer broke the WebSocket protocol; the connection closes with :attr:`close_code`."""

    close_code = 1002

    def __init__(self, reason: str = "protocol error") -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidFrameData(ProtocolError):
    """A frame's data is inconsistent with its type (for example text that is not UTF-8)."""

    close_code = 1007


class MessageTooBig(ProtocolError):
    """A frame or a reassembled message is larger than the configured limit."""

    close_code = 1009


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
    """Raised by ``Actor.on_connect`` to refuse a WebSocket before it is accepted.

    The client receives an HTTP response with ``status`` and ``reason`` as its body; the
    reason is the actor's own words, so it must not contain secrets.
    """

    def __init__(self, reason: str = "refused", *, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ConnectionClosed(RoostError):
    """The connection is closed (or closing) with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"connection closed ({code}) {reason}".rstrip())
        self.code = code
        self.reason = reason


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


__all__ = [
    "BadRequest",
    "CommitFailed",
    "ConfigError",
    "ConnectionClosed",
    "ConnectionRefused",
    "HandshakeError",
    "InvalidFrameData",
    "MessageTooBig",
    "NotFound",
    "ProtocolError",
    "RoostError",
    "StorageError",
    "StoreUnavailable",
]
