"""Issue 11 point 15: the close code of a violation reaches a client that is still sending.

Closing the socket right after the close frame, with the client's bytes unread, makes the
kernel reset the connection; the client, busy sending, then never reads the close frame. The
server now half-closes and drains (bounded) until the client's EOF, so the code survives.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import trio
import trio_websocket

from roost import Actor, App, Connection
from roost.protocol import Opcode, encode_frame
from tests.support import connect, raw_websocket, running

from .wire import read_until_close


class Sink(Actor):
    closes: list[int] = []

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        pass

    async def on_close(self, conn: Connection, code: int, reason: str) -> None:
        Sink.closes.append(code)


def sink_app() -> App:
    Sink.closes = []
    app = App()
    app.actor("sink", Sink)
    return app


async def test_a_20_mib_message_gets_1009_not_a_reset(tmp_path: Path) -> None:
    """A client writes a 20 MiB frame in one go to a server whose limit is 1 MiB, then reads.
    Every try, the whole write succeeds (no broken pipe or reset: the server drained it), the
    client reads close code 1009, and then a clean EOF. Before the fix the server closed with
    the bytes unread, so the kernel reset the connection and the client's write failed: a
    client library gives up there and reports 1006, never reading the close frame."""
    frame = encode_frame(Opcode.BINARY, b"\x00" * (20 << 20), mask=b"\x01\x02\x03\x04")
    with trio.fail_after(60):
        async with running(sink_app(), tmp_path) as server:
            for _ in range(4):
                stream = await raw_websocket(server, "/sink/s")
                await stream.send_all(frame)  # BrokenResourceError before the fix
                _, close, ended = await read_until_close(stream)
                assert close.code == 1009 and ended
                await stream.aclose()
    assert Sink.closes == [1009] * 4


async def test_a_websocket_client_sending_20_mib_learns_1009(tmp_path: Path) -> None:
    """The same with a real client library (trio-websocket): its send completes and the
    connection ends with the server's 1009, not with 1006 (connection lost)."""
    with trio.fail_after(60):
        async with running(sink_app(), tmp_path) as server:
            for _ in range(4):
                async with connect(server, "/sink/s") as ws:
                    with pytest.raises(trio_websocket.ConnectionClosed) as info:
                        await ws.send_message(b"\x00" * (20 << 20))
                        await ws.get_message()
                    assert info.value.reason.code == 1009


async def test_a_bad_frame_then_more_data_gets_1002_and_a_clean_end(tmp_path: Path) -> None:
    """A frame with a reserved opcode followed by 2 MiB more in the same write: the client
    reads close code 1002 and then EOF (the server drained, it did not reset)."""
    bad = bytes((0x83, 0x80)) + b"mask"
    rest = encode_frame(Opcode.BINARY, b"\x00" * (2 << 20), mask=b"\x01\x02\x03\x04")
    with trio.fail_after(30):
        async with running(sink_app(), tmp_path) as server:
            for _ in range(4):
                stream = await raw_websocket(server, "/sink/s")
                await stream.send_all(bad + rest)
                _, close, ended = await read_until_close(stream)
                assert close.code == 1002 and ended
                await stream.aclose()


async def test_a_client_that_keeps_sending_is_cut_after_close_timeout(tmp_path: Path) -> None:
    """The drain is bounded in time: a client sending forever after its 1009 is cut once
    close_timeout has passed, and the server does not wait for it any longer."""
    header = b"\x82\xff" + struct.pack("!Q", 1 << 40) + b"mask"  # refused from the header
    with trio.fail_after(30):
        async with running(sink_app(), tmp_path, close_timeout=0.5) as server:
            stream = await raw_websocket(server, "/sink/s")
            await stream.send_all(header)
            started = trio.current_time()
            try:
                while trio.current_time() - started < 20:
                    await stream.send_all(b"\x00" * 65536)
            except trio.BrokenResourceError:
                pass
            assert trio.current_time() - started < 5
            await stream.aclose()
    assert Sink.closes == [1009]
