"""HTTP parsing holes and HTTP rpc bodies, against a live server over real sockets.

Every refusal is a clear status; the connection that sent it is the only one affected.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import cbor2
import pytest
import trio

from roost import Actor, App, Connection, Request, Response, Server, rpc
from roost.runtime._http import MAX_HEAD_BYTES, MAX_REQUEST_LINE
from tests.support import UPGRADE_HEADERS, http, running

JSON = [("content-type", "application/json")]
CBOR = [("content-type", "application/cbor")]


class Echo(Actor):
    """rpc methods that echo and count, and HTTP answers, good and broken."""

    @rpc
    async def echo(self, conn: Connection | None, value: Any = None) -> Any:
        self.storage.kv.put("calls", self.storage.kv.get("calls", 0) + 1)
        return value

    @rpc
    async def calls(self, conn: Connection | None) -> int:
        return int(self.storage.kv.get("calls", 0))

    @rpc
    async def unsendable(self, conn: Connection | None) -> Any:
        return {"surrogate": "\ud800"}

    async def on_request(self, request: Request) -> Response:
        if request.rest == "/bad-header":
            return Response(headers=(("x-bad", "a\r\nset-cookie: forged"),))
        if request.rest == "/bad-status":
            return Response(status=1000)
        return Response.text("ok")


def make_app() -> App:
    app = App()
    app.actor("echo", Echo)
    return app


async def exchange(
    server: Server, data: bytes, *, chunk: int | None = None, stop: int | None = None
) -> bytes:
    """Send ``data`` (whole, or its first ``stop`` bytes in chunks of ``chunk`` bytes), then
    read until the server closes.

    A refusal must come once the server read the last byte sent: bytes it never reads would
    make its close a reset, which may drop its answer before we read it.
    """
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        if chunk is None:
            await stream.send_all(data)
        else:
            data = data[:stop]
            for start in range(0, len(data), chunk):
                await stream.send_all(data[start : start + chunk])
        received = b""
        while piece := await stream.receive_some(65536):
            received += piece
        return received


async def healthy(server: Server) -> bool:
    return (await http(server, "GET", "/_roost/health"))[0] == 200


async def test_content_length_with_transfer_encoding_is_refused_and_closed(
    tmp_path: Path,
) -> None:
    smuggled = (
        b"POST /echo/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /_roost/health HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            reply = await exchange(server, smuggled)
            assert reply.startswith(b"HTTP/1.1 400 ")
            assert reply.count(b"HTTP/1.1") == 1, "the request behind it must not be answered"
            assert await healthy(server)


def head(target: bytes = b"/_roost/health", *, extra: bytes = b"") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


@pytest.mark.parametrize("chunk", [None, 1000], ids=["one read", "in pieces"])
async def test_the_head_limit_holds_however_the_bytes_arrive(
    tmp_path: Path, chunk: int | None
) -> None:
    big_header = b"x-big: " + b"a" * 20_000 + b"\r\n"
    many_lines = b"".join(b"x-%d: %s\r\n" % (i, b"b" * 90) for i in range(200))  # ~20 KB
    with trio.fail_after(20):
        async with running(make_app(), tmp_path, max_headers=1000) as server:
            for extra in (big_header, many_lines):
                reply = await exchange(
                    server, head(extra=extra), chunk=chunk, stop=MAX_HEAD_BYTES + 1
                )
                assert reply.startswith(b"HTTP/1.1 431 "), reply[:40]
            long_line = head(b"/echo/" + b"k" * 10_000)
            reply = await exchange(server, long_line, chunk=chunk, stop=MAX_REQUEST_LINE + 1)
            assert reply.startswith(b"HTTP/1.1 414 "), reply[:40]
            # Just under the limit is fine.
            near = b"x-big: " + b"a" * 15_000 + b"\r\nconnection: close\r\n"
            assert (await exchange(server, head(extra=near), chunk=chunk)).startswith(
                b"HTTP/1.1 200 "
            )
            assert await healthy(server)


async def test_a_big_head_pipelined_behind_a_small_request_is_refused(tmp_path: Path) -> None:
    small = head()
    big = head(extra=b"x-big: " + b"a" * 20_000 + b"\r\n")
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            reply = await exchange(server, small + big)
            assert reply.startswith(b"HTTP/1.1 200 ")
            assert reply.count(b"HTTP/1.1 431 ") == 1


async def test_more_header_lines_than_max_headers_is_431(tmp_path: Path) -> None:
    def lines(n: int) -> list[tuple[str, str]]:
        return [(f"x-{i}", "v") for i in range(n)]

    with trio.fail_after(10):
        async with running(make_app(), tmp_path, max_headers=10) as server:
            # http() adds host and content-length: 8 more make 10 lines.
            assert (await http(server, "GET", "/_roost/health", headers=lines(8)))[0] == 200
            assert (await http(server, "GET", "/_roost/health", headers=lines(9)))[0] == 431
            assert (await http(server, "GET", "/echo/k", headers=lines(9)))[0] == 431
        async with running(make_app(), tmp_path) as server:  # the default is 100
            assert (await http(server, "GET", "/_roost/health", headers=lines(98)))[0] == 200
            assert (await http(server, "GET", "/_roost/health", headers=lines(99)))[0] == 431


async def test_an_upgrade_over_http_1_0_is_refused(tmp_path: Path) -> None:
    upgrade = b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in UPGRADE_HEADERS)
    request = b"GET /echo/k HTTP/1.0\r\nHost: x\r\n" + upgrade + b"\r\n"
    with trio.fail_after(10):
        async with running(make_app(), tmp_path / "data") as server:
            reply = await exchange(server, request)
            assert reply.startswith(b"HTTP/1.1 400 ")
            assert b"HTTP/1.1" in reply
    assert not (tmp_path / "data" / "actors").exists()


@pytest.mark.parametrize("version", [b"2.0", b"1.2", b"0.9", b"9.9"])
@pytest.mark.parametrize("target", [b"/echo/k", b"/echo/k/rpc/echo", b"/_roost/health"])
async def test_http_versions_other_than_1_0_and_1_1_are_505(
    tmp_path: Path, version: bytes, target: bytes
) -> None:
    request = b"GET " + target + b" HTTP/" + version + b"\r\nHost: x\r\n\r\n"
    request += b"GET /_roost/health HTTP/1.1\r\nHost: x\r\n\r\n"  # never answered
    with trio.fail_after(10):
        async with running(make_app(), tmp_path / "data") as server:
            reply = await exchange(server, request)
            assert reply.startswith(b"HTTP/1.1 505 "), reply[:80]
            assert reply.count(b"HTTP/1.1") == 1 and b"connection: close" in reply.lower()
            assert await healthy(server)
    assert not (tmp_path / "data" / "actors").exists()  # the actor never saw it


async def test_an_invalid_response_from_an_actor_is_500_and_the_server_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            for rest in ("/bad-header", "/bad-status"):
                status, headers, body = await http(server, "GET", "/echo/k" + rest)
                assert status == 500 and body == b"internal error\n"
                assert "set-cookie" not in headers
            assert (await http(server, "GET", "/echo/k"))[0] == 200
            assert await healthy(server)
    assert any("answering" in record.getMessage() for record in caplog.records)


async def rpc_call(
    server: Server, path: str, body: bytes, headers: list[tuple[str, str]]
) -> tuple[int, str, Any]:
    status, response_headers, data = await http(
        server, "POST", "/echo/k/rpc/" + path, body=body, headers=headers
    )
    kind = response_headers["content-type"]
    value = cbor2.loads(data) if kind == "application/cbor" else json.loads(data)
    return status, kind, value


OFF_MODEL = {
    "nested brackets (1.1 KB)": (b"[" * 1100, 413, "too_large"),
    "nested objects": (b'{"a":' * 2000, 413, "too_large"),
    "duplicate key": (b'{"value": 1, "value": 2}', 400, "bad_request"),
    "lone surrogate": (b'{"value": "\\udc00"}', 400, "bad_request"),
    "integer of 2**70": (b'{"value": 1180591620717411303424}', 400, "bad_request"),
    "not UTF-8": (b'{"value": "\xc3"}', 400, "bad_request"),
    "not a map": (b"[1, 2]", 400, "bad_request"),
    "not JSON": (b"{bad", 400, "bad_request"),
}


@pytest.mark.parametrize(("body", "status", "code"), OFF_MODEL.values(), ids=OFF_MODEL.keys())
async def test_rpc_bodies_follow_the_envelope_rules(
    tmp_path: Path, body: bytes, status: int, code: str
) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            answer = await rpc_call(server, "echo", body, JSON)
            assert answer[:2] == (status, "application/json")
            assert answer[2]["error"]["code"] == code
            assert set(answer[2]["error"]) == {"code", "message"}
            # Nothing reached the actor, and it is still served.
            assert await rpc_call(server, "calls", b"", []) == (
                200,
                "application/json",
                {"value": 0},
            )


async def test_rpc_bodies_within_the_limits_reach_the_actor(tmp_path: Path) -> None:
    nested: Any = []
    for _ in range(29):  # 30 lists in args (depth 1): 31 levels, as args inside an envelope
        nested = [nested]
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            body = json.dumps({"value": nested}).encode()
            assert await rpc_call(server, "echo", body, JSON) == (
                200,
                "application/json",
                {"value": nested},
            )
            body = json.dumps({"value": [nested]}).encode()
            assert (await rpc_call(server, "echo", body, JSON))[0] == 413


async def test_a_cbor_request_gets_a_cbor_reply(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            body = cbor2.dumps({"value": {"b": b"\x00\xff", "n": -(2**63)}})
            assert await rpc_call(server, "echo", body, CBOR) == (
                200,
                "application/cbor",
                {"value": {"b": b"\x00\xff", "n": -(2**63)}},
            )
            status, kind, value = await rpc_call(server, "nope", cbor2.dumps({}), CBOR)
            assert (status, kind, value["error"]["code"]) == (404, "application/cbor", "not_found")
            tagged = bytes.fromhex("a1 6576616c7565 c1 00".replace(" ", ""))
            status, kind, value = await rpc_call(server, "echo", tagged, CBOR)
            assert (status, kind, value["error"]["code"]) == (
                400,
                "application/cbor",
                "bad_request",
            )
            deep = bytes.fromhex("a1 6576616c7565".replace(" ", "")) + b"\x81" * 5000 + b"\x80"
            status, kind, value = await rpc_call(server, "echo", deep, CBOR)
            assert (status, kind, value["error"]["code"]) == (413, "application/cbor", "too_large")
            # bytes travel in CBOR, not in JSON
            body = cbor2.dumps({"value": b"x"})
            assert (await rpc_call(server, "echo", body, CBOR))[0] == 200
            status, kind, value = await rpc_call(server, "unsendable", b"", JSON)
            assert (status, value["error"]["code"]) == (500, "internal")
            assert "surrogate" not in json.dumps(value)


async def test_an_rpc_body_over_the_message_limit_is_a_json_413(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, max_message_size=1000) as server:
            body = json.dumps({"value": "x" * 2000}).encode()
            assert await rpc_call(server, "echo", body, JSON) == (
                413,
                "application/json",
                {"error": {"code": "too_large", "message": "request body too large"}},
            )
            # Chunked, so the size is only known as the body arrives.
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            async with stream:
                await stream.send_all(
                    b"POST /echo/k/rpc/echo HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + b"%x\r\n" % len(body)
                    + body
                    + b"\r\n0\r\n\r\n"
                )
                reply = b""
                while piece := await stream.receive_some(65536):
                    reply += piece
            assert reply.startswith(b"HTTP/1.1 413 ")
            assert reply.endswith(
                b'{"error":{"code":"too_large","message":"request body too large"}}'
            )
            # Anywhere else the refusal stays plain text.
            status, headers, _ = await http(server, "POST", "/echo/k/page", body=body)
            assert (status, headers["content-type"]) == (413, "text/plain; charset=utf-8")
            assert await healthy(server)


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("content-type", "application/x-www-form-urlencoded")],
        [("content-type", "multipart/form-data; boundary=b")],
        [("content-type", "text/plain")],
        [("content-type", "application/json"), ("content-type", "application/json")],
    ],
    ids=["none", "form", "multipart", "text", "twice"],
)
async def test_rpc_bodies_of_other_media_types_are_415(
    tmp_path: Path, headers: list[tuple[str, str]]
) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            status, kind, value = await rpc_call(server, "echo", b'{"value": 1}', headers)
            assert (status, kind, value["error"]["code"]) == (
                415,
                "application/json",
                "bad_request",
            )
            assert await rpc_call(server, "calls", b"", []) == (
                200,
                "application/json",
                {"value": 0},
            )


async def test_an_empty_rpc_body_needs_no_content_type(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            assert await rpc_call(server, "echo", b"", []) == (
                200,
                "application/json",
                {"value": None},
            )
            assert await rpc_call(server, "echo", b"", CBOR) == (
                200,
                "application/cbor",
                {"value": None},
            )
            status, _, _ = await rpc_call(server, "echo", b"", [("content-type", "text/plain")])
            assert status == 415


async def test_client_text_never_forges_log_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            for path in ("/echo/a%0Ab", "/echo/a%0D%0Aforged/rpc/echo", "/echo/k/rpc/x%0Ay"):
                status, _, _ = await http(server, "POST", path, body=b"{}", headers=JSON)
                assert status in (400, 404)
            await http(server, "GET", "/echo/k/bad-header")
    for record in caplog.records:
        assert "\n" not in record.getMessage() and "\r" not in record.getMessage()
