"""``roost serve`` as users run it: a real process, its start line, SIGTERM and exit 0."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
import trio
import trio_websocket

import roost
from roost import ConfigError, ServerConfig, cli
from roost.cli import load_app
from roost.runtime._config import HELP
from tests.support import EXAMPLES, open_client

#: Every server process a test started; tests/e2e/conftest.py kills any left running, so a
#: failing assertion never leaves a server behind.
STARTED: list[trio.Process] = []


async def start(args: list[str], env: dict[str, str]) -> tuple[trio.Process, int]:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "roost", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Nobody reads stderr while the test runs: an access line per request would fill
        # the pipe (64 KiB) and block the server's logging. Tests that read it turn it on.
        env={**os.environ, "ROOST_ACCESS_LOG": "false", **env},
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


# -- one server per data directory ---------------------------------------------------------------


async def run_roost(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``python -m roost ARGS`` to completion: its status and stderr (never a traceback)."""
    result = await trio.run_process(
        [sys.executable, "-m", "roost", *args],
        capture_stdout=True,
        capture_stderr=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    err = result.stderr.decode()
    assert "Traceback" not in err, err
    return result.returncode, err


async def test_a_second_server_on_a_held_data_dir_exits_2_naming_the_holder(
    tmp_path: Path,
) -> None:
    relay = str(EXAMPLES / "relay.py")
    with trio.fail_after(60):
        first, _ = await start(["serve", relay, "--port", "0", "--data-dir", str(tmp_path)], {})
        status, err = await run_roost("serve", relay, "--port", "0", "--data-dir", str(tmp_path))
        assert status == 2
        assert err.count("\n") == 1, err
        assert str(tmp_path) in err and f"process {first.pid}" in err, err
        first.kill()  # kill -9: the kernel releases the lock with the process
        await first.wait()
        second, _ = await start(["serve", relay, "--port", "0", "--data-dir", str(tmp_path)], {})
        second.send_signal(signal.SIGTERM)
        assert await second.wait() == 0


# -- flags, environment, exit status -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--log-level", "LOUD"], {}, "argument --log-level: 'LOUD' is not one of"),
        ([], {"ROOST_LOG_LEVEL": "LOUD"}, "ROOST_LOG_LEVEL: 'LOUD' is not one of"),
        (["--port", "eighty"], {}, "argument --port: 'eighty' is not an integer"),
        ([], {"ROOST_PORT": "eighty"}, "ROOST_PORT: 'eighty' is not an integer"),
        (["--port", "70000"], {}, "port must be 0-65535"),
        ([], {"ROOST_SYNC_INTERVAL": "nan"}, "ROOST_SYNC_INTERVAL: 'nan' is not a finite"),
        (["--max-headers", "0"], {}, "max_headers must be positive"),
        ([], {"ROOST_MAX_CONNECTIONS_PER_IP": "-1"}, "max_connections_per_ip"),
        (["--admin-port", "x"], {}, "argument --admin-port: 'x' is not an integer"),
        (["--synchronous", "OFF"], {}, "synchronous must be NORMAL or FULL"),
        (["--store", "mysql://db/x"], {}, "unsupported shared store URL scheme 'mysql'"),
        (["--store", "postgresql://u@h:notaport/db"], {}, "malformed PostgreSQL URL"),
        ([], {"ROOST_STORE": "postgres:/db"}, "malformed PostgreSQL URL"),
        (["--no-such-flag"], {}, "unrecognized arguments: --no-such-flag"),
    ],
)
async def test_a_bad_setting_exits_2_in_one_line_before_touching_the_data_dir(
    tmp_path: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    data = tmp_path / "data"
    with trio.fail_after(30):
        status, err = await run_roost(
            "serve", str(EXAMPLES / "relay.py"), "--data-dir", str(data), *args, env=env
        )
    assert status == 2
    assert err.count("\n") == 1 and says in err, err
    assert not data.exists()


async def test_version() -> None:
    with trio.fail_after(30):
        result = await trio.run_process(
            [sys.executable, "-m", "roost", "--version"], capture_stdout=True
        )
    # pyproject.toml reads the version from roost/_version.py (tests/test_packaging.py).
    version = importlib.metadata.version("roost")
    assert result.stdout.decode() == f"roost {version}\n"
    assert roost.__version__ == version


def test_every_config_field_is_a_serve_flag_with_help() -> None:
    parsed = vars(cli._parser().parse_args(["serve", "app.py"]))
    for field in attrs.fields(ServerConfig):
        assert field.name in parsed, f"ServerConfig.{field.name} has no serve flag"
        assert HELP.get(field.name), f"ServerConfig.{field.name} has no help line"


def test_flags_win_over_the_environment_which_wins_over_defaults() -> None:
    args = cli._parser().parse_args(
        [
            "serve", "app.py",
            "--allow-origin", "https://a.example", "--allow-origin", "https://b.example,*",
            "--forwarded-allow-ips", "10.0.0.0/8, 127.0.0.1",
            "--max-connections-per-ip", "5", "--admin-port", "9000", "--admin-token", "flag-secret",
            "--max-messages-per-second", "2.5", "--port", "0",
        ]
    )  # fmt: skip
    env = {
        "ROOST_ALLOW_ORIGINS": "https://env.example",
        "ROOST_MAX_HEADERS": "20",
        "ROOST_MAX_PENDING_HANDSHAKES": "7",
        "ROOST_ADMIN_HOST": "0.0.0.0",
        "ROOST_PORT": "1234",
    }
    config = cli.serve_config(args, env)
    assert config.allow_origins == ("https://a.example", "https://b.example", "*")
    assert config.forwarded_allow_ips == ("10.0.0.0/8", "127.0.0.1")
    assert (config.max_connections_per_ip, config.admin_port, config.port) == (5, 9000, 0)
    assert (config.max_headers, config.max_pending_handshakes) == (20, 7)
    assert config.admin_host == "0.0.0.0" and config.admin_token == "flag-secret"
    assert config.max_messages_per_second == 2.5
    assert config.max_connections_per_actor == 10_000  # the default
    assert "flag-secret" not in repr(config)
    plain = cli.serve_config(
        cli._parser().parse_args(["serve", "app.py"]), {"ROOST_ADMIN_PORT": ""}
    )
    assert plain.admin_port is None and plain.forwarded_allow_ips == ("127.0.0.1",)


async def test_the_admin_token_is_never_echoed(tmp_path: Path) -> None:
    secret = "tok-4f9a1c77e2"
    relay = str(EXAMPLES / "relay.py")
    with trio.fail_after(30):
        process, _ = await start(
            ["serve", relay, "--port", "0", "--data-dir", str(tmp_path), "--log-level", "DEBUG"],
            env={"ROOST_ADMIN_TOKEN": secret},
        )
        process.send_signal(signal.SIGTERM)
        assert await process.wait() == 0
        assert process.stdout is not None and process.stderr is not None
        output = await process.stdout.receive_some(1 << 16) or b""
        output += await process.stderr.receive_some(1 << 16) or b""
        _, help_text = await run_roost("serve", "--help")
    assert secret.encode() not in output
    assert secret not in help_text


def test_help_and_the_operations_doc_list_the_same_flags() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "roost", "serve", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "2000"},
        timeout=30,
        check=True,
    ).stdout
    options = help_text.partition("\noptions:\n")[2]
    entries = [" ".join(e.split()) for e in re.split(r"\n(?=  -)", options) if e.strip()]
    in_help = set()
    for entry in entries:
        flag, variable = entry.split()[0], re.search(r"\((?:[^()]*; )?(ROOST_[A-Z_]+)\)$", entry)
        if flag != "-h,":
            assert variable, f"{flag} names no environment variable: {entry}"
            in_help.add((flag, variable.group(1)))
    assert len(in_help) >= len(attrs.fields(ServerConfig)) + 1  # and --log-level
    doc = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    in_doc = set(re.findall(r"^\| `(--[a-z-]+)[^`]*` \| `(ROOST_[A-Z_]+)` \|", doc, re.M))
    assert in_doc == in_help


