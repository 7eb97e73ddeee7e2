"""The WebSocket vocabulary shared by the codec and its users: opcodes, close codes, events."""

from __future__ import annotations

import enum
from typing import TypeAlias

import attrs


class Opcode(enum.IntEnum):
    """Frame opcodes defined by RFC 6455 §5.2."""

    CONTINUATION = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10


class CloseCode(enum.IntEnum):
    """Close status codes registered by RFC 6455 §7.4.1 that roost uses or reports."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005
    ABNORMAL = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013


@attrs.frozen
class TextMessage:
    """A complete text message, reassembled and checked to be UTF-8."""

    data: str


@attrs.frozen
class BinaryMessage:
    """A complete binary message, reassembled."""

    data: bytes


@attrs.frozen
class Ping:
    """A ping from the peer; the connection owes it a pong with the same payload."""

    payload: bytes


@attrs.frozen
class Pong:
    """A pong from the peer."""

    payload: bytes


@attrs.frozen
class CloseReceived:
    """The peer's close frame; an empty close payload is reported as code 1005, reason ""."""

    code: int
    reason: str


Event: TypeAlias = TextMessage | BinaryMessage | Ping | Pong | CloseReceived
