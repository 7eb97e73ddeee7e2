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
        ("/notes/" + "x" * 10_000, 414),  # 10 KB: a request line over 8 KiB
        ("/notes/%FF%FE", 400),  # not UTF-8
        ("/notes/%zz", 400),  # malformed escape
        ("/notes/", 400),  # empty key
        ("/notes/%00", 400),  # NUL
        ("/notes/a%00b", 400),
        ("/notes/a%0Ab", 400),  # a newline would forge log lines
        ("/notes/a%0Db", 400),
        ("/notes/%1B%5B31m", 400),  # an ANSI escape
        ("/notes/a%7F", 400),  # DEL
        ("/notes/a%C2%85", 400),  # U+0085, a C1 control (NEL)
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


async def test_wrong_websocket_version_gets_426_with_the_version_we_speak(tmp_path: Path) -> None:
    headers = [
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "8"),
    ]
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            status, response_headers, _ = await http(server, "GET", "/notes/k", headers=headers)
    assert status == 426
    assert response_headers["sec-websocket-version"] == "13"


async def test_slow_requests_get_408_and_idle_keepalive_closes_quietly(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    with trio.fail_after(100):
        async with running(make_app(), tmp_path, request_timeout=5) as server:
            slow = await trio.open_tcp_stream("127.0.0.1", server.port)
            async with slow:
                await slow.send_all(b"GET /_roost/health HTTP/1.1\r\nhost: x\r\n")  # never ends
                reply = await slow.receive_some(1000)
                assert reply.startswith(b"HTTP/1.1 408")
            idle = await trio.open_tcp_stream("127.0.0.1", server.port)
            async with idle:
                await idle.send_all(b"GET /_roost/health HTTP/1.1\r\nhost: x\r\n\r\n")
                first = await idle.receive_some(1000)
                assert first.startswith(b"HTTP/1.1 200")
                start = trio.current_time()
                assert await idle.receive_some(1000) == b""  # closed without a 408
                assert trio.current_time() - start >= 5


class Keeper(Actor):
    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        if message == "get":
            conn.send(str(self.storage.kv.get("n", 0)))
        else:
            self.storage.kv.put("n", self.storage.kv.get("n", 0) + 1)
            conn.send("ok")


async def test_open_databases_stay_within_the_limit(tmp_path: Path) -> None:
    app = App()
    app.actor("keeper", Keeper)
    with trio.fail_after(20):
        async with running(app, tmp_path, max_open_databases=3) as server:
            for _ in range(2):
                for i in range(10):
                    async with connect(server, f"/keeper/{i}") as ws:
                        await ws.send_message("inc")
                        assert await ws.get_message() == "ok"
                        assert server.statistics().open_databases <= 3
            for i in range(10):
                async with connect(server, f"/keeper/{i}") as ws:
                    await ws.send_message("get")
                    assert await ws.get_message() == "2"
            assert server.statistics().open_databases <= 3
