"""Sans-I/O WebSocket (RFC 6455): frame codec and opening-handshake helpers.

Bytes in, events out, bytes to send: no sockets, no clock, no trio. The runtime feeds what it
reads to a :class:`FrameDecoder` and writes what the ``encode_*`` functions return; errors
become close codes in :func:`close_for_error` only. :class:`WebSocketConnection` wraps both
into one endpoint (masking, pongs, the close handshake), and :class:`CallEncoder` is the
client side of envelope rpc.
"""

from ._calls import CallEncoder, error_for_reply, outcome
from ._connection import ConnectionFailed, ConnectionState, WebSocketConnection, close_code_for
from ._envelope import (
    SUBPROTOCOLS,
    Call,
    Envelope,
    EnvelopeCodec,
    ErrorCode,
    ErrorReply,
    Result,
    ServerEvent,
    codec_for_content_type,
    codec_for_subprotocol,
    envelope_error_for,
)
from ._envelope_errors import (
    BadEnvelope,
    EnvelopeError,
    EnvelopeTooBig,
    InvalidEnvelopeData,
    UnencodableValue,
    UnsupportedFrame,
    ValueTooLarge,
)
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
    check_close_code,
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
from ._resume import RESYNC, parse_resume, resync_event

__all__ = [
    "RESYNC",
    "SUBPROTOCOLS",
    "BadEnvelope",
    "BinaryMessage",
    "Call",
    "CallEncoder",
    "CloseCode",
    "CloseReceived",
    "ConnectionFailed",
    "ConnectionState",
    "Envelope",
    "EnvelopeCodec",
    "EnvelopeError",
    "EnvelopeTooBig",
    "ErrorCode",
    "ErrorReply",
    "Event",
    "FrameDecoder",
    "InvalidEnvelopeData",
    "Opcode",
    "Ping",
    "Pong",
    "Result",
    "ServerEvent",
    "TextMessage",
    "UnencodableValue",
    "UnsupportedFrame",
    "UpgradeRequest",
    "ValueTooLarge",
    "WebSocketConnection",
    "accept_headers",
    "accept_key",
    "check_accept",
    "check_close_code",
    "check_upgrade",
    "client_request_headers",
    "close_code_for",
    "close_for_error",
    "codec_for_content_type",
    "codec_for_subprotocol",
    "encode_binary",
    "encode_close",
    "encode_frame",
    "encode_ping",
    "encode_pong",
    "encode_text",
    "envelope_error_for",
    "error_for_reply",
    "is_websocket_upgrade",
    "outcome",
    "parse_resume",
    "rejection_headers",
    "resync_event",
]
