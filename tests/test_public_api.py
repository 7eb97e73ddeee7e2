"""The public surface is explicit: each package re-exports exactly these names."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import roost

GENERIC = ("runtime", "storage", "protocol", "actors")

EXPECTED = {
    "roost": {
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
    },
    "roost.actors": {
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
    },
    "roost.actors.yjs": {"AWARENESS_ALARM", "YjsActor"},
    "roost.protocol.yjs": {
        "AwarenessEntry",
        "YKind",
        "YMessage",
        "YjsProtocolError",
        "decode_awareness",
        "encode_awareness",
        "encode_sync_step1",
        "encode_sync_step2",
        "encode_update",
        "parse_message",
    },
    "roost.runtime": {
        "ActorState",
        "ActorType",
        "App",
        "IllegalTransition",
        "Server",
        "ServerConfig",
        "ServerStatistics",
    },
}


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_public_names(module: str) -> None:
    mod = importlib.import_module(module)
    assert set(mod.__all__) == EXPECTED[module]
    for name in mod.__all__:
        assert hasattr(mod, name), name


def test_every_error_is_a_roost_error() -> None:
    for name in roost.__all__:
        value = getattr(roost, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, roost.RoostError), name


def test_no_generic_top_level_packages_are_installed(tmp_path: Path) -> None:
    # Run outside the repository, so only what is installed can be imported.
    probe = f"import importlib.util as u; print([n for n in {GENERIC!r} if u.find_spec(n)])"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    assert (
        subprocess.run(
            [sys.executable, "-c", "import roost.runtime, roost.storage, roost.protocol"],
            cwd=tmp_path,
            check=False,
        ).returncode
        == 0
    )
