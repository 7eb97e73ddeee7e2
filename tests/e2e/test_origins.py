"""Browser origins, CORS and trusted proxies over real sockets (G10).

The requests are the ones browsers and proxies make: a foreign page's WebSocket handshake and
form post, a CORS preflight, a TLS-terminating proxy's X-Forwarded-* headers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from roost import Actor, App, Connection, Request, ServerConfig, rpc
from roost._errors import ConfigError
from tests.e2e.exposure import UPGRADE, ask, hold_upgrade
from tests.e2e.test_cli import run_roost
from tests.support import EXAMPLES, running


class Room(Actor):
    async def on_connect(self, conn: Connection, request: Request) -> None:
        self.storage.kv.put("seen", True)

    @rpc
    async def echo(self, conn: Any, text: str) -> str:
        self.storage.kv.put("echoed", text)
        return text


def make_app() -> App:
    app = App()
    app.actor("room", Room)
    return app


def nothing_on_disk(data_dir: Path) -> bool:
    return not list((data_dir / "actors").rglob("*.sqlite"))


async def test_a_foreign_page_cannot_open_a_websocket(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            port = server.port
            assert port is not None
            evil = [*UPGRADE, ("origin", "https://evil.example")]
            status, _, body = await ask(port, "GET", "/room/a", evil)
            assert (status, body) == (403, b"origin not allowed\n")
            assert nothing_on_disk(tmp_path)  # refused before any actor (G10)
            # A page served by this very server (same host and port) may.
            own = [*UPGRADE, ("origin", f"http://127.0.0.1:{port}")]
            assert (await ask(port, "GET", "/room/a", own))[0] == 101
            # So may a client that is not a browser (no Origin).
            assert (await ask(port, "GET", "/room/a", UPGRADE))[0] == 101
            # A page on another port of the same host is another origin.
            other = [*UPGRADE, ("origin", "http://127.0.0.1:3000")]
            assert (await ask(port, "GET", "/room/a", other))[0] == 403
            assert (await ask(port, "GET", "/room/a", [*UPGRADE, ("origin", "null")]))[0] == 403


async def test_listed_origins_and_star(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(
            make_app(), tmp_path, allow_origins="http://localhost:3000,https://*.example.com"
        ) as server:
            port = server.port
            assert port is not None
            for origin, status in [
                ("http://localhost:3000", 101),
                ("https://app.example.com", 101),
                ("https://example.com.evil.example", 403),
            ]:
                assert (await ask(port, "GET", "/room/a", [*UPGRADE, ("origin", origin)]))[
                    0
                ] == status, origin
        async with running(make_app(), tmp_path / "star", allow_origins=["*"]) as server:
            assert server.port is not None
            anyone = [*UPGRADE, ("origin", "https://anyone.example")]
            assert (await ask(server.port, "GET", "/room/a", anyone))[0] == 101


async def test_a_foreign_form_post_to_rpc_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            port = server.port
            assert port is not None
            form = [
                ("origin", "https://evil.example"),
                ("content-type", "application/x-www-form-urlencoded"),
            ]
            status, _, _ = await ask(port, "POST", "/room/a/rpc/echo", form, body=b"text=pwned")
            assert status == 403
            as_json = [("origin", "https://evil.example"), ("content-type", "application/json")]
            body = json.dumps({"text": "pwned"}).encode()
            status, headers, _ = await ask(port, "POST", "/room/a/rpc/echo", as_json, body=body)
            assert status == 403
            assert "access-control-allow-origin" not in headers
            assert nothing_on_disk(tmp_path)


async def test_cors_preflight_and_call_from_an_allowed_origin(tmp_path: Path) -> None:
    page = "https://app.example.com"
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, allow_origins=[page]) as server:
            port = server.port
            assert port is not None
            preflight = [
                ("origin", page),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ]
            status, headers, _ = await ask(port, "OPTIONS", "/room/a/rpc/echo", preflight)
            assert status == 204
            assert headers["access-control-allow-origin"] == page
            assert headers["access-control-allow-methods"] == "POST"
            assert "content-type" in headers["access-control-allow-headers"]
            assert headers["access-control-allow-credentials"] == "true"
            assert nothing_on_disk(tmp_path)  # a preflight activates nothing
            # A preflight from a foreign page, or for a header we do not take, is refused.
            foreign = [("origin", "https://evil.example"), *preflight[1:]]
            assert (await ask(port, "OPTIONS", "/room/a/rpc/echo", foreign))[0] == 403
            odd = [*preflight[:2], ("access-control-request-headers", "x-sneaky")]
            assert (await ask(port, "OPTIONS", "/room/a/rpc/echo", odd))[0] == 403
            # The call itself carries the CORS headers, so the page may read the answer.
            call = [("origin", page), ("content-type", "application/json")]
            status, headers, body = await ask(
                port, "POST", "/room/a/rpc/echo", call, body=b'{"text": "hi"}'
            )
            assert status == 200, body
            assert json.loads(body)["value"] == "hi"
            assert headers["access-control-allow-origin"] == page
            assert headers["vary"] == "Origin"
            # Errors too (a missing method), or the page could not tell what went wrong.
            status, headers, _ = await ask(port, "POST", "/room/a/rpc/nope", call, body=b"{}")
            assert status == 404 and headers["access-control-allow-origin"] == page


async def test_an_origin_with_a_path_is_foreign_and_never_echoed(tmp_path: Path) -> None:
    """``Origin: http://localhost:3000/`` is no serialized origin (RFC 6454): not the listed
    page, not the server's own, and never repeated in a CORS header."""
    page = "http://localhost:3000"
    call = [("content-type", "application/json")]
    with trio.fail_after(10):
        async with running(make_app(), tmp_path, allow_origins=[page]) as server:
            port = server.port
            assert port is not None
            for origin in (f"{page}/", f"{page}/x", f"{page}?q", f"http://u@{page[7:]}"):
                upgrade = [*UPGRADE, ("origin", origin)]
                assert (await ask(port, "GET", "/room/a", upgrade))[0] == 403, origin
                own = [*UPGRADE, ("origin", f"http://127.0.0.1:{port}/")]
                assert (await ask(port, "GET", "/room/a", own))[0] == 403
                status, headers, _ = await ask(
                    port, "POST", "/room/a/rpc/echo", [("origin", origin), *call], body=b"{}"
                )
                assert status == 403 and "access-control-allow-origin" not in headers
                preflight = [("origin", origin), ("access-control-request-method", "POST")]
                status, headers, _ = await ask(port, "OPTIONS", "/room/a/rpc/echo", preflight)
                assert status == 403 and "access-control-allow-origin" not in headers
            assert nothing_on_disk(tmp_path)
        async with running(make_app(), tmp_path / "star", allow_origins=["*", page]) as server:
            assert server.port is not None
            slashed = [("origin", f"{page}/"), *call]
            status, headers, _ = await ask(
                server.port, "POST", "/room/a/rpc/echo", slashed, body=b'{"text": "hi"}'
            )
            assert status == 200 and headers["access-control-allow-origin"] == "*"
            assert "access-control-allow-credentials" not in headers


