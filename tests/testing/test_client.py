"""TestClient: a real WebSocket client over a socket pair, with the protocol's corner cases."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
import trio
import trio.testing

from roost import Actor, App, Connection, ConnectionClosed, ConnectionRefused, Request
from roost.protocol import Opcode, encode_frame, encode_text
from roost.testing import TestClientRefused, TestServer


class Echo(Actor):
    """Echoes messages; a few text commands make it misbehave on purpose."""

    closes: ClassVar[list[tuple[int, str]]] = []

    async def on_connect(self, conn: Connection, request: Request) -> None:
        if "refuse" in request.query:
            raise ConnectionRefused("not today", status=403)
        if "crash" in request.query:
            raise RuntimeError("a secret detail")

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if message == "key":
            conn.send(self.key)
        elif message == "bye":
            conn.close(4000, "bye")
        elif message == "done":
            conn.close(1000)
        elif isinstance(message, str) and message.startswith("many "):
            for i in range(int(message[5:])):
                conn.send(str(i))
        else:
            conn.send(message)

    async def on_close(self, conn: Connection, code: int, reason: str) -> None:
        Echo.closes.append((code, reason))


@pytest.fixture
def app() -> App:
    Echo.closes = []
    app = App()
    app.actor("echo", Echo)
    return app


async def test_text_binary_and_json(app: App) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t, t.connect("/echo/a") as client:
            await client.send("héllo")
            assert await client.receive() == "héllo"
            await client.send(b"\x00\xff")
            assert await client.receive() == b"\x00\xff"
            await client.send_json({"a": [1, "☃"]})
            assert await client.receive_json() == {"a": [1, "☃"]}
            await client.send("x" * 100_000)  # a 64-bit length header, masked
            assert await client.receive() == "x" * 100_000
            await client.ping()
            assert client.subprotocol is None and not client.closed
        assert client.closed_code == 1000 and client.closed
    assert Echo.closes == [(1000, "")]


async def test_await_or_async_with(app: App) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t:
            client = await t.connect("/echo/ü ber")  # non-ASCII is percent-encoded
            await client.send("key")
            assert await client.receive() == "ü ber"
            await client.close(4001, "leaving")
            assert (client.closed_code, client.closed_reason) == (4001, "")  # the echo
            unopened = t.connect("/echo/a")
            with pytest.raises(RuntimeError, match="not connected"):
                await unopened.send("x")
            left_open = await t.connect("/echo/a")
        assert left_open.closed_code == 1001  # the test server shut down gracefully
    assert sorted(Echo.closes) == [(1001, "server shutting down"), (4001, "leaving")]


async def test_refusals_carry_status_and_body(app: App) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t:
            cases = [
                ("/echo/a?refuse", 403, b"not today\n"),
                ("/echo/a?crash", 500, b"internal error\n"),  # no detail leaks
                ("/nothing/a", 404, b"no actor type serves this path\n"),
            ]
            for path, status, body in cases:
                with pytest.raises(TestClientRefused) as refused:
                    await t.connect(path)
                assert (refused.value.status, refused.value.body) == (status, body)
                assert str(status) in str(refused.value)


async def test_server_close_is_seen_after_the_messages_before_it(app: App) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t, t.connect("/echo/a") as client:
            await client.send("many 2")
            await client.send("bye")
            assert [await client.receive(), await client.receive()] == ["0", "1"]
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive()
            assert (closed.value.code, closed.value.reason) == (4000, "bye")
            await client.wait_closed()
            with pytest.raises(ConnectionClosed):
                await client.send("too late")
            with pytest.raises(ConnectionClosed):
                await client.ping()
    assert Echo.closes == [(4000, "bye")]


async def test_async_for_ends_quietly_on_a_normal_close_only(app: App) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t:
            async with t.connect("/echo/a") as client:
                await client.send("many 3")
                await client.send("done")
                assert [m async for m in client] == ["0", "1", "2"]
            async with t.connect("/echo/a") as client:
                await client.send("many 1")
                await client.send("bye")
                received = []
                with pytest.raises(ConnectionClosed) as closed:
                    async for message in client:
                        received.append(message)
                assert received == ["0"] and closed.value.code == 4000


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (encode_text("not masked"), 1002),
        (encode_frame(Opcode.TEXT, b"\xff\xfe", mask=b"abcd"), 1007),
        # A masked binary frame declaring 2**40 bytes: refused from its header alone.
        (bytes([0x82, 0x80 | 127]) + (1 << 40).to_bytes(8, "big") + b"abcd", 1009),
        (bytes([0x80 | 3, 0x80]) + b"abcd", 1002),  # reserved opcode
    ],
)
async def test_malformed_frames_get_their_close_code(app: App, frame: bytes, code: int) -> None:
    with trio.fail_after(10):
        async with TestServer(app, max_message_size=1024) as t, t.connect("/echo/a") as client:
            await client.send_raw(frame)
            await client.wait_closed()
            assert client.closed_code == code
            with pytest.raises(ConnectionClosed) as closed:
                await client.receive()
            assert closed.value.code == code
    assert [c for c, _ in Echo.closes] == [code]


async def test_an_oversized_message_closes_with_1009(app: App) -> None:
    with trio.fail_after(10):
        async with TestServer(app, max_message_size=1024) as t, t.connect("/echo/a") as client:
            await client.send("y" * 1024)
            assert await client.receive() == "y" * 1024
            await client.send("y" * 1025)
            await client.wait_closed()
            assert client.closed_code == 1009


async def test_buffering_is_bounded_and_loses_nothing(app: App) -> None:
    with trio.fail_after(10):
        async with TestServer(app) as t, t.connect("/echo/a", max_buffered=2) as client:
            await client.send("many 50")
            await trio.testing.wait_all_tasks_blocked()
            assert client._messages.statistics().current_buffer_used <= 2
            assert [await client.receive() for _ in range(50)] == [str(i) for i in range(50)]


async def test_idle_clients_answer_keepalive_pings(
    app: App, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(7200):
        async with TestServer(app, ping_interval=5, ping_timeout=5) as t:
            async with t.connect("/echo/a") as client:
                await trio.sleep(3600)  # hundreds of server pings, each answered by the client
                await client.send(json.dumps("still here"))
                assert await client.receive_json() == "still here"
    assert Echo.closes == [(1000, "")]
