"""Issue 12 point 6b: ``max_messages_per_second`` per connection (a token bucket, see _rate).

A client sending faster than the limit is closed with 1008 and logged once; another client of
the same actor, within the limit, is not disturbed (G8).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

from roost import Actor, App, Connection
from roost.protocol import FrameDecoder, encode_text
from roost.runtime._rate import MessageRate
from tests.support import connect, raw_websocket, running

from .wire import read_until_close

MASK = b"\x01\x02\x03\x04"


class Echo(Actor):
    received: list[str | bytes] = []

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        Echo.received.append(message)
        conn.send(message)


def echo_app() -> App:
    Echo.received = []
    app = App()
    app.actor("echo", Echo)
    return app


def test_the_bucket_holds_one_second_and_refills_at_the_rate() -> None:
    bucket = MessageRate(4, now=100.0)
    assert [bucket.take(100.0) for _ in range(5)] == [True] * 4 + [False]
    assert bucket.take(100.25)  # a quarter second brings one token back
    assert not bucket.take(100.25)
    assert [bucket.take(110.0) for _ in range(5)] == [True] * 4 + [False]  # never over 4
    slow = MessageRate(0.5, now=0.0)  # under one per second: the burst is one message
    assert slow.take(0.0) and not slow.take(1.0) and slow.take(2.0)
    with pytest.raises(ValueError):
        MessageRate(0, now=0.0)


async def test_a_flooding_client_gets_1008_and_a_calm_one_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rate 10: a flood of 50 messages in one write gets the first 10 (the burst) echoed, then
    close code 1008, with one warning logged; the other client, sending 5 messages, keeps
    its connection and gets all of them back."""
    flood = b"".join(encode_text(f"flood {i}", mask=MASK) for i in range(50))
    with trio.fail_after(20), caplog.at_level(logging.WARNING, logger="roost.websocket"):
        async with running(echo_app(), tmp_path, max_messages_per_second=10) as server:
            async with connect(server, "/echo/room") as calm:
                flooder = await raw_websocket(server, "/echo/room")
                await flooder.send_all(flood)
                echoed, close, _ = await read_until_close(flooder)
                assert close.code == 1008
                assert echoed == [f"flood {i}" for i in range(10)]
                await flooder.aclose()
                for i in range(5):
                    await calm.send_message(f"calm {i}")
                    assert await calm.get_message() == f"calm {i}"
            assert [m for m in Echo.received if str(m).startswith("flood")] == echoed
    warnings = [r for r in caplog.records if "messages per second" in r.getMessage()]
    assert len(warnings) == 1


async def test_no_limit_by_default(tmp_path: Path) -> None:
    flood = b"".join(encode_text(f"m {i}", mask=MASK) for i in range(500))
    with trio.fail_after(20):
        async with running(echo_app(), tmp_path) as server:
            stream = await raw_websocket(server, "/echo/room")
            await stream.send_all(flood + encode_text("done", mask=MASK))
            decoder, echoed = FrameDecoder(client=True), []
            while "done" not in echoed:
                data = await stream.receive_some(65536)
                assert data
                echoed += [e.data for e in decoder.receive_data(data)]  # type: ignore[union-attr]
            assert echoed == [f"m {i}" for i in range(500)] + ["done"]
            await stream.aclose()


async def test_a_limited_client_within_its_rate_is_never_closed(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """Sending at the limit for a long time (mock clock: 2 per second for 60 s) never closes."""
    with trio.fail_after(120):
        async with running(echo_app(), tmp_path, max_messages_per_second=2) as server:
            async with connect(server, "/echo/room") as ws:
                for i in range(120):
                    await ws.send_message(f"{i}")
                    assert await ws.get_message() == f"{i}"
                    await trio.sleep(0.5)
    assert len(Echo.received) == 120
