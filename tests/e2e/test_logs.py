"""Logs as an operator reads them: ``roost serve`` processes with ``--log-format json`` and
text, the access log of HTTP requests and WebSocket sessions (never a token), an actor's
failure logged once with its type and key, and ``--no-access-log``."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from roost import _logging
from tests.e2e.logs_app import BEARER_IDENTITY, QUERY_IDENTITY, TOKEN
from tests.e2e.test_cli import start
from tests.support import open_client

APP = str(Path(__file__).with_name("logs_app.py"))


async def request(port: int, head: str, body: bytes = b"") -> bytes:
    """One HTTP/1.1 request on its own connection; the whole answer."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        lines = f"{head}\r\nHost: x\r\nUser-Agent: logs-test/1\r\nConnection: close\r\n"
        await stream.send_all(f"{lines}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        answer = b""
        while chunk := await stream.receive_some(65536):
            answer += chunk
    return answer


async def stop(process: trio.Process) -> str:
    """SIGTERM, then everything the server wrote on stderr (it exits 0)."""
    assert process.stderr is not None
    process.send_signal(signal.SIGTERM)
    err = b""
    while chunk := await process.stderr.receive_some(65536):
        err += chunk
    assert await process.wait() == 0, err.decode()
    return err.decode()


async def traffic(port: int) -> None:
    """An HTTP request with a bearer token, one with a query token, a failing actor, a
    refused request through a proxy, a HEAD and a WebSocket session that closes with 1000."""
    answer = await request(
        port, f"POST /echo/room?token={TOKEN}&x=1 HTTP/1.1\r\nAuthorization: Bearer {TOKEN}", b"hi"
    )
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"echo hi"), answer
    answer = await request(port, f"GET /echo/room?token={TOKEN} HTTP/1.1\r\nCookie: sid={TOKEN}")
    assert answer.startswith(b"HTTP/1.1 200"), answer
    answer = await request(port, f"GET /echo/boom HTTP/1.1\r\nAuthorization: Bearer {TOKEN}")
    assert answer.startswith(b"HTTP/1.1 500"), answer
    answer = await request(
        port,
        "GET /echo/room?token=wrong HTTP/1.1\r\nAuthorization: Basic x\r\n"
        "X-Forwarded-For: 203.0.113.7",
    )
    assert answer.startswith(b"HTTP/1.1 401"), answer
    answer = await request(port, f"HEAD /echo/room HTTP/1.1\r\nAuthorization: Bearer {TOKEN}")
    assert answer.startswith(b"HTTP/1.1 200"), answer
    url = f"ws://127.0.0.1:{port}/echo/room?token={TOKEN}"
    async with open_client(url, extra_headers=[("User-Agent", "ws-test/2")]) as ws:
        for text in ("one", "two"):
            await ws.send_message(text)
            assert await ws.get_message() == text


async def test_json_lines_access_records_and_no_token(tmp_path: Path) -> None:
    with trio.fail_after(20):
        process, port = await start(
            ["serve", APP, "--port", "0", "--data-dir", str(tmp_path), "--log-format", "json"],
            env={"ROOST_ACCESS_LOG": "true"},  # tests/e2e start() turns it off by default
        )
        await traffic(port)
        # A refusal before a request head could be read is logged too.
        assert (await request(port, "BAD\x01 / HTTP/1.1")).startswith(b"HTTP/1.1 400")
        err = await stop(process)
    assert TOKEN not in err  # neither the query, the Authorization header nor the cookie
    records = [json.loads(line) for line in err.splitlines()]  # every line is one object
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        assert record["time"].endswith("Z") and "T" in record["time"]
    access = [r for r in records if r["logger"] == "roost.access"]
    http = [r for r in access if r["kind"] == "http"]
    assert [(r["method"], r["path"], r["status"]) for r in http] == [
        ("POST", "/echo/room", 200),
        ("GET", "/echo/room", 200),
        ("GET", "/echo/boom", 500),
        ("GET", "/echo/room", 401),
        ("HEAD", "/echo/room", 200),
        ("-", "-", 400),
    ]
    post, get = http[0], http[1]
    assert post["identity"] == BEARER_IDENTITY and post["client"].startswith("127.0.0.1:")
    assert (post["bytes_in"], post["bytes_out"], post["user_agent"]) == (2, 7, "logs-test/1")
    assert post["duration_ms"] >= 0 and http[5]["duration_ms"] is None
    assert (http[3]["identity"], http[3]["user_agent"]) == (None, "logs-test/1")
    assert http[3]["client"].startswith("203.0.113.7:")  # from the trusted proxy (127.0.0.1)
    assert (http[4]["bytes_out"], http[4]["identity"]) == (0, BEARER_IDENTITY)  # HEAD
    assert len(get["identity"]) == 200 and QUERY_IDENTITY.startswith(get["identity"][:-1])
    assert http[2]["identity"] == BEARER_IDENTITY
    assert "wrong" not in err and "Basic" not in err
    [ws] = [r for r in access if r["kind"] == "websocket"]
    assert (ws["path"], ws["close_code"], ws["messages_in"]) == ("/echo/room", 1000, 2)
    assert ws["bytes_in"] > 0 and ws["duration_ms"] >= 0 and ws["subprotocol"] is None
    assert (ws["user_agent"], ws["client"][:10]) == ("ws-test/2", "127.0.0.1:")
    assert ws["identity"] == get["identity"]
    # The actor's failure: one record, with its type, key and traceback.
    [failure] = [r for r in records if "kaboom" in json.dumps(r)]
    assert (failure["level"], failure["actor_type"], failure["key"]) == ("ERROR", "echo", "boom")
    assert "RuntimeError: kaboom in on_request" in failure["exc"]
    assert "Traceback" in failure["exc"]


