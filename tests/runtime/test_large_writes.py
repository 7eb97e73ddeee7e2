"""Issue 11 point 11: one frame or response bigger than ``max_outbound_bytes`` still goes out.

A slow consumer is judged by what it fails to read, not by the size of one message: a client
that reads gets a 6 MiB message or file although the queue limit is 4 MiB, while a client that
never reads is still cut without delaying anyone else (G8).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import trio

from roost import Actor, App, Connection, Request
from tests.support import connect, http, raw_websocket, running

BIG = 6 << 20  # over the default max_outbound_bytes (4 MiB)


class Document(Actor):
    """Sends a new client the whole (big) document, as a Yjs actor sends sync step 1."""

    closes: ClassVar[list[int]] = []
    cut: ClassVar[trio.Event]

    async def on_connect(self, conn: Connection, request: Request) -> None:
        if request.query.get("load") == "1":
            conn.send(b"D" * BIG)

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if message == "broadcast":
            self.broadcast(b"B" * BIG)
        else:
            self.broadcast(message)

    async def on_close(self, conn: Connection, code: int, reason: str) -> None:
        Document.closes.append(code)
        if code == 1008:
            Document.cut.set()


def make_app() -> App:
    Document.closes = []
    Document.cut = trio.Event()
    app = App()
    app.actor("doc", Document)
    return app


async def test_a_document_over_the_queue_limit_reaches_a_new_client(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/doc/d?load=1", max_message_size=BIG + 1) as ws:
                assert await ws.get_message() == b"D" * BIG
                await ws.send_message("still open")
                assert await ws.get_message() == "still open"
    assert 1008 not in Document.closes


async def test_a_big_broadcast_reaches_readers_and_a_mute_client_is_still_cut(
    tmp_path: Path,
) -> None:
    with trio.fail_after(30):
        async with running(make_app(), tmp_path, close_timeout=1) as server:
            mute = await raw_websocket(server, "/doc/d")  # never reads a byte
            async with (
                connect(server, "/doc/d", max_message_size=BIG + 1) as a,
                connect(server, "/doc/d", max_message_size=BIG + 1) as b,
            ):
                # Four 6 MiB frames: more than the mute client's kernel buffers and its
                # 4 MiB queue hold, so it is found behind and cut, while the readers get all.
                for _ in range(4):
                    await a.send_message("broadcast")
                    assert await a.get_message() == b"B" * BIG
                    assert await b.get_message() == b"B" * BIG
                await Document.cut.wait()
                assert server.statistics().websockets == 2
            await mute.aclose()


async def test_a_static_file_over_the_queue_limit_is_served_whole(tmp_path: Path) -> None:
    web = tmp_path / "web"
    web.mkdir()
    content = bytes(range(256)) * (BIG // 256)
    (web / "big.bin").write_bytes(content)
    app = make_app()
    app.static("/files/", web)
    with trio.fail_after(30):
        async with running(app, tmp_path / "data") as server:
            status, headers, body = await http(server, "GET", "/files/big.bin")
            assert status == 200
            assert headers["content-length"] == str(len(content))
            assert body == content
