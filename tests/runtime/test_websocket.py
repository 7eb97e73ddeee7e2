"""G8 and the connection lifecycle: limits, close codes, slow and vanished peers, shutdown."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import ClassVar

import trio
import trio_websocket

from roost import Actor, App, Connection, Request
from roost.protocol import Opcode, encode_frame
from tests.support import connect, raw_websocket, running


class Room(Actor):
    """Broadcasts what it gets; records every close."""

    closes: ClassVar[list[tuple[str, int, str]]] = []
    closed: ClassVar[trio.Event]
    stops: ClassVar[int] = 0

    async def on_connect(self, conn: Connection, request: Request) -> None:
        conn.tags = {request.query.get("tag", "all")}

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if message == "close-me":
            conn.close(4000, "asked")
        elif isinstance(message, bytes) and message.startswith(b"bulk"):
            self.broadcast(message, exclude=(conn,))
        elif isinstance(message, str) and message.startswith("to-tag "):
            self.broadcast(message, tag=message.split()[1])
        else:
            self.broadcast(message)

    async def on_close(self, conn: Connection, code: int, reason: str) -> None:
        Room.closes.append((conn.id, code, reason))
        Room.closed.set()

    @classmethod
    async def wait_for_close(cls, code: int | None = None) -> None:
        """Wait until a close (with ``code``, if given) has been recorded."""
        while not any(code in (None, c) for _, c, _ in cls.closes):
            cls.closed = trio.Event()
            await cls.closed.wait()

    async def on_stop(self) -> None:
        Room.stops += 1


def make_app() -> App:
    Room.closes = []
    Room.closed = trio.Event()
    Room.stops = 0
    app = App()
    app.actor("room", Room)
    return app


def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A client frame built by hand, so that invalid frames can be built too."""
    mask = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        header = bytes([first, 0x80 | len(payload)])
    else:
        header = bytes([first, 0x80 | 126]) + struct.pack("!H", len(payload))
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + body


async def read_close(stream: trio.SocketStream) -> tuple[int, bytes]:
    """Read raw frames until a close frame; returns its code and reason."""
    buffer = b""
    while True:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise AssertionError("connection ended without a close frame")
        buffer += chunk
        while len(buffer) >= 2:
            length = buffer[1] & 0x7F
            header = 2
            if length == 126:
                (length,) = struct.unpack("!H", buffer[2:4])
                header = 4
            elif length == 127:
                (length,) = struct.unpack("!Q", buffer[2:10])
                header = 10
            if len(buffer) < header + length:
                break
            opcode, payload = buffer[0] & 0x0F, buffer[header : header + length]
            buffer = buffer[header + length :]
            if opcode == 8:
                return struct.unpack("!H", payload[:2])[0], payload[2:]


async def test_oversized_frame_closes_1009_and_the_room_goes_on(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, max_message_size=1024) as server:
            async with connect(server, "/room/r") as member:
                stream = await raw_websocket(server, "/room/r")
                # Only the header of a 10 MiB frame: refused before any payload is read.
                await stream.send_all(b"\x82\xff" + struct.pack("!Q", 10 << 20) + b"mask")
                code, reason = await read_close(stream)
                assert code == 1009 and b"1024" in reason
                await stream.aclose()
                await member.send_message("still fine")
                assert await member.get_message() == "still fine"
    assert any(code == 1009 for _, code, _ in Room.closes)


async def test_protocol_errors_get_their_close_codes(tmp_path: Path) -> None:
    cases = [
        (masked(1, b"\xff\xfe"), 1007),  # text that is not UTF-8
        (encode_frame(Opcode.TEXT, b"unmasked"), 1002),  # clients must mask
        (masked(9, b"x" * 126), 1002),  # control frame too long
        (masked(0, b"orphan"), 1002),  # continuation without a start
    ]
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            for frame, expected in cases:
                stream = await raw_websocket(server, "/room/r")
                await stream.send_all(frame)
                code, _ = await read_close(stream)
                assert code == expected
                await stream.aclose()
            async with connect(server, "/room/r") as ws:
                await ws.send_message("alive")
                assert await ws.get_message() == "alive"


async def test_pings_are_answered_and_messages_fragmented_or_binary_arrive(
    tmp_path: Path,
) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/room/r") as ws:
                await ws.ping(b"hi")  # waits for the matching pong
                await ws.send_message(b"\x00\x01binary")
                assert await ws.get_message() == b"\x00\x01binary"
            stream = await raw_websocket(server, "/room/r")
            await stream.send_all(masked(1, b"frag", fin=False) + masked(0, b"mented"))
            data = await stream.receive_some(100)
            assert data == b"\x81\x0afragmented"
            await stream.aclose()


