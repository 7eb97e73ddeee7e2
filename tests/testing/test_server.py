"""TestServer itself: HTTP requests, no port used, its data directory, its public surface."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import roost.testing
from roost import Actor, App, ConfigError, Request, Response, RoostError
from roost.testing import TestClientRefused, TestServer

ROOT = Path(__file__).resolve().parents[2]


class Greeter(Actor):
    async def on_request(self, request: Request) -> Response:
        return Response.json(
            {
                "method": request.method,
                "key": self.key,
                "rest": request.rest,
                "query": dict(request.query),
                "body": request.text(),
                "header": request.headers.get("x-test"),
            },
            headers={"x-greeter": "yes"},
        )


class Silent(Actor):
    """No on_request: the default answers 405."""


def make_app() -> App:
    app = App()
    app.actor("greeter", Greeter)
    app.actor("silent", Silent)
    return app


async def test_requests_reach_on_request_and_the_runtime_endpoints() -> None:
    with trio.fail_after(10):
        async with TestServer(make_app()) as t:
            response = await t.request(
                "POST", "/greeter/k%2F1/hello?x=1", body="☃".encode(), headers={"X-Test": "t"}
            )
            assert response.status == 200
            assert response.headers["content-type"] == "application/json"
            assert response.headers["x-greeter"] == "yes"
            assert response.json() == {
                "method": "POST",
                "key": "k/1",
                "rest": "/hello",
                "query": {"x": "1"},
                "body": "☃",
                "header": "t",
            }
            assert (await t.request("GET", "/silent/a")).status == 405
            missing = await t.request("GET", "/nothing/a")
            assert (missing.status, missing.text()) == (404, "no actor type serves this path\n")
            health = await t.request("GET", "/_roost/health")
            assert (health.status, health.json()) == (200, {"status": "ok"})
            metrics = await t.request("GET", "/_roost/metrics")
            assert metrics.status == 200
            assert re.search(r"^roost_activations_total 2\.0$", metrics.text(), re.MULTILINE)
            assert "roost_connections 0.0" in metrics.text()


async def test_the_kit_uses_no_port(
    monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.abc.Clock
) -> None:
    """Every TCP connect fails in this test, yet clients and requests work."""

    def no_tcp(self: socket.socket, *args: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError("the test kit made a TCP connection")
        return original(self, *args)

    original = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", no_tcp)
    monkeypatch.setattr(socket.socket, "connect_ex", no_tcp)
    with trio.fail_after(60):
        async with TestServer(make_app()) as t:
            assert t.statistics().connections == 0
            async with t.connect("/silent/a") as client:
                await client.ping()
                assert (await t.request("GET", "/greeter/a")).status == 200
                await trio.testing.wait_all_tasks_blocked()  # the server saw the request end
                stats = t.statistics()
                assert (stats.connections, stats.websockets) == (1, 1)
            await trio.testing.wait_all_tasks_blocked()
            assert t.statistics().connections == 0
        with socket.socket() as probe, pytest.raises(AssertionError, match="TCP"):
            probe.connect(("127.0.0.1", 9))  # the guard works


async def test_a_temporary_data_dir_is_removed_a_given_one_kept(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with TestServer(make_app()) as t:
            made = trio.Path(t.server.config.data_dir)
            assert await made.is_dir() and made != tmp_path
        assert not await made.exists()
        async with TestServer(make_app(), data_dir=tmp_path) as t:
            assert t.server.config.data_dir == tmp_path
        assert await trio.Path(tmp_path).is_dir()


async def test_config_overrides_but_no_host_or_port() -> None:
    async with TestServer(make_app(), idle_timeout=7, max_message_size=99) as t:
        assert (t.server.config.idle_timeout, t.server.config.max_message_size) == (7, 99)
    with pytest.raises(RuntimeError, match="not running"):
        await t.connect("/greeter/a")
    with pytest.raises(RuntimeError, match="not running"):
        await t.request("GET", "/greeter/a")
    for setting in ({"host": "0.0.0.0"}, {"port": 80}, {"idle_timeout": -1}):
        with pytest.raises(ConfigError):
            TestServer(make_app(), **setting)


async def test_errors_of_the_test_come_out_unwrapped() -> None:
    with trio.fail_after(10), pytest.raises(ZeroDivisionError):
        async with TestServer(make_app()):
            1 / 0  # noqa: B018
    with trio.fail_after(10), pytest.raises(KeyError):
        async with TestServer(make_app()) as t, t.connect("/silent/a"):
            raise KeyError("inside a client")


def test_public_surface() -> None:
    assert set(roost.testing.__all__) == {
        "StorageView",
        "TestClient",
        "TestClientRefused",
        "TestResponse",
        "TestServer",
    }
    assert issubclass(TestClientRefused, RoostError)
    for name in roost.testing.__all__:  # imported into test modules, never collected
        assert getattr(getattr(roost.testing, name), "__test__", False) is False


def test_the_docs_show_the_tested_example() -> None:
    """docs/testing.md embeds tests/testing/test_docs_example.py verbatim."""
    doc = (ROOT / "docs" / "testing.md").read_text()
    example = (ROOT / "tests" / "testing" / "test_docs_example.py").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.DOTALL)
    assert example in blocks
