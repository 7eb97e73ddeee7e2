"""Raw mode (no subprotocol): messages pass unchanged, against examples/relay.py and chat.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
import trio.testing

from roost import App, ConnectionClosed
from roost.client import connect

from .conftest import serving, url


async def test_relay_passes_text_and_binary(tmp_path: Path, relay_app: App) -> None:
    with trio.fail_after(10):
        async with serving(relay_app, tmp_path) as server:
            async with (
                connect(url(server, "/relay/room"), encoding="raw") as ann,
                connect(url(server, "/relay/room"), encoding="raw") as bob,
            ):
                assert ann.subprotocol is None
                await ann.send("hello ☃")
                await ann.send(b"\x00\xff" * 1000)
                assert await bob.receive() == "hello ☃"
                assert await bob.receive() == b"\x00\xff" * 1000
                await bob.send(bytearray(b"back"))  # any bytes-like value
                async for message in ann.messages():
                    assert message == b"back"
                    break
                with pytest.raises(RuntimeError, match="raw"):
                    await ann.call("say", text="no")
                with pytest.raises(RuntimeError, match="raw"):
                    await ann.receive_event()


async def test_raw_chat_client_speaks_the_app_protocol(tmp_path: Path, chat_app: App) -> None:
    with trio.fail_after(10):
        async with serving(chat_app, tmp_path) as server:
            async with connect(url(server, "/chat/lobby?user=ann"), encoding="raw") as ann:
                history = json.loads(await ann.receive())
                assert history == {"type": "history", "messages": []}
                assert json.loads(await ann.receive())["type"] == "presence_state"
                await ann.send(json.dumps({"type": "say", "text": "raw hi"}))
                message = json.loads(await ann.receive())
                assert (message["type"], message["text"]) == ("message", "raw hi")
            with pytest.raises(ConnectionClosed):
                await ann.receive()


async def test_backpressure_keeps_every_message(tmp_path: Path, relay_app: App) -> None:
    with trio.fail_after(10):
        async with serving(relay_app, tmp_path) as server:
            async with (
                connect(url(server, "/relay/room"), encoding="raw") as ann,
                connect(url(server, "/relay/room"), encoding="raw", max_pending_messages=2) as bob,
            ):
                for i in range(50):
                    await ann.send(str(i))
                while bob.statistics().messages_buffered < 2:  # bob reads nothing meanwhile
                    await trio.testing.wait_all_tasks_blocked()
                assert [await bob.receive() for _ in range(50)] == [str(i) for i in range(50)]
