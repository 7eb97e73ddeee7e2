"""``roost serve`` as users run it: a real process, its start line, SIGTERM and exit 0."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio_websocket

from roost import ConfigError, ServerConfig
from roost.cli import load_app
from tests.support import EXAMPLES, open_client

#: Every server process a test started; tests/e2e/conftest.py kills any left running, so a
#: failing assertion never leaves a server behind.
STARTED: list[trio.Process] = []


async def start(args: list[str], env: dict[str, str]) -> tuple[trio.Process, int]:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "roost", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    STARTED.append(process)
    assert process.stdout is not None
    line = b""
    while b"\n" not in line:
        chunk = await process.stdout.receive_some(1)
        assert chunk, "server exited before printing its start line"
        line += chunk
    match = re.search(rb"roost listening on http://127\.0\.0\.1:(\d+)", line)
    assert match, line
    return process, int(match.group(1))


async def test_serve_then_sigterm_closes_with_1001_and_exits_0(tmp_path: Path) -> None:
    with trio.fail_after(30):
        process, port = await start(
            ["serve", str(EXAMPLES / "chat.py"), "--data-dir", str(tmp_path)],
            env={"ROOST_PORT": "0", "ROOST_HOST": "127.0.0.1"},
        )
        async with open_client(f"ws://127.0.0.1:{port}/chat/lobby?user=ann") as ws:
            assert json.loads(await ws.get_message())["type"] == "history"
            assert json.loads(await ws.get_message())["type"] == "presence_state"
            await ws.send_message(json.dumps({"type": "say", "text": "persist me"}))
            assert json.loads(await ws.get_message())["text"] == "persist me"
            process.send_signal(signal.SIGTERM)
            with pytest.raises(trio_websocket.ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason.code == 1001
        assert await process.wait() == 0
    assert list((tmp_path / "actors" / "chat").rglob("*.sqlite"))


async def test_sigint_also_stops_cleanly(tmp_path: Path) -> None:
    with trio.fail_after(30):
        process, _ = await start(
            ["serve", str(EXAMPLES / "relay.py"), "--port", "0", "--data-dir", str(tmp_path)],
            env={},
        )
        process.send_signal(signal.SIGINT)
        assert await process.wait() == 0


async def test_a_bad_app_is_a_clear_error(tmp_path: Path) -> None:
    with trio.fail_after(30):
        result = await trio.run_process(
            [sys.executable, "-m", "roost", "serve", str(tmp_path / "missing.py")],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 2
    assert b"no such file" in result.stderr


def test_load_app_forms(tmp_path: Path) -> None:
    assert len(load_app(str(EXAMPLES / "chat.py"))) == 1
    (tmp_path / "notapp.py").write_text("app = 3\n")
    with pytest.raises(ConfigError, match=r"not a roost\.App"):
        load_app(str(tmp_path / "notapp.py"))
    with pytest.raises(ConfigError, match="cannot import"):
        load_app("no_such_module_anywhere:app")


def test_settings_come_from_the_environment_and_flags_win() -> None:
    env = {"ROOST_PORT": "9999", "ROOST_IDLE_TIMEOUT": "2.5", "ROOST_DATA_DIR": "/tmp/x"}
    config = ServerConfig.from_env(env, port=1234, host=None)
    assert (config.port, config.idle_timeout, str(config.data_dir)) == (1234, 2.5, "/tmp/x")
    assert config.host == "127.0.0.1"
    with pytest.raises(ConfigError):
        ServerConfig.from_env({"ROOST_PORT": "eighty"})
    with pytest.raises(ConfigError):
        ServerConfig.from_env({"ROOST_MAX_MESSAGE_SIZE": "0"})
