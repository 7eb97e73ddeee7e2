"""The authenticate hook (G10): who may reach an actor, and who they are in every handler.

In-process through roost.testing (real server code over socket pairs, trio's mock clock); the
real-socket side (``request.client``, the Python client's headers) is in tests/e2e/.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import trio

from roost import (
    Actor,
    App,
    ConfigError,
    Connection,
    ConnectionRefused,
    HttpCaller,
    Request,
    Response,
    rpc,
)
from roost.actors import ConnectionModeError
from roost.actors._http import parse_cookies
from roost.cli import load_app
from roost.testing import TestClient, TestClientRefused, TestResponse, TestServer
from tests.support import EXAMPLES

SECRET = "s3cr3t-t0ken"


class Room(Actor):
    """Reports the identity each handler sees."""

    seen: list[tuple[str, Any]] = []

    async def on_connect(self, conn: Connection, request: Request) -> None:
        Room.seen.append(("connect", conn.identity))
        Room.seen.append(("connect-request", request.identity))

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send(json.dumps({"identity": conn.identity}))

    async def on_request(self, request: Request) -> Response:
        if request.rest == "/bad-header":  # an invalid Response: the server logs a failure
            return Response.text("x", headers={"x-bad": "a\nb"})
        return Response.json({"identity": request.identity, "rest": request.rest})

    @rpc
    async def whoami(self, conn: Connection | HttpCaller | None) -> Any:
        if conn is None:
            return {"caller": "actor"}
        return {"caller": type(conn).__name__, "identity": conn.identity}

    @rpc(http=False)
    async def internal(self, conn: Connection | HttpCaller | None) -> str:
        return "only over a WebSocket or from an actor"

    @rpc
    async def ask(self, conn: Connection | HttpCaller | None, key: str) -> Any:
        return await self.call("room", key).whoami()

    @rpc
    async def ask_internal(self, conn: Connection | HttpCaller | None, key: str) -> Any:
        return await self.call("room", key).internal()

    @rpc
    async def shout(self, conn: Connection | HttpCaller | None) -> None:
        assert conn is not None
        conn.send("hello")

    @rpc
    async def echo_headers(self, conn: Connection | HttpCaller | None) -> Any:
        assert isinstance(conn, HttpCaller)
        return {"x": conn.headers.get("x-probe"), "client": conn.client}


def make_app(hook: Any = None) -> App:
    app = App()
    app.actor("room", Room)
    if hook is not None:
        app.authenticate(hook)
    return app


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "actors" in p.parts)


async def rpc_call(client: TestClient, method: str, call_id: int = 1, **args: Any) -> Any:
    await client.send_json({"type": "call", "id": call_id, "method": method, "args": args})
    reply = await client.receive_json()
    assert reply["id"] == call_id, reply
    return reply


async def token_hook(request: Request) -> Any:
    """Bearer header, ?token= or a cookie: the three ways a client can present a token."""
    token = (
        request.headers.get("authorization", "").removeprefix("Bearer ")
        or request.query.get("token")
        or request.cookies.get("session")
    )
    if token == "banned":
        raise ConnectionRefused("you are banned", status=403)
    if token != SECRET:
        return None
    return {"user": request.query.get("as", "ann"), "path": request.path}


async def internal_errors(app: App, method: str, path: str) -> TestResponse:
    """An upgrade and an HTTP request, both answered 500 ``internal error``, no actor woken."""
    with trio.fail_after(10):
        async with TestServer(app) as t:
            with pytest.raises(TestClientRefused) as refused:
                await t.connect("/room/a")
            assert (refused.value.status, refused.value.text) == (500, "internal error\n")
            answer = await t.request(method, path)
            assert answer.status == 500
            assert b"hunter2" not in answer.body
            assert t.statistics().actors == 0
    return answer


# -- without a hook ---------------------------------------------------------------------------


async def test_without_a_hook_identity_is_none_everywhere(autojump_clock: Any) -> None:
    Room.seen = []
    with trio.fail_after(10):
        async with TestServer(make_app()) as t:
            async with t.connect("/room/a") as raw:
                await raw.send("x")
                assert await raw.receive_json() == {"identity": None}
            async with t.connect("/room/a", subprotocols=["roost.v1.json"]) as env:
                reply = await rpc_call(env, "whoami")
                assert reply["value"] == {"caller": "Connection", "identity": None}
            answer = await t.request("GET", "/room/a/x")
            assert answer.json() == {"identity": None, "rest": "/x"}
            answer = await t.request("POST", "/room/a/rpc/whoami")
            assert answer.json() == {"value": {"caller": "HttpCaller", "identity": None}}
    assert Room.seen == [("connect", None), ("connect-request", None)] * 2


# -- identity reaches every handler -----------------------------------------------------------


async def test_identity_reaches_every_handler(autojump_clock: Any) -> None:
    Room.seen = []
    bearer = {"authorization": f"Bearer {SECRET}"}
    with trio.fail_after(10):
        async with TestServer(make_app(token_hook)) as t:
            async with t.connect("/room/a", headers=bearer, query={"as": "bob"}) as raw:
                await raw.send("x")
                expected = {"user": "bob", "path": "/room/a"}
                assert await raw.receive_json() == {"identity": expected}
            assert Room.seen == [("connect", expected), ("connect-request", expected)]
            # The token in the query (browsers cannot set WebSocket headers) and in a cookie.
            async with t.connect(
                "/room/a", subprotocols=["roost.v1.json"], query={"token": SECRET}
            ) as env:
                reply = await rpc_call(env, "whoami")
                identity = {"user": "ann", "path": "/room/a"}
                assert reply["value"] == {"caller": "Connection", "identity": identity}
            cookie = {"cookie": f'theme=dark; session="{SECRET}"'}
            answer = await t.request("GET", "/room/a/page", headers=cookie)
            identity = {"user": "ann", "path": "/room/a/page"}
            assert answer.json() == {"identity": identity, "rest": "/page"}
            answer = await t.request(
                "POST", "/room/a/rpc/whoami", headers=bearer, query={"as": "cy"}
            )
            identity = {"user": "cy", "path": "/room/a/rpc/whoami"}
            assert answer.json() == {"value": {"caller": "HttpCaller", "identity": identity}}


async def test_identity_is_a_json_copy(autojump_clock: Any) -> None:
    async def hook(request: Request) -> Any:
        return ("ann", 1)  # a tuple is JSON-able; handlers see what JSON makes of it

    with trio.fail_after(10):
        async with TestServer(make_app(hook)) as t, t.connect("/room/a") as raw:
            await raw.send("x")
            assert await raw.receive_json() == {"identity": ["ann", 1]}


async def test_identity_survives_hibernation(autojump_clock: Any) -> None:
    with trio.fail_after(10):
        async with TestServer(make_app(token_hook)) as t:
            async with (
                t.connect("/room/h", query={"token": SECRET, "as": "zoe"}) as raw,
                t.connect(
                    "/room/h", subprotocols=["roost.v1.json"], query={"token": SECRET}
                ) as env,
            ):
                await t.hibernate("room", "h")
                await raw.send("x")  # wakes the actor
                assert await raw.receive_json() == {"identity": {"user": "zoe", "path": "/room/h"}}
                await t.hibernate("room", "h")
                reply = await rpc_call(env, "whoami")
                identity = {"user": "ann", "path": "/room/h"}
                assert reply["value"] == {"caller": "Connection", "identity": identity}


# -- refusals ---------------------------------------------------------------------------------


async def test_refusals_activate_nothing_and_leave_nothing_on_disk(
    autojump_clock: Any, tmp_path: Path
) -> None:
    with trio.fail_after(10):
        async with TestServer(make_app(token_hook), data_dir=tmp_path) as t:
            before = files_under(tmp_path)
            with pytest.raises(TestClientRefused) as refused:
                await t.connect("/room/a")
            assert (refused.value.status, refused.value.text) == (401, "unauthorized\n")
            with pytest.raises(TestClientRefused) as refused:
                await t.connect("/room/a", headers={"authorization": "Bearer banned"})
            assert (refused.value.status, refused.value.text) == (403, "you are banned\n")
            answer = await t.request("GET", "/room/b/x", query={"token": "wrong"})
            assert answer.status == 401
            answer = await t.request("POST", "/room/c/rpc/whoami", query={"token": "banned"})
            assert answer.status == 403
            assert answer.json() == {"error": {"code": "forbidden", "message": "you are banned"}}
            answer = await t.request("POST", "/room/c/rpc/whoami")
            assert answer.status == 401
            assert answer.json()["error"]["code"] == "unauthorized"
            assert t.statistics().actors == 0
            assert t.statistics().activations_total == 0
            assert files_under(tmp_path) == before


async def test_the_hook_runs_once_per_request_and_not_for_runtime_or_static(
    threaded_autojump_clock: Any, tmp_path: Path
) -> None:
    calls: list[str] = []

    async def hook(request: Request) -> Any:
        calls.append(request.path)
        return "someone"

    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "index.html").write_text("<p>hi</p>")
    app = make_app(hook)
    app.static("/", tmp_path / "web")
    with trio.fail_after(10):
        async with TestServer(app) as t:
            async with t.connect("/room/a") as raw:
                await raw.send("x")
                await raw.receive()
                await raw.send("y")
                await raw.receive()
            assert (await t.request("GET", "/room/a/page")).status == 200
            assert (await t.request("POST", "/room/a/rpc/whoami")).status == 200
            assert (await t.request("GET", "/_roost/health")).status == 200
            assert (await t.request("GET", "/")).status == 200
    assert calls == ["/room/a", "/room/a/page", "/room/a/rpc/whoami"]


async def test_a_failing_hook_answers_500_and_is_logged_once(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def hook(request: Request) -> Any:
        raise RuntimeError("database password is hunter2")

    caplog.set_level(logging.DEBUG)
    answer = await internal_errors(make_app(hook), "POST", "/room/a/rpc/whoami")
    assert answer.json() == {"error": {"code": "internal", "message": "internal error"}}
    failures = [r for r in caplog.records if r.name == "roost.auth" and r.exc_info]
    assert len(failures) == 2  # once per request
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in failures)


@pytest.mark.parametrize(
    ("identity", "problem"),
    [
        ({1, 2}, "not JSON-able"),
        (object(), "not JSON-able"),
        (float("nan"), "not JSON-able"),
        ("x" * 20000, "over 16384 bytes"),
    ],
)
async def test_an_identity_that_is_not_json_able_is_a_clear_error(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture, identity: Any, problem: str
) -> None:
    async def hook(request: Request) -> Any:
        return identity

    answer = await internal_errors(make_app(hook), "GET", "/room/a/x")
    assert answer.text() == "internal error\n"
    errors = [r for r in caplog.records if r.name == "roost.auth" and r.levelno == logging.ERROR]
    assert len(errors) == 2 and all(problem in r.getMessage() for r in errors)


async def test_a_refusal_with_a_success_status_is_a_server_error(autojump_clock: Any) -> None:
    async def hook(request: Request) -> Any:
        raise ConnectionRefused("fine?", status=200)

    with trio.fail_after(10):
        async with TestServer(make_app(hook)) as t:
            with pytest.raises(TestClientRefused) as refused:
                await t.connect("/room/a")
            assert refused.value.status == 500


async def test_a_hook_that_never_answers_times_out_with_503(autojump_clock: Any) -> None:
    async def hook(request: Request) -> Any:
        await trio.sleep_forever()

    with trio.fail_after(60):
        async with TestServer(make_app(hook), request_timeout=5) as t:
            start = trio.current_time()
            with pytest.raises(TestClientRefused) as refused:
                await t.connect("/room/a")
            assert refused.value.status == 503
            assert 5 <= trio.current_time() - start < 6
            assert t.statistics().actors == 0


async def test_tokens_never_reach_the_logs(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    leaked = {"authorization": f"Bearer {SECRET}", "cookie": f"session={SECRET}"}
    with trio.fail_after(10):
        async with TestServer(make_app(token_hook)) as t:
            for headers in (leaked, {"authorization": "Bearer banned"}, {}):
                query = {"token": SECRET if headers else "wrong-" + SECRET}
                try:
                    async with t.connect("/room/a", headers=headers, query=query) as raw:
                        await raw.send("x")
                        await raw.receive()
                except TestClientRefused:
                    pass
                await t.request("POST", "/room/a/rpc/whoami", headers=headers, query=query)
                await t.request("GET", "/room/a/x", headers=headers, query=query)
                await t.request("POST", "/room/a/rpc/shout", headers=headers, query=query)
                await t.request("GET", "/room/a/bad-header", headers=headers, query=query)
    assert any(r.name == "roost.auth" for r in caplog.records)  # refusals were logged
    assert "/room/a/bad-header" in caplog.text  # and so was the failing response
    assert SECRET not in caplog.text
    request = Request(method="GET", path="/room/a", query={"token": SECRET}, headers=leaked)
    assert SECRET not in repr(request)
    assert SECRET not in repr(HttpCaller(identity=None, headers=leaked))


# -- HTTP rpc callers ------------------------------------------------------------------------


async def test_http_rpc_gets_a_caller_that_cannot_send(
    autojump_clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(10):
        async with TestServer(make_app()) as t:
            answer = await t.request("POST", "/room/a/rpc/echo_headers", headers={"x-probe": "yes"})
            assert answer.json() == {"value": {"x": "yes", "client": None}}
            answer = await t.request("POST", "/room/a/rpc/shout")
            assert answer.status == 500
            assert answer.json()["error"] == {"code": "internal", "message": "the method failed"}
            assert "no connection to send on" in caplog.text
            # Actor to actor: conn is None, and only then.
            answer = await t.request(
                "POST",
                "/room/a/rpc/ask",
                body=b'{"key": "b"}',
                headers={"content-type": "application/json"},
            )
            assert answer.json() == {"value": {"caller": "actor"}}
    with pytest.raises(ConnectionModeError, match="no connection to send on"):
        HttpCaller().send("x")
    with pytest.raises(ConnectionModeError, match="no connection to close"):
        HttpCaller().close()


async def test_rpc_http_false_is_404_over_http_and_callable_elsewhere(
    autojump_clock: Any,
) -> None:
    with trio.fail_after(10):
        async with TestServer(make_app()) as t:
            answer = await t.request("POST", "/room/a/rpc/internal")
            missing = await t.request("POST", "/room/a/rpc/nothing")
            assert answer.status == missing.status == 404
            assert answer.json() == {
                "error": {"code": "not_found", "message": "no rpc method 'internal'"}
            }
            async with t.connect("/room/a", subprotocols=["roost.v1.json"]) as env:
                reply = await rpc_call(env, "internal")
                assert reply["value"] == "only over a WebSocket or from an actor"
            answer = await t.request(  # another actor may call it; the HTTP caller asked that one
                "POST",
                "/room/a/rpc/ask_internal",
                body=b'{"key": "b"}',
                headers={"content-type": "application/json"},
            )
            assert answer.json() == {"value": "only over a WebSocket or from an actor"}


# -- bad input --------------------------------------------------------------------------------


def test_the_hook_must_be_async_and_registered_once() -> None:
    app = App()

    def sync_hook(request: Request) -> Any:
        return None

    with pytest.raises(ConfigError, match="async def"):
        app.authenticate(sync_hook)  # type: ignore[type-var]
    assert app.authenticate_hook is None
    app.authenticate(token_hook)
    assert app.authenticate_hook is token_hook
    with pytest.raises(ConfigError, match="already has"):
        app.authenticate(token_hook)


def test_rpc_http_false_still_checks_the_method() -> None:
    with pytest.raises(TypeError, match="async def"):

        @rpc(http=False)
        def not_async(self: Any, conn: Any) -> None: ...


@pytest.mark.parametrize(
    ("header", "cookies"),
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ('a=1; b="two words"; c=', {"a": "1", "b": "two words", "c": ""}),
        ("a=1; a=2", {"a": "1"}),  # the first (most specific path) wins
        ("junk; =x; ;; d = 4 ", {"d": "4"}),
        ('q="', {"q": '"'}),
    ],
)
def test_cookies(header: str, cookies: dict[str, str]) -> None:
    assert parse_cookies(header) == cookies
    request = Request(method="GET", path="/", headers={"cookie": header} if header else {})
    assert request.cookies == cookies


async def test_the_test_kit_refuses_handshake_headers(autojump_clock: Any) -> None:
    async with TestServer(make_app()) as t:
        for name in ("Host", "sec-websocket-key", "Upgrade"):
            with pytest.raises(ValueError, match="sets these headers itself"):
                t.connect("/room/a", headers={name: "x"})


async def test_examples_tell_http_callers_from_connections(autojump_clock: Any) -> None:
    """examples/presence.py's track needs a WebSocket: over HTTP it is a clear 400 now that
    an HTTP caller is not None (it was an AttributeError on ``conn.state``: 500)."""
    presence = load_app(str(EXAMPLES / "presence.py"))
    json_body = {"content-type": "application/json"}
    with trio.fail_after(10):
        async with TestServer(presence) as t:
            body = b'{"meta": {"x": 1}}'
            answer = await t.request("POST", "/presence/d/rpc/track", body=body, headers=json_body)
            assert answer.status == 400
            assert answer.json()["error"]["message"] == "track needs a WebSocket connection"
            answer = await t.request("POST", "/presence/d/rpc/heartbeat")
            assert answer.json() == {"value": None}
