"""The test kit's client against a scripted server that misbehaves, which a real roost server
never does: it must act as roost.client does over the same core (tests/client/test_wire.py)."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import h11
import trio

from roost._test_client import TestClient
from roost.protocol import (
    CloseReceived,
    FrameDecoder,
    Pong,
    accept_headers,
    check_upgrade,
    encode_close,
    encode_ping,
    encode_text,
)

Script = Callable[[trio.SocketStream, FrameDecoder], Awaitable[None]]


async def run_scripted(
    script: Script, client_task: Callable[[TestClient], Awaitable[None]]
) -> None:
    """Connect a TestClient to ``script`` (after a valid handshake) over a socket pair."""
    ours, theirs = socket.socketpair()
    server_stream = trio.SocketStream(trio.socket.from_stdlib_socket(theirs))

    async def serve() -> None:
        async with server_stream:
            http = h11.Connection(h11.SERVER)
            event = http.next_event()
            while event is h11.NEED_DATA:
                http.receive_data(await server_stream.receive_some(65536))
                event = http.next_event()
            assert isinstance(event, h11.Request)
            request = check_upgrade(event.method, event.headers)
            response = h11.InformationalResponse(status_code=101, headers=accept_headers(request))
            await server_stream.send_all(http.send(response))
            decoder = FrameDecoder()  # the server side: client frames must be masked
            decoder.receive_data(bytes(http.trailing_data[0]))
            await script(server_stream, decoder)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        client = TestClient(
            "/x/y",
            open_stream=lambda: trio.SocketStream(trio.socket.from_stdlib_socket(ours)),
            nursery=lambda: nursery,
            close_timeout=1,
            subprotocols=(),
            max_message_size=1 << 20,
            max_buffered=16,
        )
        await client
        await client_task(client)


async def frames(stream: trio.SocketStream, decoder: FrameDecoder) -> list[object]:
    """Every frame the client sends until its close frame or the end of the stream."""
    seen: list[object] = []
    while not any(isinstance(frame, CloseReceived) for frame in seen):
        data = await stream.receive_some(65536)
        if not data:
            break
        seen += decoder.receive_data(data)
    return seen


async def test_a_server_breaking_the_protocol_gets_1002_after_its_messages() -> None:
    seen: list[object] = []

    async def broken(stream: trio.SocketStream, decoder: FrameDecoder) -> None:
        # A ping, a message and a masked frame (servers must not mask) in one write.
        await stream.send_all(
            encode_ping(b"p") + encode_text("before") + encode_text("x", mask=b"abcd")
        )
        seen.extend(await frames(stream, decoder))

    async def client_side(client: TestClient) -> None:
        assert await client.receive() == "before"
        await client.wait_closed()
        assert client.closed_code == 1002
        assert client.closed_reason == "server broke the protocol: server frame is masked"

    with trio.fail_after(10):
        await run_scripted(broken, client_side)
    # The pong was owed first; the client's close tells a broken server only the code.
    assert seen == [Pong(b"p"), CloseReceived(1002, "")]


async def test_the_servers_close_is_echoed_with_its_code() -> None:
    seen: list[object] = []

    async def closing(stream: trio.SocketStream, decoder: FrameDecoder) -> None:
        await stream.send_all(encode_text("last") + encode_close(4001, "done"))
        seen.extend(await frames(stream, decoder))

    async def client_side(client: TestClient) -> None:
        assert await client.receive() == "last"
        await client.wait_closed()
        assert (client.closed_code, client.closed_reason) == (4001, "done")

    with trio.fail_after(10):
        await run_scripted(closing, client_side)
    assert seen == [CloseReceived(4001, "")]
