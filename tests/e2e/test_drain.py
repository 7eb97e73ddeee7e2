"""While a node drains (SIGTERM, a WebSocket slow to close), it still answers its probes.

operations.md promises that once a graceful shutdown has begun ``/_roost/ready`` answers 503
``{"status": "stopping"}`` and ``/_roost/health`` stays 200, so a load balancer takes the node
out of rotation instead of seeing resets. Everything else gets 503 with ``Connection: close``
and ``Retry-After``; keep-alive connections close after their current answer; the listeners
close when the drain ends. Real processes, real sockets: the point is a process's shutdown.
"""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import h11
import pytest
import trio

from tests.e2e.exposure import UPGRADE, ask, hold_upgrade
from tests.e2e.test_cli import start
from tests.support import EXAMPLES

SHUTDOWN_TIMEOUT = 6.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class KeepAlive:
    """One HTTP/1.1 connection used for several requests."""

    def __init__(self, stream: trio.SocketStream, port: int) -> None:
        self.stream, self.port = stream, port
        self.conn = h11.Connection(h11.CLIENT)

    async def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if self.conn.our_state is h11.DONE:
            self.conn.start_next_cycle()
        request = h11.Request(
            method="GET", target=path, headers=[("host", f"127.0.0.1:{self.port}")]
        )
        await self.stream.send_all(self.conn.send(request) + self.conn.send(h11.EndOfMessage()))
        status, headers, body = 0, {}, bytearray()
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return status, headers, bytes(body)

    async def closed_by_server(self) -> bool:
        return await self.stream.receive_some(1) == b""


@pytest.mark.parametrize("admin", [False, True], ids=["main-port", "admin-port"])
async def test_probes_are_answered_while_the_node_drains(tmp_path: Path, admin: bool) -> None:
    extra = ["--admin-port", str(free_port())] if admin else []
    with trio.fail_after(40):
        process, port = await start(
            [
                "serve",
                str(EXAMPLES / "relay.py"),
                "--data-dir",
                str(tmp_path),
                "--shutdown-timeout",
                str(SHUTDOWN_TIMEOUT),
                *extra,
            ],
            env={"ROOST_PORT": "0", "ROOST_HOST": "127.0.0.1"},
        )
        probes = int(extra[1]) if admin else port
        # A WebSocket that never answers the close: the drain lasts the whole timeout.
        status, ws = await hold_upgrade(port, "/relay/x")
        assert status == 101
        keep_alive = KeepAlive(await trio.open_tcp_stream("127.0.0.1", probes), probes)
        assert (await keep_alive.get("/_roost/ready"))[0] == 200
        idle = KeepAlive(await trio.open_tcp_stream("127.0.0.1", port), port)
        assert (await idle.get("/relay/x/page"))[0] == 405  # the actor has no on_request
        async with ws, keep_alive.stream, idle.stream:
            process.send_signal(signal.SIGTERM)
            assert (await ws.receive_some(1)) == b"\x88"  # our close frame: draining now
            started = trio.current_time()

            # A keep-alive connection idle when the drain began gets its answer, then EOF.
            status, headers, body = await keep_alive.get("/_roost/ready")
            assert (status, json.loads(body)) == (503, {"status": "stopping"})
            assert headers["connection"] == "close"
            assert await keep_alive.closed_by_server()
            # New connections: the probes answer as documented.
            status, _, body = await ask(probes, "GET", "/_roost/ready")
            assert (status, json.loads(body)) == (503, {"status": "stopping"})
            status, _, body = await ask(probes, "GET", "/_roost/health")
            assert (status, json.loads(body)) == (200, {"status": "stopping"})
            # Everything else: 503, closed, with a hint to retry (elsewhere).
            for method, path, headers_sent in [
                ("GET", "/relay/y/page", []),
                ("GET", "/relay/y", UPGRADE),
                ("POST", "/relay/y/rpc/anything", [("content-type", "application/json")]),
            ]:
                status, headers, _ = await ask(port, method, path, headers_sent)
                assert status == 503, (method, path)
                assert headers["connection"] == "close" and int(headers["retry-after"]) >= 1
            status, headers, _ = await idle.get("/relay/x/page")
            assert (status, headers["connection"]) == (503, "close")
            assert await idle.closed_by_server()
            assert trio.current_time() - started < SHUTDOWN_TIMEOUT - 1  # all during the drain

            # The drain ends (the WebSocket is cut), the listeners close, the process exits.
            assert await process.wait() == 0
        for listening in {port, probes}:
            with pytest.raises(OSError):
                await trio.open_tcp_stream("127.0.0.1", listening)
    assert not (tmp_path / "actors" / "relay").exists() or not list(
        (tmp_path / "actors" / "relay").rglob("y*")
    )
