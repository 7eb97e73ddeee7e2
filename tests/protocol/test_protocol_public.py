"""The public surface of roost.protocol is exactly what its ``__init__`` re-exports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import ModuleType

import roost.protocol

PUBLIC = {
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
    "check_close_code",
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
    "RESYNC",
    "parse_resume",
    "resync_event",
    "BadEnvelope",
    "Call",
    "Envelope",
    "EnvelopeCodec",
    "EnvelopeError",
    "EnvelopeTooBig",
    "ErrorCode",
    "ErrorReply",
    "InvalidEnvelopeData",
    "Result",
    "SUBPROTOCOLS",
    "ServerEvent",
    "UnencodableValue",
    "UnsupportedFrame",
    "ValueTooLarge",
    "codec_for_content_type",
    "codec_for_subprotocol",
    "envelope_error_for",
    "CallEncoder",
    "ConnectionFailed",
    "ConnectionState",
    "WebSocketConnection",
    "close_code_for",
    "error_for_reply",
    "outcome",
}


def test_public_names() -> None:
    assert set(roost.protocol.__all__) == PUBLIC
    assert len(roost.protocol.__all__) == len(PUBLIC)
    for name in PUBLIC:
        assert getattr(roost.protocol, name) is not None
    exported = {
        name
        for name, value in vars(roost.protocol).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert exported == PUBLIC  # public submodules (roost.protocol.yjs) aside


def test_protocol_never_imports_trio() -> None:
    """The codec is sans-I/O: no module in the package imports trio (or any I/O library)."""
    package = Path(roost.protocol.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                assert root not in {"trio", "socket", "asyncio", "time", "h11"}, (path, name)
    assert "roost.protocol" in sys.modules
