"""The user-facing actor API: subclass :class:`Actor`, talk to :class:`Connection` objects."""

from roost._errors import (
    CommitFailed,
    ConnectionClosed,
    ConnectionModeError,
    ConnectionRefused,
    RoostError,
    RpcError,
)

from ._actor import Actor, ActorHost
from ._alarms import Alarm, Alarms
from ._caller import HttpCaller
from ._connection import MAX_STATE_BYTES, MAX_TAG_LENGTH, MAX_TAGS, Connection
from ._http import Request, Response
from ._presence import PresenceDiff, PresenceLimitError, PresenceTracker
from ._presence_channel import Presence
from ._rpc import ActorRef, rpc

__all__ = [
    "MAX_STATE_BYTES",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "Actor",
    "ActorHost",
    "ActorRef",
    "Alarm",
    "Alarms",
    "CommitFailed",
    "Connection",
    "ConnectionClosed",
    "ConnectionModeError",
    "ConnectionRefused",
    "HttpCaller",
    "Presence",
    "PresenceDiff",
    "PresenceLimitError",
    "PresenceTracker",
    "Request",
    "Response",
    "RoostError",
    "RpcError",
    "rpc",
]
