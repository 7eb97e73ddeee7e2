"""Plain HTTP on the shared port, routing, and hostile keys (G9)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from roost import Actor, App, Connection, Request, Response
from tests.support import connect, http, refused_upgrade, running


class Notes(Actor):
    async def on_request(self, request: Request) -> Response:
        if request.method == "POST":
            self.storage.kv.put("note", request.text())
            return Response.json({"stored": True, "key": self.key}, status=201)
        return Response.json(
            {
                "key": self.key,
                "rest": request.rest,
                "note": self.storage.kv.get("note"),
                "q": dict(request.query),
            }
        )

    async def on_connect(self, conn: Connection, request: Request) -> None:
        self.storage.kv.put("seen", True)
        conn.send(self.key)


class Mute(Actor):
    """No on_request: HTTP requests get 405."""


class Broken(Actor):
    async def on_request(self, request: Request) -> Response:
        raise RuntimeError("secret internal detail")


def make_app() -> App:
    app = App()
    app.actor("notes", Notes)
    app.actor("mute", Mute)
    app.actor("broken", Broken)
    return app


async def test_health_and_unknown_paths(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            status, _, body = await http(server, "GET", "/_roost/health")
            assert (status, body) == (200, b'{"status":"ok"}')
            assert (await http(server, "GET", "/_roost/nope"))[0] == 404
            assert (await http(server, "GET", "/"))[0] == 404
            assert (await http(server, "GET", "/ghost/k"))[0] == 404


async def test_requests_reach_on_request_and_commit(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            status, headers, body = await http(server, "POST", "/notes/a%20b", body=b"hello")
            assert status == 201 and headers["content-type"] == "application/json"
            status, _, body = await http(server, "GET", "/notes/a%20b/sub/path?x=1")
            assert status == 200
            assert body == b'{"key":"a b","rest":"/sub/path","note":"hello","q":{"x":"1"}}'
            assert (await http(server, "GET", "/mute/k"))[0] == 405


async def test_a_failing_handler_answers_500_without_details(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            status, _, body = await http(server, "GET", "/broken/k")
            assert status == 500
            assert b"secret" not in body
            assert (await http(server, "GET", "/_roost/health"))[0] == 200


async def test_oversized_bodies_and_malformed_requests(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, max_message_size=1000) as server:
            status, _, _ = await http(server, "POST", "/notes/k", body=b"x" * 2000)
            assert status == 413
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            async with stream:
                await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
                reply = await stream.receive_some(1000)
                assert reply.startswith(b"HTTP/1.1 400")


@pytest.mark.parametrize(
    "raw_key",
    [
        "..%2F..%2Fx",
        "%2E%2E",
        "%2E",
        "%00",
        "a%00b",
        "%2Fetc%2Fpasswd",
        "C%3A%5Cwin",
        "%F0%9F%90%A6",
    ],
)
async def test_hostile_keys_stay_inside_the_data_dir(tmp_path: Path, raw_key: str) -> None:
    data = tmp_path / "data"
    with trio.fail_after(10):
        async with running(make_app(), data) as server:
            async with connect(server, f"/notes/{raw_key}") as ws:
                key = await ws.get_message()
            status, _, _ = await http(server, "POST", f"/notes/{raw_key}", body=b"x")
            assert status == 201
    assert key  # the actor saw the decoded key, whatever it was
    check_contained(tmp_path, data)


def check_contained(parent: Path, data: Path) -> None:
    """Everything written is below ``data``, and nothing beside it."""
    outside = {p.name for p in parent.iterdir()}
    assert outside == {"data"}, "nothing may be written next to the data dir"
    files = [Path(root) / f for root, _, names in os.walk(data) for f in names]
    assert files, "the actor's storage was created"
    for file in files:
        assert os.path.commonpath([file.resolve(), data.resolve()]) == str(data.resolve())
        assert "\0" not in str(file)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/notes/" + "k" * 513, 400),  # over 512 bytes
        ("/notes/" + "%C3%A9" * 257, 400),  # 514 bytes once decoded
        ("/notes/" + "x" * 10_000, 400),  # 10 KB
        ("/notes/%FF%FE", 400),  # not UTF-8
        ("/notes/%zz", 400),  # malformed escape
        ("/notes/", 400),  # empty key
        ("/nope/k", 404),
    ],
)
async def test_bad_keys_are_refused_at_the_handshake(
    tmp_path: Path, path: str, status: int
) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path / "data") as server:
            assert (await refused_upgrade(server, path))[0] == status
            assert (await http(server, "GET", path))[0] == status
    assert not (tmp_path / "data" / "actors").exists()


async def test_a_key_of_exactly_512_bytes_is_fine(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            key = "é" * 256
            async with connect(server, "/notes/" + "%C3%A9" * 256) as ws:
                assert await ws.get_message() == key