async def test_tags_select_recipients(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            async with (
                connect(server, "/room/r?tag=red") as red,
                connect(server, "/room/r?tag=blue") as blue,
            ):
                await blue.send_message("to-tag red")
                assert await red.get_message() == "to-tag red"
                await blue.send_message("everyone")
                assert await blue.get_message() == "everyone"  # no "to-tag red" before it
                assert await red.get_message() == "everyone"


async def test_actor_closes_a_connection_and_on_close_runs_once(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/room/r") as ws:
                await ws.send_message("close-me")
                try:
                    await ws.get_message()
                except trio_websocket.ConnectionClosed as exc:
                    assert exc.reason.code == 4000 and exc.reason.reason == "asked"
            await Room.wait_for_close()
    assert [(code, reason) for _, code, reason in Room.closes] == [(4000, "asked")]


async def test_a_vanished_peer_is_closed_once_with_1006(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            stream = await raw_websocket(server, "/room/r")
            await stream.aclose()  # no close frame: the peer just goes
            async with connect(server, "/room/r") as ws:
                await Room.wait_for_close()
                await ws.send_message("others unaffected")
                assert await ws.get_message() == "others unaffected"
    assert [code for _, code, _ in Room.closes][:1] == [1006]
    assert len({conn_id for conn_id, _, _ in Room.closes}) == len(Room.closes)


async def test_a_silent_peer_is_pinged_then_cut(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with running(make_app(), tmp_path, ping_interval=20, ping_timeout=10) as server:
            stream = await raw_websocket(server, "/room/r")  # never answers pings
            async with connect(server, "/room/r") as alive:  # trio-websocket answers pings
                start = trio.current_time()
                await Room.wait_for_close()
                elapsed = trio.current_time() - start
                assert 30 <= elapsed <= 40, elapsed
                assert Room.closes[0][1:] == (1006, "keepalive timeout")
                await alive.send_message("still here")
                assert await alive.get_message() == "still here"
            await stream.aclose()


async def test_a_client_that_never_reads_is_cut_and_others_get_everything(
    tmp_path: Path,
) -> None:
    size = 16 * 1024  # 1,000 x 16 KiB: more than socket buffers and the 1 MiB queue hold
    with trio.fail_after(30):
        async with running(
            make_app(), tmp_path, max_outbound_bytes=1 << 20, close_timeout=1
        ) as server:
            stuck = await raw_websocket(server, "/room/r")
            async with connect(server, "/room/r") as reader, connect(server, "/room/r") as sender:
                got: list[bytes] = []
                # The sender keeps 16 messages (256 KiB) ahead of the reader at most: a reader
                # that keeps up must get everything, however stuck the third member is.
                window = trio.Semaphore(16)

                async def read_all() -> None:
                    with trio.fail_after(10):
                        for _ in range(1000):
                            got.append(await reader.get_message())
                            window.release()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(read_all)
                    for i in range(1000):
                        await window.acquire()
                        await sender.send_message(b"bulk%06d" % i + b"x" * size)
                assert [m[:10] for m in got] == [b"bulk%06d" % i for i in range(1000)]
                await Room.wait_for_close(1008)
                assert server.statistics().websockets == 2
            await stuck.aclose()
    assert [(c, r) for _, c, r in Room.closes if c == 1008] == [(1008, "slow consumer")]


async def test_graceful_shutdown_closes_with_1001(tmp_path: Path) -> None:
    seen: list[int] = []
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/room/r") as ws:
                await ws.send_message("hello")
                assert await ws.get_message() == "hello"
                await server.shutdown()
                try:
                    await ws.get_message()
                except trio_websocket.ConnectionClosed as exc:
                    seen.append(exc.reason.code)
    assert seen == [1001]
    assert [code for _, code, _ in Room.closes] == [1001]
    assert Room.stops == 1


async def test_idle_actors_stop_and_come_back(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(600):
        async with running(make_app(), tmp_path, idle_timeout=30) as server:
            async with connect(server, "/room/r") as ws:
                await ws.send_message("x")
                await ws.get_message()
            await trio.sleep(10)
            assert Room.stops == 0 and server.statistics().actors == 1
            await trio.sleep(40)
            assert Room.stops == 1 and server.statistics().actors == 0
            async with connect(server, "/room/r") as ws:
                await ws.send_message("back")
                assert await ws.get_message() == "back"
