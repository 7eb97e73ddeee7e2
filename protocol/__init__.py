"""Sans-I/O WebSocket (RFC 6455): frame codec and opening-handshake helpers.

Bytes in, events out, bytes to send: no sockets, no clock, no trio. The runtime feeds what it
reads to a :class:`FrameDecoder` and writes what the ``encode_*`` functions return; errors
become close codes in :func:`close_for_error` only.
"""

from ._events import (
    BinaryMessage,
    CloseCode,
    CloseReceived,
    Event,
    Opcode,
    Ping,
    Pong,
    TextMessage,
)
from ._frames import (
    FrameDecoder,
    close_for_error,
    encode_binary,
    encode_close,
    encode_frame,
    encode_ping,
    encode_pong,
    encode_text,
)
from ._handshake import (
    UpgradeRequest,
    accept_headers,
    accept_key,
    check_accept,
    check_upgrade,
    client_request_headers,
    is_websocket_upgrade,
    rejection_headers,
)

__all__ = [
    "BinaryMessage",
    "CloseCode",
    "CloseReceived",
    "Event",
    "FrameDecoder",
    "Opcode",
    "Ping",
    "Pong",
    "TextMessage",
    "UpgradeRequest",
    "accept_headers",
    "accept_key",
    "check_accept",
    "check_upgrade",
    "client_request_headers",
    "close_for_error",
    "encode_binary",
    "encode_close",
    "encode_frame",
    "encode_ping",
    "encode_pong",
    "encode_text",
    "is_websocket_upgrade",
    "rejection_headers",
]
