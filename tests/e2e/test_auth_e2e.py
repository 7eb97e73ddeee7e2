"""The authenticate hook over real sockets: the client's address as the socket saw it, and
credentials from roost's Python client (headers) and a browser-style query token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h11
import pytest
import trio

import roost.client
from roost import (
    Actor,
    App,
    Connection,
    HandshakeError,
    HttpCaller,
    Request,
    Response,
    rpc,
)
from tests.support import http, open_client, running, ws_url

TOKEN = "e2e-t0ken"


class Who(Actor):
    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send(json.dumps({"identity": conn.identity, "client": conn.client}))

    async def on_request(self, request: Request) -> Response:
        return Response.json({"identity": request.identity, "client": request.client})

    @rpc
    async def me(self, conn: Connection | HttpCaller | None) -> Any:
        assert conn is not None
        return {"identity": conn.identity, "client": conn.client}


async def authenticate(request: Request) -> Any:
    bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
    if TOKEN not in (bearer, request.query.get("token")):
        return None
    assert request.client is not None
    return {"user": "ann", "seen_from": request.client[0]}


def make_app() -> App:
    app = App()
    app.actor("who", Who)
    app.authenticate(authenticate)
    return app


IDENTITY = {"user": "ann", "seen_from": "127.0.0.1"}


async def test_python_client_headers_and_a_query_token(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running(make_app(), tmp_path) as server:
            url = ws_url(server, "/who/a")
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with roost.client.connect(url, headers=headers, reconnect=False) as actor:
                seen = await actor.call("me")
                assert seen["identity"] == IDENTITY
                host, port = seen["client"]
                assert host == "127.0.0.1" and isinstance(port, int) and port != server.port
            with pytest.raises(HandshakeError) as refused:
                async with roost.client.connect(url, reconnect=False):
                    pass
            assert refused.value.status == 401
            # A browser cannot set headers on a WebSocket: the token rides in the query.
            async with open_client(ws_url(server, f"/who/a?token={TOKEN}")) as ws:
                await ws.send_message("hi")
                seen = json.loads(await ws.get_message())
                assert seen["identity"] == IDENTITY
                assert seen["client"][0] == "127.0.0.1"
            assert server.statistics().activations_total == 1


async def test_request_client_is_the_socket_peer(tmp_path: Path) -> None:
    with trio.fail_after(20):
        async with running(make_app(), tmp_path) as server:
            for path in ("/who/a/page", "/who/a/rpc/me"):
                stream = await trio.open_tcp_stream("127.0.0.1", server.port)
                async with stream:
                    local = stream.socket.getsockname()[:2]
                    conn = h11.Connection(h11.CLIENT)
                    headers = [
                        ("host", "127.0.0.1"),
                        ("authorization", f"Bearer {TOKEN}"),
                        ("content-length", "0"),
                    ]
                    method = "POST" if "/rpc/" in path else "GET"
                    await stream.send_all(
                        conn.send(h11.Request(method=method, target=path, headers=headers))
                        + conn.send(h11.EndOfMessage())
                    )
                    body = b""
                    while not isinstance(event := conn.next_event(), h11.EndOfMessage):
                        if event is h11.NEED_DATA:
                            conn.receive_data(await stream.receive_some(65536))
                        elif isinstance(event, h11.Data):
                            body += event.data
                answer = json.loads(body)
                seen = answer.get("value", answer)
                assert seen == {"identity": IDENTITY, "client": list(local)}, path
            status, _, _ = await http(server, "GET", "/who/a/page")
            assert status == 401
