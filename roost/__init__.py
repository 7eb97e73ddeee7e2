"""roost: one live actor per key, with its own SQLite, WebSockets and alarms.

The public surface is re-exported here; everything else lives in private modules of the
subpackages ``roost.actors``, ``roost.runtime``, ``roost.storage`` and ``roost.protocol``.

The re-exports are lazy (PEP 562 module ``__getattr__``): ``import roost.protocol`` or
``import roost.client`` runs this file first, and an eager facade would drag the whole runtime
(trio, psycopg, sqlite_utils) into a process that only wanted the wire codec. A name is
imported from its home module on first access and then cached in this module's globals.
The facade is nobody's dependency: code inside the package imports ``roost.<sub>``, never
``roost`` itself (tests/test_layers.py enforces it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

from roost._version import __version__

# Where the re-exported names live; every other public name is an exception of roost._errors.
_ACTOR_NAMES = frozenset({"Actor", "Connection", "HttpCaller", "Request", "Response", "rpc"})
_RUNTIME_NAMES = frozenset({"App", "Server", "ServerConfig"})

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


def __getattr__(name: str) -> Any:
    """Import a public name from its home module on first access (PEP 562)."""
    if name in _ACTOR_NAMES:
        home = "roost.actors"
    elif name in _RUNTIME_NAMES:
        home = "roost.runtime"
    elif name in __all__:
        home = "roost._errors"
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