async def test_text_stays_human_and_no_access_log_logs_no_request(tmp_path: Path) -> None:
    with trio.fail_after(20):
        text, text_port = await start(
            ["serve", APP, "--port", "0", "--data-dir", str(tmp_path / "a")],
            env={"ROOST_ACCESS_LOG": "true"},
        )
        quiet, quiet_port = await start(
            ["serve", APP, "--port", "0", "--data-dir", str(tmp_path / "b"), "--log-format=json"],
            env={"ROOST_ACCESS_LOG": "false"},
        )
        flagged, flagged_port = await start(
            ["serve", APP, "--port", "0", "--data-dir", str(tmp_path / "c"), "--no-access-log"],
            env={"ROOST_ACCESS_LOG": "true"},  # the flag wins
        )
        for port in (text_port, quiet_port, flagged_port):
            await traffic(port)
        text_err, quiet_err, flagged_err = [await stop(p) for p in (text, quiet, flagged)]
    assert TOKEN not in text_err
    lines = text_err.splitlines()
    [post] = [line for line in lines if '"POST /echo/room HTTP/1.1"' in line]
    assert " level=INFO logger=roost.access 127.0.0.1:" in post
    assert post.endswith(f" 200 {post.split(' 200 ')[1]}") and " in=2 out=7 id=ann " in post
    assert post.endswith('"logs-test/1"')
    [session] = [line for line in lines if '"WS /echo/room"' in line]
    assert " 1000 " in session and " msgs=2 " in session
    assert "Traceback (most recent call last):" in lines  # a traceback is plain lines here
    for err in (quiet_err, flagged_err):
        assert "roost.access" not in err and "HTTP/1.1" not in err and "WS " not in err
        assert "kaboom" in err  # the rest of the log is still there
    assert all(json.loads(line) for line in quiet_err.splitlines())


async def test_a_bad_log_format_exits_2_in_one_line(tmp_path: Path) -> None:
    with trio.fail_after(20):
        for args, env in (
            (["--log-format", "xml"], {}),
            ([], {_logging.LOG_FORMAT_ENV: "yaml"}),
        ):
            result = await trio.run_process(
                [sys.executable, "-m", "roost", "serve", APP, "--data-dir", str(tmp_path), *args],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env={**os.environ, **env},
            )
            assert result.returncode == 2
            err = result.stderr.decode()
            assert err.count("\n") == 1 and "is not one of text, json" in err, err
    assert not os.listdir(tmp_path)  # nothing was opened


def record(message: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``message`` logged through a JSON handler, parsed back."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(_logging.formatter("json"))
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error(message, *args, **kwargs)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    line = out.getvalue()
    assert line.count("\n") == 1
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_json_fields_that_json_cannot_hold_still_make_one_json_line() -> None:
    entry = record("a\nb %s", "c", extra={"actor_type": "chat", "key": "k\n", "obj": object()})
    assert (entry["message"], entry["actor_type"], entry["key"]) == ("a\nb c", "chat", "k\n")
    assert entry["obj"].startswith("<object object")
    odd = record("x", extra={"nan": float("nan"), "by_tuple": {(1, 2): 3}})
    assert odd["nan"] == "nan" and odd["by_tuple"] == "{(1, 2): 3}"
    try:
        raise ValueError("inner")
    except ValueError:
        failed = record("failed", exc_info=True)
    assert failed["exc"].startswith("Traceback") and "ValueError: inner" in failed["exc"]
    assert "exc" not in record("fine")


@pytest.mark.parametrize("raw", ["xml", "", "JSONL"])
def test_an_unknown_log_format_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="is not one of text, json"):
        _logging.parse_log_format(raw)
    assert _logging.parse_log_format(" JSON ") == "json"


def test_the_supervisor_can_set_logging_up_with_the_standard_library_only() -> None:
    code = "import sys, roost._logging; print(sorted(m for m in sys.modules if m[:6] == 'roost.'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['roost._logging', 'roost._version']"
