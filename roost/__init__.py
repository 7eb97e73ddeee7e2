"""roost: one live actor per key, with its own SQLite, WebSockets and alarms.

The public surface is re-exported here; everything else lives in private modules of the
subpackages ``roost.actors``, ``roost.runtime``, ``roost.storage`` and ``roost.protocol``.
"""

from roost._errors import (
    BadRequest,
    CommitFailed,
    ConfigError,
    ConnectionClosed,
    ConnectionRefused,
    HandshakeError,
    InvalidFrameData,
    MessageTooBig,
    NotFound,
    ProtocolError,
    RoostError,
    RpcError,
    StorageError,
    StoreUnavailable,
)
from roost.actors import Actor, Connection, HttpCaller, Request, Response, rpc
from roost.runtime import App, Server, ServerConfig

__version__ = "0.1.0"

__all__ = [
    "Actor",
    "App",
    "BadRequest",
    "CommitFailed",
    "ConfigError",
    "Connection",
    "ConnectionClosed",
    "ConnectionRefused",
    "HandshakeError",
    "HttpCaller",
    "InvalidFrameData",
    "MessageTooBig",
    "NotFound",
    "ProtocolError",
    "Request",
    "Response",
    "RoostError",
    "RpcError",
    "Server",
    "ServerConfig",
    "StorageError",
    "StoreUnavailable",
    "__version__",
    "rpc",
]
