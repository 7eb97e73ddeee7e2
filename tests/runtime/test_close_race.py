"""The actor closes while the client's close is already read (issue 13, the server on the core).

The server's reader decodes a whole read at once, so the client's close frame can be in the
connection core before the turns of the messages in front of it have run. When one of those
turns closes the connection, the actor's code and reason are what the client receives and what
``on_close`` reports, as before the core: the echo the core had queued is superseded.
"""

from __future__ import annotations

from pathlib import Path

import trio

from roost import Actor, App, Connection
from roost.protocol import FrameDecoder, Pong, encode_close, encode_ping, encode_text
from tests.support import raw_websocket, running

from .wire import read_until_close

MASK = b"\x01\x02\x03\x04"


class Closer(Actor):
    closed: list[tuple[int, str]] = []
    done = trio.Event()

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if message == "close me":
            conn.close(4001, "bye")
        else:
            conn.send(message)

    async def on_close(self, conn: Connection, code: int, reason: str) -> None:
        Closer.closed.append((code, reason))
        Closer.done.set()


def closer_app() -> App:
    Closer.closed, Closer.done = [], trio.Event()
    app = App()
    app.actor("closer", Closer)
    return app


async def test_the_actors_close_beats_the_echo_of_a_close_read_in_the_same_batch(
    tmp_path: Path,
) -> None:
    wire = encode_text("hi", mask=MASK) + encode_text("close me", mask=MASK)
    wire += encode_text("after", mask=MASK) + encode_close(1000, mask=MASK)
    with trio.fail_after(20):
        async with running(closer_app(), tmp_path) as server:
            stream = await raw_websocket(server, "/closer/k")
            await stream.send_all(wire)  # one write: the server reads it as one batch
            received, close, _ = await read_until_close(stream)
            await stream.aclose()
            assert received == ["hi"]  # nothing after the actor's close
            assert (close.code, close.reason) == (4001, "bye")
            await Closer.done.wait()
    assert Closer.closed == [(4001, "bye")]


async def test_a_ping_read_with_a_close_is_answered_before_the_echo(tmp_path: Path) -> None:
    """Bad input beside it: pings after the close are ignored, a ping before it is answered."""
    wire = encode_ping(b"1", mask=MASK) + encode_close(4000, "done", mask=MASK)
    wire += encode_ping(b"2", mask=MASK) + encode_text("late", mask=MASK)
    with trio.fail_after(20):
        async with running(closer_app(), tmp_path) as server:
            stream = await raw_websocket(server, "/closer/k")
            await stream.send_all(wire)
            decoder, events = FrameDecoder(client=True), []
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    break
                events += decoder.receive_data(data)
            await stream.aclose()
            assert events[0] == Pong(b"1")
            assert [type(e).__name__ for e in events] == ["Pong", "CloseReceived"]
            assert events[1].code == 4000  # type: ignore[union-attr]
            await Closer.done.wait()
    assert Closer.closed == [(4000, "done")]
