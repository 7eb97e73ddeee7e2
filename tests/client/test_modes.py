"""conn.send is raw mode: on an envelope connection it raises ConnectionModeError in the actor,
which is logged, and the connection stays open (it is never sent a frame it cannot parse)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio

import roost.client
from roost import Actor, App, Connection, RpcError, rpc
from roost.actors import ConnectionModeError
from roost.client import ClientState, Event

from .conftest import serving, url


class Mixed(Actor):
    """Sends raw frames and events to whoever calls."""

    @rpc
    async def raw(self, conn: Connection | None, text: str) -> str:
        assert conn is not None
        conn.send(text)
        return "sent"

    @rpc
    async def careful(self, conn: Connection | None, text: str) -> str:
        assert conn is not None
        try:
            conn.send(text)
        except ConnectionModeError as exc:
            self.emit("note", text, to=conn)
            return str(exc)
        return "sent"

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send(message)  # raw mode: an echo


@pytest.fixture
def mixed_app() -> App:
    app = App()
    app.actor("mixed", Mixed)
    return app


@pytest.mark.parametrize("encoding", ["cbor", "json"])
async def test_raw_send_on_an_envelope_connection_raises_and_is_logged(
    tmp_path: Path, mixed_app: App, encoding: str, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(10):
        async with serving(mixed_app, tmp_path) as server:
            target = url(server, "/mixed/m")
            async with roost.client.connect(target, encoding=encoding) as actor:  # type: ignore[arg-type]
                with pytest.raises(RpcError) as failed:
                    await actor.call("raw", text="hello")
                assert failed.value.code == "internal"
                message = await actor.call("careful", text="hi")
                assert "envelope" in message and "emit" in message
                assert await actor.receive_event() == Event("note", "hi")
                assert actor.state is ClientState.OPEN
            async with roost.client.connect(target, encoding="raw") as raw:
                await raw.send("echo")
                assert await raw.receive() == "echo"
    logged = [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]
    assert len(logged) == 1
    assert isinstance(logged[0].exc_info[1], ConnectionModeError)  # type: ignore[index]
