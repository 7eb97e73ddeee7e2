"""actor_url percent-encodes keys so that any key reaches its own actor; headers and a query
token reach the server; error messages and repr never show the query or the headers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

import roost.client
from roost import App, HandshakeError
from roost.cli import load_app
from roost.client import Disconnected, actor_url
from tests.support import http

from .conftest import serving

#: Keys that a URL written by hand would turn into another key, a query or a fragment.
KEYS = ["a/b", "é ?#", "%2F", "two  spaces ", "a+b&c=d;e", "...", "日本語/../x", "k" * 512]
WHOAMI = Path(__file__).with_name("whoami_app.py")


@pytest.fixture(scope="module")
def whoami_app() -> App:
    return load_app(str(WHOAMI))


def test_actor_url_percent_encodes_every_reserved_character() -> None:
    base = "ws://127.0.0.1:8787"
    assert actor_url(base, "chat", "lobby") == "ws://127.0.0.1:8787/chat/lobby"
    assert actor_url(base, "chat", "a/b") == "ws://127.0.0.1:8787/chat/a%2Fb"
    assert actor_url(base, "chat", "é ?#") == "ws://127.0.0.1:8787/chat/%C3%A9%20%3F%23"
    assert actor_url(base, "chat", "%2F") == "ws://127.0.0.1:8787/chat/%252F"
    assert actor_url("https://h/prefix/", "t", "k") == "wss://h/prefix/t/k"
    assert actor_url("http://h", "t", "k", params={"user": "a b", "token": "x/y+z="}) == (
        "ws://h/t/k?user=a%20b&token=x%2Fy%2Bz%3D"
    )
    assert actor_url("wss://h:9", "t", "k", params=[("a", "1"), ("a", "2")]) == (
        "wss://h:9/t/k?a=1&a=2"
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("ftp://h", "t", "k"), ValueError),
        (("ws://", "t", "k"), ValueError),
        (("h:8787", "t", "k"), ValueError),
        (("ws://h?x=1", "t", "k"), ValueError),
        (("ws://h#f", "t", "k"), ValueError),
        (("ws://h", "t", ""), ValueError),
        (("ws://h", "t", "."), ValueError),
        (("ws://h", "t", ".."), ValueError),
        (("ws://h", "..", "k"), ValueError),
        (("ws://h", "", "k"), ValueError),
        (("ws://h", "t", "a\x00b"), ValueError),
        (("ws://h", "t", "line\nbreak"), ValueError),
        (("ws://h", "t", "del\x7f"), ValueError),
        (("ws://h", "t", "c1\x85"), ValueError),
        (("ws://h", "t", "\ud800"), ValueError),
        (("ws://h", "t", 7), TypeError),
    ],
)
def test_actor_url_refuses_what_no_server_would_take(args: tuple[Any, ...], error: type) -> None:
    with pytest.raises(error):
        actor_url(*args)


def test_actor_url_refuses_bad_params() -> None:
    with pytest.raises(TypeError):
        actor_url("ws://h", "t", "k", params={"n": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        actor_url("ws://h", "t", "k", params=[("a",)])  # type: ignore[list-item]


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-WebSocket-Protocol": "x"},
        {"host": "elsewhere"},
        {"Bad Name": "v"},
        {"X-Token": "a\r\nInjected: 1"},
        {"X-Token": "snow ☃"},
        [("X-Token", 5)],
    ],
)
async def test_bad_headers_are_refused_before_connecting(headers: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        async with roost.client.connect("ws://127.0.0.1:1/t/k", headers=headers):
            pass


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("encoding", ["cbor", "raw"])
async def test_any_key_round_trips_through_a_real_server(
    tmp_path: Path, whoami_app: App, key: str, encoding: Any
) -> None:
    with trio.fail_after(10):
        async with serving(whoami_app, tmp_path) as server:
            base = f"ws://127.0.0.1:{server.port}"
            async with roost.client.connect(
                actor_url(base, "whoami", key), encoding=encoding
            ) as actor:
                if encoding == "raw":
                    await actor.send("key?")
                    assert await actor.receive() == key
                else:
                    seen = await actor.call("whoami")
                    assert (seen["type"], seen["key"]) == ("whoami", key)
            # HTTP reaches the same actor with the same encoding of the key.
            path = actor_url(base, "whoami", key).removeprefix(base)
            status, _, body = await http(server, "GET", path)
            assert status == 200
            assert json.loads(body)["key"] == key


async def test_too_long_and_control_keys_are_refused_by_the_server(
    tmp_path: Path, whoami_app: App
) -> None:
    with trio.fail_after(10):
        async with serving(whoami_app, tmp_path) as server:
            base = f"ws://127.0.0.1:{server.port}"
            with pytest.raises(HandshakeError) as refused:
                async with roost.client.connect(actor_url(base, "whoami", "é" * 257)):
                    pass
            assert refused.value.status == 400
            # A control character written by hand (actor_url refuses it) is refused too.
            with pytest.raises(HandshakeError) as refused:
                async with roost.client.connect(f"{base}/whoami/a%0Ab"):
                    pass
            assert refused.value.status == 400


async def test_headers_and_a_query_token_reach_on_connect(tmp_path: Path, whoami_app: App) -> None:
    with trio.fail_after(10):
        async with serving(whoami_app, tmp_path) as server:
            url = actor_url(
                f"ws://127.0.0.1:{server.port}",
                "whoami",
                "room/1",
                params={"user": "ann", "token": "t0k/en+="},
            )
            headers = {"Authorization": "Bearer s3cret", "X-Trace": "a b"}
            async with roost.client.connect(url, headers=headers) as actor:
                seen = await actor.call("whoami")
                assert "s3cret" not in repr(actor) and "t0k" not in repr(actor)
                assert "room%2F1" in repr(actor)
    assert seen == {
        "type": "whoami",
        "key": "room/1",
        "query": {"user": "ann", "token": "t0k/en+="},
        "headers": {"authorization": "Bearer s3cret", "x-trace": "a b"},
    }


async def test_errors_never_show_the_query_or_user_info() -> None:
    with trio.fail_after(10):
        url = "ws://user:pw@127.0.0.1:1/whoami/k?token=s3cret"
        with pytest.raises(Disconnected) as failed:
            async with roost.client.connect(url, headers={"X-Token": "h3ader"}):
                pass
        text = str(failed.value)
        assert "127.0.0.1:1/whoami/k" in text
        assert not any(secret in text for secret in ("s3cret", "pw", "h3ader", "token"))
        with pytest.raises(ValueError) as bad:
            async with roost.client.connect("http://h/k?token=s3cret"):
                pass
        assert "s3cret" not in str(bad.value)


async def test_credentials_pass_the_authenticate_hook(tmp_path: Path) -> None:
    """Through ``@app.authenticate``: a bearer header, a query token and a cookie get in (the
    identity reaches the actor); a wrong token is refused with 401 and is not retried."""
    app = load_app(str(Path(__file__).with_name("auth_app.py")))
    with trio.fail_after(10):
        async with serving(app, tmp_path) as server:
            base = f"ws://127.0.0.1:{server.port}"
            url = actor_url(base, "me", "a/b")
            async with roost.client.connect(url, headers={"Authorization": "Bearer good"}) as c:
                assert await c.call("me") == {"user": "ann", "via": "header"}
            token_url = actor_url(base, "me", "a/b", params={"token": "good"})
            async with roost.client.connect(token_url) as c:
                assert await c.call("me") == {"user": "ann", "via": "query"}
            async with roost.client.connect(url, headers={"Cookie": "session=good"}) as c:
                assert await c.call("me") == {"user": "ann", "via": "cookie"}
            for headers in ({"Authorization": "Bearer bad"}, {}):
                with pytest.raises(HandshakeError) as refused:
                    async with roost.client.connect(url, headers=headers):
                        pass
                assert refused.value.status == 401
                assert "bad" not in str(refused.value)
