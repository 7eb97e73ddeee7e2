"""Actor.after_commit: callbacks that run after the turn's commit, in order with its frames."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import trio

from roost import Actor, App, Connection
from roost.protocol import FrameDecoder, Opcode, encode_frame
from tests.support import connect, raw_websocket, running


class Coalescing(Actor):
    """Sends one frame per message, and "<n> after" from a callback once the turn committed."""

    async def on_start(self) -> None:
        self.pending: list[str] = []

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        assert isinstance(message, str)
        if message == "outside":  # a callback registered outside a turn runs at once
            return self.after_commit(lambda: None)
        self.storage.kv.put(message, 1)
        conn.send(f"before {message}")
        self.pending.append(message)
        self.after_commit(lambda: self._flush(conn))
        if message == "fail":
            raise RuntimeError("the turn fails after registering its callback")
        if message == "bad-callback":
            self.after_commit(self._explode)

    def _flush(self, conn: Connection) -> None:
        pending, self.pending = self.pending, []
        if pending:
            # Committed already: the stored values are there for whoever reads them now.
            assert all(self.storage.kv.get(name) == 1 for name in pending if name != "fail")
            conn.send(f"after {','.join(pending)}")

    def _explode(self) -> None:
        raise ValueError("a broken callback")


def make_app() -> App:
    app = App()
    app.actor("c", Coalescing)
    return app


async def test_callbacks_run_after_the_commit_behind_earlier_frames(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server, connect(server, "/c/k") as ws:
            await ws.send_message("a")
            assert await ws.get_message() == "before a"
            assert await ws.get_message() == "after a"

            # A turn that raises drops its callback with its frames; the next one's callback
            # sends what is pending (here also the failed turn's entry, which the actor keeps).
            await ws.send_message("fail")
            await ws.send_message("b")
            assert await ws.get_message() == "before b"
            assert await ws.get_message() == "after fail,b"

            # A callback that raises is logged; the turn's other output still leaves.
            with caplog.at_level(logging.ERROR, logger="roost.actor"):
                await ws.send_message("bad-callback")
                assert await ws.get_message() == "before bad-callback"
                assert await ws.get_message() == "after bad-callback"
                await ws.send_message("c")
                assert await ws.get_message() == "before c"
                assert await ws.get_message() == "after c"
            assert "after_commit callback of c/k failed" in caplog.text
            assert server.statistics().actors == 1


async def test_turns_sharing_a_commit_share_one_callback_run(
    tmp_path: Path, threaded_autojump_clock: trio.abc.Clock
) -> None:
    burst = b"".join(  # one write: the server reads all 20 frames in one pass
        encode_frame(Opcode.TEXT, f"m{i}".encode(), mask=os.urandom(4)) for i in range(20)
    )
    with trio.fail_after(60):
        async with running(make_app(), tmp_path) as server:
            stream = await raw_websocket(server, "/c/burst")
            async with stream:
                await stream.send_all(burst)
                decoder, received, done = FrameDecoder(client=True), [], []
                while len(done) < 20:
                    for event in decoder.receive_data(await stream.receive_some(65536)):
                        message = event.data  # type: ignore[union-attr]
                        received.append(message)
                        if message.startswith("after "):
                            done += message.removeprefix("after ").split(",")
    assert done == [f"m{i}" for i in range(20)]
    # The turns shared one commit: the first turn's callback, at its place behind that turn's
    # frame, sent what all of them left; the later callbacks found nothing left to send.
    after = "after " + ",".join(done)
    assert received == ["before m0", after] + [f"before m{i}" for i in range(1, 20)]
