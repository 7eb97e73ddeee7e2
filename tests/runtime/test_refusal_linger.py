"""An HTTP refusal sent while the client is still sending reaches the client (issue 11).

Closing a socket with unread bytes makes the kernel answer with a reset, which can destroy
the refusal before the client reads it. So the server half-closes behind its answer and
drains what the client still sends (bounded in time and bytes) until the client's EOF.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import trio

from roost import Actor, App, Connection, rpc
from tests.support import running

BODY = 20 << 20  # 20 MiB against the 1 MiB default limit
CHUNK = 256 << 10


class Echo(Actor):
    @rpc
    async def echo(self, conn: Connection | None, value: object = None) -> object:
        return value


def make_app() -> App:
    app = App()
    app.actor("echo", Echo)
    return app


async def send_then_read(port: int, head: bytes, body_size: int) -> bytes:
    """Send ``head`` and ``body_size`` more bytes, then read the answer until EOF.

    The way ``http.client`` and most simple clients work: the whole request first. If the
    server reset the connection, the send fails or the read does, and nothing is read.
    """
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    received = bytearray()
    async with stream:
        try:
            await stream.send_all(head)
            chunk = b"x" * CHUNK
            for _ in range(body_size // CHUNK):
                await stream.send_all(chunk)
            while piece := await stream.receive_some(65536):
                received.extend(piece)
        except trio.BrokenResourceError as exc:
            return b"reset: " + repr(exc.__cause__).encode()
    return bytes(received)


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_20_mib_rpc_body_reads_its_413_every_time(tmp_path: Path, chunked: bool) -> None:
    framing = (
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % (BODY - 64)
        if chunked
        else b"Content-Length: %d\r\n\r\n" % BODY
    )
    head = b"POST /echo/k/rpc/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server:
            assert server.port is not None
            for attempt in range(4):
                reply = await send_then_read(server.port, head + framing, BODY)
                assert reply.startswith(b"HTTP/1.1 413 "), (attempt, reply[:60])
                assert reply.endswith(b'"too_large","message":"request body too large"}}')


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        (b"X-Big: " + b"a" * 20000 + b"\r\n", b"431"),
        (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"400"),
    ],
)
async def test_a_refused_head_is_read_although_the_client_goes_on_sending(
    tmp_path: Path, extra: bytes, status: bytes
) -> None:
    head = b"POST /echo/k/page HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server:
            assert server.port is not None
            for attempt in range(4):
                reply = await send_then_read(server.port, head, 8 << 20)
                assert reply.startswith(b"HTTP/1.1 " + status + b" "), (attempt, reply[:60])


async def test_the_drain_is_bounded_by_close_timeout(tmp_path: Path) -> None:
    """A client that sends forever and never closes is cut after close_timeout."""
    head = b"POST /echo/k/rpc/echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % BODY
    with trio.fail_after(30):
        async with running(make_app(), tmp_path, close_timeout=1.0) as server:
            assert server.port is not None
            sock = socket.create_connection(("127.0.0.1", server.port))
            client = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
            async with client:
                start = trio.current_time()
                received = b""

                async def flood() -> None:
                    try:
                        await client.send_all(head)
                        while True:
                            await client.send_all(b"x" * CHUNK)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        pass

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(flood)
                    with trio.move_on_after(20):
                        try:
                            while piece := await client.receive_some(65536):
                                received += piece
                        except trio.BrokenResourceError:
                            pass
                        # EOF came (the half-close); keep sending until the server cuts.
                        while trio.current_time() - start < 20:
                            if server.statistics().connections == 0:
                                break
                            await trio.sleep(0.05)
                    nursery.cancel_scope.cancel()
                assert received.startswith(b"HTTP/1.1 413 ")
                assert server.statistics().connections == 0
                assert trio.current_time() - start < 10
