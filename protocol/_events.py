"""The WebSocket vocabulary shared by the codec and its users: opcodes, close codes, events."""

from __future__ import annotations

import enum
from typing import TypeAlias

import attrs

from roost._errors import CloseCode

__all__ = [
    "BinaryMessage",
    "CloseCode",
    "CloseReceived",
    "Event",
    "Opcode",
    "Ping",
    "Pong",
    "TextMessage",
]


class Opcode(enum.IntEnum):
    """Frame opcodes defined by RFC 6455 §5.2."""

    CONTINUATION = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10


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
