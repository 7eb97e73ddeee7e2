"""Cookies, CORS on refusals and origin spellings over real sockets (G10).

A browser attaches the user's cookies to a cross-site WebSocket handshake and to a "simple"
POST (no body, no Content-Type: no preflight) whatever the server's CORS answer says; so a
page let in only by ``--allow-origin '*'`` must reach the hook and the actor without them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from roost import Actor, App, Connection, Request, Response, rpc
from tests.e2e.exposure import UPGRADE, ask, hold_upgrade
from tests.support import running

COOKIE = ("cookie", "session=VICTIM")


class Probe(Actor):
    async def on_connect(self, conn: Connection, request: Request) -> None:
        if request.cookies or "cookie" in request.headers:
            raise AssertionError("a cookie reached on_connect")

    async def on_request(self, request: Request) -> Response:
        return Response.json({"cookies": dict(request.cookies), "who": request.identity})

    @rpc
    async def whoami(self, conn: Any) -> Any:
        return {"who": conn.identity, "cookie": conn.headers.get("cookie")}


def make_app() -> App:
    app = App()
    app.actor("probe", Probe)

    @app.authenticate
    async def authenticate(request: Request) -> Any:
        # The hook would take the cookie's user: a page must not make it see one.
        return request.cookies.get("session", "anonymous")

    return app


async def test_a_page_let_in_by_star_reaches_nobody_with_the_users_cookie(tmp_path: Path) -> None:
    evil = ("origin", "https://evil.test")
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, allow_origins=["*"]) as server:
            port = server.port
            assert port is not None
            # A cross-site WebSocket handshake: accepted, but not as the user.
            assert (await ask(port, "GET", "/probe/a", [*UPGRADE, evil, COOKIE]))[0] == 101
            # A "simple" POST to rpc (no preflight): answered as anonymous.
            status, headers, body = await ask(port, "POST", "/probe/a/rpc/whoami", [evil, COOKIE])
            assert status == 200, body
            assert json.loads(body)["value"] == {"who": "anonymous", "cookie": None}
            assert headers["access-control-allow-origin"] == "*"
            # A foreign form post to on_request (never origin-checked): no cookie either.
            status, _, body = await ask(port, "POST", "/probe/a/page", [evil, COOKIE])
            assert json.loads(body) == {"cookies": {}, "who": "anonymous"}
            # The server's own page, and a client that is no browser, keep theirs.
            own = ("origin", f"http://127.0.0.1:{port}")
            status, _, body = await ask(port, "POST", "/probe/a/rpc/whoami", [own, COOKIE])
            assert json.loads(body)["value"]["who"] == "VICTIM"
            status, _, body = await ask(port, "POST", "/probe/a/page", [COOKIE])
            assert json.loads(body) == {"cookies": {"session": "VICTIM"}, "who": "VICTIM"}


@pytest.mark.parametrize("page", ["https://app.example.com", "https://a.example.org"])
async def test_listed_origins_and_named_wildcards_keep_cookies_beside_star(
    tmp_path: Path, page: str
) -> None:
    allowed = ["*", "https://app.example.com", "https://*.example.org"]
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, allow_origins=allowed) as server:
            assert server.port is not None
            status, headers, body = await ask(
                server.port, "POST", "/probe/a/rpc/whoami", [("origin", page), COOKIE]
            )
            assert status == 200, body
            assert json.loads(body)["value"]["who"] == "VICTIM"
            assert headers["access-control-allow-origin"] == page
            assert headers["access-control-allow-credentials"] == "true"


async def test_every_answer_to_an_allowed_rpc_call_carries_cors(tmp_path: Path) -> None:
    page = "http://localhost:3000"
    call = [("origin", page), ("content-type", "application/json")]
    with trio.fail_after(10):
        async with running(
            make_app(),
            tmp_path,
            allow_origins=[page],
            max_message_size=1000,
            max_connections_per_ip=1,
        ) as server:
            port = server.port
            assert port is not None
            big = json.dumps({"a": "x" * 2000}).encode()
            for path, body, status, code in [
                ("/probe/a/rpc/whoami", big, 413, "too_large"),  # read before any routing
                ("/probe/%01/rpc/whoami", b"{}", 400, "bad_request"),  # a bad key
                ("/nothing/a/rpc/whoami", b"{}", 404, "not_found"),  # no such type
            ]:
                got, headers, answer = await ask(port, "POST", path, call, body=body)
                assert got == status, (path, answer)
                assert json.loads(answer)["error"]["code"] == code
                assert headers["access-control-allow-origin"] == page, path
                assert headers["vary"] == "Origin"
            # A foreign page's refusal stays without them.
            foreign = [("origin", "https://evil.test"), ("content-type", "application/json")]
            got, headers, _ = await ask(port, "POST", "/probe/a/rpc/whoami", foreign, body=big)
            assert got == 413 and "access-control-allow-origin" not in headers
            # Over the per-address budget (a socket holds the one unit): 429, read alike.
            status, held = await hold_upgrade(port, "/probe/a")
            assert status == 101
            got, headers, answer = await ask(port, "POST", "/probe/a/rpc/whoami", call, body=b"{}")
            await held.aclose()
            assert got == 429 and json.loads(answer)["error"]["message"]
            assert headers["access-control-allow-origin"] == page


@pytest.mark.parametrize(
    "spelling",
    [
        "HTTP://127.0.0.1:{port}",
        "http://127.0.0.1:0{port}",
        "https://EXAMPLE.com",
        "https://example.com:443",
        "https://.example.com",
        "https://*.example.com",
    ],
)
async def test_an_origin_not_in_serialized_form_is_refused(tmp_path: Path, spelling: str) -> None:
    allowed = ["https://example.com", "https://*.example.com"]
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, allow_origins=allowed) as server:
            port = server.port
            assert port is not None
            origin = ("origin", spelling.format(port=port))
            assert (await ask(port, "GET", "/probe/a", [*UPGRADE, origin]))[0] == 403
            status, headers, _ = await ask(
                port, "POST", "/probe/a/rpc/whoami", [origin, COOKIE], body=b"{}"
            )
            assert status == 403
            assert "access-control-allow-origin" not in headers
