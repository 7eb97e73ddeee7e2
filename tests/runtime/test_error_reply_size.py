"""An error reply that repeats client text is shortened so it always fits (issue 12).

A call whose method name is nearly the whole 1 MiB message limit once got a ``not_found``
reply repeating the name, over the limit: encoding it failed and the connection closed with
1011. Now the echoed text is cut and the connection stays open.
"""

from __future__ import annotations

import json
from pathlib import Path

import cbor2
import pytest
import trio

from roost import Actor, App, Connection, RpcError, rpc
from tests.support import connect, http, running

LIMIT = 1 << 20


class Echo(Actor):
    @rpc
    async def echo(self, conn: Connection | None, text: str) -> str:
        return text

    @rpc
    async def shout(self, conn: Connection | None, text: str) -> str:
        raise RpcError("bad_request", text)  # an actor echoing client text in its error


def make_app() -> App:
    app = App()
    app.actor("echo", Echo)
    return app


def encode(kind: str, envelope: dict[str, object]) -> str | bytes:
    return json.dumps(envelope) if kind == "json" else cbor2.dumps(envelope)


def decode(kind: str, message: str | bytes) -> dict[str, object]:
    value = json.loads(message) if kind == "json" else cbor2.loads(message)
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("kind", ["json", "cbor"])
async def test_a_huge_method_name_gets_a_short_not_found_and_the_connection_stays(
    tmp_path: Path, kind: str
) -> None:
    method = "m" * (LIMIT - 200)  # the call fits in the limit; an echo of it would not
    with trio.fail_after(30):
        async with running(make_app(), tmp_path, max_message_size=LIMIT) as server:
            async with connect(server, "/echo/a", subprotocols=[f"roost.v1.{kind}"]) as ws:
                call = encode(kind, {"type": "call", "id": 1, "method": method, "args": {}})
                assert len(call) <= LIMIT
                await ws.send_message(call)
                reply = decode(kind, await ws.get_message())
                assert (reply["type"], reply["id"], reply["code"]) == ("error", 1, "not_found")
                assert isinstance(reply["message"], str) and len(reply["message"]) < 300
                # The actor's own error repeating a huge argument is cut the same way.
                text = "t" * (LIMIT - 200)
                shout = {"type": "call", "id": 2, "method": "shout", "args": {"text": text}}
                await ws.send_message(encode(kind, shout))
                reply = decode(kind, await ws.get_message())
                assert (reply["id"], reply["code"]) == (2, "bad_request")
                assert isinstance(reply["message"], str) and len(reply["message"]) < 300
                # Still open and serving.
                call = {"type": "call", "id": 3, "method": "echo", "args": {"text": "hi"}}
                await ws.send_message(encode(kind, call))
                assert decode(kind, await ws.get_message()) == {
                    "type": "result",
                    "id": 3,
                    "value": "hi",
                }


async def test_an_http_not_found_does_not_repeat_a_long_method_name(tmp_path: Path) -> None:
    method = "m" * 4000
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            status, _, body = await http(
                server,
                "POST",
                f"/echo/a/rpc/{method}",
                body=b"{}",
                headers=[("content-type", "application/json")],
            )
            assert status == 404
            error = json.loads(body)["error"]
            assert error["code"] == "not_found" and len(error["message"]) < 300
