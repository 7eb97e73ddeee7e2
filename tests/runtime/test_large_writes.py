"""Issue 11 point 11: one frame or response bigger than ``max_outbound_bytes`` still goes out.

A slow consumer is judged by what it fails to read, not by the size of one message: a client
that reads gets a 6 MiB message or file although the queue limit is 4 MiB, while a client that
never reads is still cut without delaying anyone else (G8).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import pycrdt
import trio

from roost import Actor, App, Connection, Request
from roost.actors.yjs import YjsActor
from roost.protocol.yjs import YKind, encode_sync_step1, encode_update, parse_message
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


async def test_a_yjs_document_over_the_queue_limit_loads_in_a_new_client(tmp_path: Path) -> None:
    """The issue's case: a 6 MiB Yjs document is accepted from one client, and a client that
    joins later gets all of it in its sync step 2 (before the fix: closed with 1008)."""
    app = App()
    app.actor("yjs", YjsActor)
    doc: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    doc.get("text", type=pycrdt.Text).insert(0, "y" * BIG)
    update = doc.get_update()
    with trio.fail_after(60):
        async with running(app, tmp_path, max_message_size=BIG + (1 << 20)) as server:
            async with connect(server, "/yjs/big") as author:
                await author.get_message()  # sync step 1
                await author.send_message(encode_update(update))
                await author.send_message(encode_sync_step1(doc.get_state()))
                assert parse_message(await author.get_message()).kind is YKind.SYNC_STEP2
            async with connect(server, "/yjs/big", max_message_size=2 * BIG) as reader:
                await reader.get_message()  # sync step 1
                await reader.send_message(encode_sync_step1(pycrdt.Doc().get_state()))
                step2 = parse_message(await reader.get_message())
                assert step2.kind is YKind.SYNC_STEP2
                loaded: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
                loaded.apply_update(step2.payload)
                assert len(str(loaded.get("text", type=pycrdt.Text))) == BIG


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


class _Signal(logging.Handler):
    """Sets a trio.Event when a record is logged (the server logs from the trio thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.logged = trio.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.logged.set()


async def test_an_http_client_that_does_not_read_is_cut_and_logged(tmp_path: Path) -> None:
    """Three pipelined requests for a 6 MiB file, none of the answers read: the second answer
    finds the first still queued past the limit, so the peer is cut, with a log line."""
    web = tmp_path / "web"
    web.mkdir()
    (web / "big.bin").write_bytes(b"z" * BIG)
    app = make_app()
    app.static("/files/", web)
    request = b"GET /files/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    signal = _Signal()
    logger = logging.getLogger("roost.transport")
    logger.addHandler(signal)
    logger.setLevel(logging.INFO)
    try:
        with trio.fail_after(30):
            async with running(app, tmp_path / "data") as server:
                stream = await trio.open_tcp_stream("127.0.0.1", server.port)
                await stream.send_all(request * 3)
                await signal.logged.wait()
                assert "slow consumer" in signal.messages[0]
                received = 0
                try:
                    while chunk := await stream.receive_some(1 << 20):
                        received += len(chunk)
                except trio.BrokenResourceError:
                    pass  # the cut may reset the connection
                assert received < 3 * BIG
                await stream.aclose()
    finally:
        logger.removeHandler(signal)
        logger.setLevel(logging.NOTSET)
