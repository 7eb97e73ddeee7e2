"""What a real roost server does not show: replies out of order, keep-alive pings, server pings.

A scripted server on 127.0.0.1 speaks the handshake and frames with roost.protocol and h11.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import cbor2
import h11
import pytest
import trio
from trio.testing import MockClock

from roost import ConnectionClosed, HandshakeError
from roost.client import ClientState, Disconnected, connect
from roost.protocol import (
    Call,
    CloseReceived,
    EnvelopeCodec,
    FrameDecoder,
    Ping,
    Pong,
    Result,
    accept_headers,
    check_upgrade,
    encode_binary,
    encode_ping,
)

Script = Callable[["Peer"], Awaitable[None]]


class Peer:
    """The server side of one scripted connection."""

    def __init__(self, stream: trio.SocketStream, leftover: bytes) -> None:
        self.stream, self.decoder, self.codec = stream, FrameDecoder(), EnvelopeCodec("cbor")
        self.buffered: list[Any] = list(self.decoder.receive_data(leftover))

    async def next_frame(self) -> Any:
        while not self.buffered:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError
            self.buffered += self.decoder.receive_data(data)
        return self.buffered.pop(0)

    async def next_call(self) -> Call:
        frame = await self.next_frame()
        call = self.codec.decode(frame.data)
        assert isinstance(call, Call)
        return call

    async def reply(self, call_id: int, value: Any) -> None:
        payload = self.codec.encode(Result(call_id, value))
        assert isinstance(payload, bytes)
        await self.stream.send_all(encode_binary(payload))


async def scripted_server(
    nursery: trio.Nursery, scripts: list[Script], *, choose_subprotocol: bool = True
) -> int:
    """Serve the n-th connection with ``scripts[n]``; returns the port."""

    async def serve(stream: trio.SocketStream) -> None:
        script = scripts.pop(0)
        async with stream:
            http = h11.Connection(h11.SERVER)
            event = http.next_event()
            while event is h11.NEED_DATA:
                http.receive_data(await stream.receive_some(65536))
                event = http.next_event()
            assert isinstance(event, h11.Request)
            request = check_upgrade(event.method, event.headers)
            chosen = request.subprotocols[0] if choose_subprotocol else None
            headers = accept_headers(request, chosen)
            response = h11.InformationalResponse(status_code=101, headers=headers)
            await stream.send_all(http.send(response))
            try:
                await script(Peer(stream, bytes(http.trailing_data[0])))
            except EOFError:
                pass

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port: int = listeners[0].socket.getsockname()[1]
    nursery.start_soon(trio.serve_listeners, serve, listeners)
    return port


async def test_replies_are_matched_by_id_in_any_order(threaded_autojump_clock: MockClock) -> None:
    async def reverse(peer: Peer) -> None:
        calls = [await peer.next_call() for _ in range(3)]
        for call in reversed(calls):
            await peer.reply(call.id, call.args["n"] * 10)
        await peer.next_frame()  # the client's close

    results: dict[int, int] = {}
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            port = await scripted_server(nursery, [reverse])
            async with connect(f"ws://127.0.0.1:{port}/probe/p", close_timeout=1) as actor:

                async def call(n: int) -> None:
                    results[n] = await actor.call("times_ten", n=n)

                async with trio.open_nursery() as calls:
                    for n in (1, 2, 3):
                        calls.start_soon(call, n)
            nursery.cancel_scope.cancel()
    assert results == {1: 10, 2: 20, 3: 30}


async def test_a_silent_server_is_pinged_then_dropped(threaded_autojump_clock: MockClock) -> None:
    frames: list[Any] = []
    dropped_at: list[float] = []

    async def silent(peer: Peer) -> None:
        try:
            while True:
                frames.append(await peer.next_frame())  # never answers, not even pings
        finally:
            dropped_at.append(trio.current_time())

    async def lively(peer: Peer) -> None:
        await peer.stream.send_all(encode_ping(b"are you there"))
        frames = [await peer.next_frame(), await peer.next_frame()]  # the call may come first
        assert Pong(b"are you there") in frames
        (call,) = [peer.codec.decode(f.data) for f in frames if not isinstance(f, Pong)]
        assert isinstance(call, Call)
        await peer.reply(call.id, "fine")
        await peer.next_frame()

    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            port = await scripted_server(nursery, [silent, lively])
            async with connect(
                f"ws://127.0.0.1:{port}/probe/p", ping_interval=5, ping_timeout=3, close_timeout=1
            ) as actor:
                start = trio.current_time()
                with pytest.raises(Disconnected, match="keep-alive"):
                    await actor.call("how_are_you")  # no reply, then the connection is dropped
                assert await actor.call("how_are_you") == "fine"
                assert actor.statistics().connects == 2
            nursery.cancel_scope.cancel()
    assert isinstance(frames[0].data, bytes)  # the call, sent on the silent connection
    assert isinstance(frames[1], Ping)
    assert dropped_at[0] - start == 5 + 3  # ping_interval, then ping_timeout


async def test_what_the_server_must_not_send(threaded_autojump_clock: MockClock) -> None:
    closes: list[Any] = []

    async def sloppy(peer: Peer) -> None:
        call = await peer.next_call()
        await peer.stream.send_all(encode_binary(cbor2.dumps({"type": "hello", "id": call.id})))
        await peer.reply(call.id, "ok")  # the unknown envelope was ignored
        await peer.next_call()
        await peer.stream.send_all(encode_binary(b"\xff"))  # not CBOR
        closes.append(await peer.next_frame())

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            port = await scripted_server(nursery, [sloppy])
            async with connect(f"ws://127.0.0.1:{port}/probe/p") as actor:
                assert await actor.call("first") == "ok"
                with pytest.raises(ConnectionClosed) as closed:
                    await actor.call("second")
                assert closed.value.code == 1007
                assert actor.state is ClientState.CLOSED
            nursery.cancel_scope.cancel()
    assert closes == [CloseReceived(1007, "")]


async def test_an_envelope_client_needs_the_subprotocol(threaded_autojump_clock: MockClock) -> None:
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            port = await scripted_server(nursery, [Peer.next_frame], choose_subprotocol=False)
            with pytest.raises(HandshakeError, match=r"roost\.v1\.json"):
                async with connect(f"ws://127.0.0.1:{port}/probe/p", encoding="json"):
                    pass
            nursery.cancel_scope.cancel()
