"""A connection's failure is that connection's: the server logs it and serves everyone else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_websocket

from roost import Actor, App, Connection, RpcError, rpc
from tests.support import connect, http, running


class Echo(Actor):
    @rpc
    async def echo(self, conn: Connection | None, value: Any = None) -> Any:
        return value

    @rpc
    async def unsendable_error(self, conn: Connection | None) -> None:
        raise RpcError("bad_request", "\ud800")  # a message outside the data model


def make_app() -> App:
    app = App()
    app.actor("echo", Echo)
    return app


async def test_a_failing_websocket_session_closes_1011_and_the_server_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A call whose error reply cannot be encoded: the session fails (a long message once did
    # too, but messages are clipped now: tests/runtime/test_error_reply_size.py).
    call = {"type": "call", "id": 1, "method": "unsendable_error"}
    with trio.fail_after(20):
        async with running(make_app(), tmp_path) as server:
            async with connect(server, "/echo/k", subprotocols=["roost.v1.json"]) as ws:
                await ws.send_message(json.dumps(call, separators=(",", ":")))
                with pytest.raises(trio_websocket.ConnectionClosed) as info:
                    await ws.get_message()
                assert info.value.reason.code == 1011
                assert info.value.reason.reason == "internal error"
            async with connect(server, "/echo/k", subprotocols=["roost.v1.json"]) as ws:
                await ws.send_message('{"type":"call","id":2,"method":"echo","args":{"value":3}}')
                assert json.loads(await ws.get_message())["value"] == 3
            assert (await http(server, "GET", "/_roost/health"))[0] == 200
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 1, "logged once"