async def test_a_trusted_proxy_names_the_host(tmp_path: Path) -> None:
    """The test's socket plays the proxy: it connects from 127.0.0.1, the default trust."""
    with trio.fail_after(10):
        async with running(make_app(), tmp_path) as server:
            port = server.port
            assert port is not None
            # Behind a TLS proxy the page is https://chat.example.com while Host is ours.
            proxied = [
                ("origin", "https://chat.example.com"),
                ("x-forwarded-host", "chat.example.com"),
            ]
            status, stream = await hold_upgrade(port, "/room/a", proxied)
            await stream.aclose()
            assert status == 101
        async with running(make_app(), tmp_path, forwarded_allow_ips=[]) as server:
            port = server.port
            assert port is not None
            status, stream = await hold_upgrade(port, "/room/a", proxied)
            await stream.aclose()
            assert status == 403  # an untrusted peer cannot vouch for the host either


class WhoAmI(Actor):
    async def on_connect(self, conn: Connection, request: Request) -> None:
        conn.send(json.dumps({"conn": conn.client, "request": request.client}))

    @rpc
    async def client(self, conn: Any) -> Any:
        return conn.client


async def test_conn_client_is_the_forwarded_client_from_trusted_proxies_only(
    tmp_path: Path,
) -> None:
    """``conn.client`` / ``request.client`` over WebSocket and HTTP rpc, behind a proxy."""
    app = App()
    app.actor("who", WhoAmI)
    forwarded = [("x-forwarded-for", "1.1.1.1, 198.51.100.7")]  # the client sent 1.1.1.1
    call = [*forwarded, ("content-type", "application/json")]
    with trio.fail_after(10):
        async with running(app, tmp_path) as server:
            port = server.port
            assert port is not None
            status, stream = await hold_upgrade(port, "/who/a", forwarded)
            assert status == 101
            frame = b""
            while len(frame) < 2 or len(frame) < 2 + frame[1]:  # one small unmasked frame
                frame += await stream.receive_some(1024)
            await stream.aclose()
            assert json.loads(frame[2:]) == {
                "conn": ["198.51.100.7", 0],
                "request": ["198.51.100.7", 0],
            }
            _, _, body = await ask(port, "POST", "/who/a/rpc/client", call, body=b"{}")
            assert json.loads(body) == {"value": ["198.51.100.7", 0]}
            # A port the proxy gives is kept (it is information); none is port 0.
            with_port = [("forwarded", 'for="[2001:db8::1]:4711"'), *call[1:]]
            _, _, body = await ask(port, "POST", "/who/a/rpc/client", with_port, body=b"{}")
            assert json.loads(body) == {"value": ["2001:db8::1", 4711]}
        async with running(app, tmp_path, forwarded_allow_ips=[]) as server:
            port = server.port
            assert port is not None
            _, _, body = await ask(port, "POST", "/who/a/rpc/client", call, body=b"{}")
            host, peer_port = json.loads(body)["value"]
            assert host == "127.0.0.1" and peer_port > 0  # the headers were ignored


async def test_bad_origins_or_proxies_stop_the_node_before_it_opens_anything(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match=r"allow_origins: 'example\.com'"):
        ServerConfig(allow_origins="example.com")
    with pytest.raises(ConfigError, match="forwarded_allow_ips: 'nonsense'"):
        ServerConfig.from_env({"ROOST_FORWARDED_ALLOW_IPS": "10.0.0.0/8, nonsense"})
    with trio.fail_after(30):
        status, err = await run_roost(
            "serve",
            str(EXAMPLES / "relay.py"),
            "--data-dir",
            str(tmp_path / "data"),
            "--allow-origin",
            "https://ok.example",
            "--allow-origin",
            "*.example.com",
        )
    assert status == 2
    assert "'*.example.com' is not an origin" in err
    assert not (tmp_path / "data").exists()