async def test_a_second_ctrl_c_exits_at_once_while_shutdown_waits(tmp_path: Path) -> None:
    with trio.fail_after(60):
        process, port = await start(
            [
                "serve", str(EXAMPLES / "relay.py"), "--port", "0", "--data-dir", str(tmp_path),
                "--shutdown-timeout", "300", "--close-timeout", "300",
            ],
            env={},
        )  # fmt: skip
        # A peer that completes the upgrade and then never answers the close handshake.
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(
            b"GET /relay/room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        received = b""
        while b"\r\n\r\n" not in received:
            received += await stream.receive_some(4096)
        assert received.startswith(b"HTTP/1.1 101"), received
        received = received.partition(b"\r\n\r\n")[2]
        process.send_signal(signal.SIGINT)
        while not received:  # the server's close frame (1001): the shutdown has begun
            received += await stream.receive_some(4096)
        assert received[0] == 0x88 and received[2:4] == (1001).to_bytes(2, "big")
        with trio.move_on_after(1):
            await process.wait()
        assert process.returncode is None  # still waiting for our close frame
        process.send_signal(signal.SIGINT)
        with trio.fail_after(10):
            status = await process.wait()
        assert status == 128 + signal.SIGINT
        await stream.aclose()


async def test_ctrl_c_while_the_app_loads_exits_130_without_a_traceback(tmp_path: Path) -> None:
    slow = tmp_path / "slow.py"
    slow.write_text("import time\nprint('loading', flush=True)\ntime.sleep(60)\n")
    with trio.fail_after(30):
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "roost", "serve", str(slow), "--data-dir", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        STARTED.append(process)
        assert process.stdout is not None and process.stderr is not None
        seen = b""
        while not seen.endswith(b"\n"):  # a pipe may hand the line over in pieces
            chunk = await process.stdout.receive_some(64)
            assert chunk, f"roost serve ended before the app printed: {seen!r}"
            seen += chunk
        assert seen == b"loading\n"
        process.send_signal(signal.SIGINT)
        assert await process.wait() == 128 + signal.SIGINT
        err = await process.stderr.receive_some(1 << 16)
    assert err == b"roost: interrupted while starting\n"
