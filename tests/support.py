"""Shared helpers: run a real server on 127.0.0.1 (port 0), talk to it with real clients."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn

import h11
import pytest
import trio
import trio_websocket

from roost import App, Server, ServerConfig

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@asynccontextmanager
async def running(app: App, data_dir: Path, **settings: Any) -> AsyncIterator[Server]:
    """A server for ``app`` on an ephemeral port, shut down gracefully on exit."""
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=data_dir, **settings)
    server = Server(app, config)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        try:
            yield server
        finally:
            with trio.CancelScope(shield=True):
                await server.shutdown()


def ws_url(server: Server, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


@asynccontextmanager
async def connect(
    server: Server, path: str, **kwargs: Any
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A real trio-websocket client connected to ``path`` on ``server``."""
    async with open_client(ws_url(server, path), **kwargs) as ws:
        yield ws


@asynccontextmanager
async def open_client(url: str, **kwargs: Any) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A real trio-websocket client connected to ``url``.

    trio-websocket 0.12's client leaves its TCP stream open when the server starts the close
    handshake (its reader stops at EOF without closing the stream), which the test suite's
    ResourceWarning check would report; so the stream is closed here once the client is done.
    """
    async with trio_websocket.open_websocket_url(url, **kwargs) as ws:
        try:
            yield ws
        finally:
            stream = ws._stream  # the upstream leak leaves no public way to reach it
    await stream.aclose()


async def http(
    server: Server,
    method: str,
    path: str | bytes,
    *,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request over a fresh TCP connection; returns (status, headers, body)."""
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        all_headers = [("host", "127.0.0.1"), ("content-length", str(len(body)))]
        all_headers += headers or []
        target = path if isinstance(path, bytes) else path.encode()
        data = conn.send(h11.Request(method=method, target=target, headers=all_headers))
        data += conn.send(h11.Data(data=body)) if body else b""
        data += conn.send(h11.EndOfMessage())
        await stream.send_all(data)
        status, response_headers, response_body = 0, {}, bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                response_headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                response_body += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return status, response_headers, bytes(response_body)


UPGRADE_HEADERS = [
    ("upgrade", "websocket"),
    ("connection", "Upgrade"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("sec-websocket-version", "13"),
]


async def refused_upgrade(server: Server, path: str) -> tuple[int, bytes]:
    """Status and body of an upgrade request the server refuses.

    trio-websocket's client leaks its socket when a handshake is rejected, so refusals are
    checked with a plain HTTP request carrying the upgrade headers.
    """
    status, _, body = await http(server, "GET", path, headers=UPGRADE_HEADERS)
    assert status != 101
    return status, body


def raw_upgrade_request(
    path: str, key: str = "dGhlIHNhbXBsZSBub25jZQ==", subprotocol: str | None = None
) -> bytes:
    extra = f"Sec-WebSocket-Protocol: {subprotocol}\r\n" if subprotocol else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"{extra}\r\n"
    ).encode()


async def raw_websocket(server: Server, path: str, subprotocol: str | None = None) -> socket.socket:
    """A blocking-free raw socket that completed the handshake and reads nothing more.

    Used to play clients that never read, or that vanish without a close frame.
    """
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(raw_upgrade_request(path, subprotocol=subprotocol))
    response = b""
    while b"\r\n\r\n" not in response:
        response += await stream.receive_some(1)  # byte by byte: leave frames unread
    assert response.startswith(b"HTTP/1.1 101"), response
    return stream  # type: ignore[return-value]


def missing_tool(tool: str, untested: str, require: str = "ROOST_REQUIRE_NODE") -> NoReturn:
    """Skip loudly because ``tool`` is not installed, or fail when ``$require`` is ``1`` (CI)."""
    reason = (
        f"!!! {tool.upper()} IS NOT INSTALLED: {untested} WAS NOT TESTED !!! "
        f"(install it; {require}=1 makes this a failure)"
    )
    if os.environ.get(require) == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def node_project(folder: Path, untested: str) -> str:
    """``node``'s path, once ``npm ci`` has installed ``folder``'s package-lock.json (if it had
    not yet). Skips (or fails, in CI) without Node or npm."""
    node = shutil.which("node")
    if node is None:
        missing_tool("node", untested)
    if not (folder / "node_modules" / ".package-lock.json").is_file():
        npm = shutil.which("npm")
        if npm is None:
            missing_tool("npm", untested)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"npm ci in {folder} failed:\n{done.stdout}\n{done.stderr}"
    return node
