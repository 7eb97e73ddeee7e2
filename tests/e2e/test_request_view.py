"""What the authenticate hook and ``on_request`` see of a request: query, headers, cookies.

Over real sockets, with the raw header lines a client may send (repeated names included).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import trio

from roost import Actor, App, Request, Response
from tests.e2e.exposure import ask
from tests.support import running


class Dump(Actor):
    async def on_request(self, request: Request) -> Response:
        return Response.json(
            {
                "query": dict(request.query),
                "cookies": dict(request.cookies),
                "cookie": request.headers.get("cookie"),
                "x": request.headers.get("x-a"),
                "identity": request.identity,
            }
        )


def make_app() -> App:
    app = App()
    app.actor("d", Dump)

    @app.authenticate
    async def authenticate(request: Request) -> Any:
        return {"token": request.query.get("token"), "session": request.cookies.get("session")}

    return app


async def test_the_first_value_of_a_repeated_query_name_wins(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            assert server.port is not None
            status, _, body = await ask(server.port, "GET", "/d/k/x?token=first&token=second&a=")
            assert status == 200
            seen = json.loads(body)
            assert seen["query"] == {"token": "first", "a": ""}
            assert seen["identity"]["token"] == "first"  # the hook saw the same value


async def test_two_cookie_lines_are_one_cookie_list(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            assert server.port is not None
            lines = [("cookie", "a=1"), ("cookie", "session=S"), ("x-a", "one"), ("x-a", "two")]
            status, _, body = await ask(server.port, "GET", "/d/k/x", lines)
            assert status == 200
            seen = json.loads(body)
            assert seen["cookies"] == {"a": "1", "session": "S"}
            assert seen["cookie"] == "a=1; session=S"  # RFC 6265 5.4: one list, "; "
            assert seen["x"] == "one, two"  # other repeated headers: RFC 9110 ", "
            assert seen["identity"]["session"] == "S"
