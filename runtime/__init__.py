"""The runtime: app registry, routing, actor slots and turns, transport and the server."""

from ._app import ActorType, App
from ._config import ServerConfig
from ._lifecycle import ActorState, IllegalTransition
from ._server import Server, ServerStatistics

__all__ = [
    "ActorState",
    "ActorType",
    "App",
    "IllegalTransition",
    "Server",
    "ServerConfig",
    "ServerStatistics",
]
