"""Static files beside the actors (``App.static``): content types, HEAD, methods, precedence,
and every way a path could try to leave the directory."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import trio

from roost import Actor, App, ConfigError, Request, Response
from tests.support import http, refused_upgrade, running


class Echo(Actor):
    async def on_request(self, request: Request) -> Response:
        return Response.text(f"actor {self.key}{request.rest}")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """tmp/site served at /, tmp/client at /client/, tmp/secret.txt outside both."""
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "app.js").write_text("export const x = 1;")
    (root / "style.CSS").write_text("body {}")
    (root / "data.bin").write_bytes(b"\x00\x01")
    (root / "sub" / "index.html").write_text("sub home")
    (root / "sub" / "page.txt").write_text("sub page")
    (root / "sp ace.txt").write_text("space")
    (root / ".env").write_text("SECRET=1")
    (root / "inside").symlink_to(root / "sub" / "page.txt")
    (root / "outside").symlink_to(tmp_path / "secret.txt")
    (root / "outdir").symlink_to(tmp_path)
    (tmp_path / "secret.txt").write_text("top secret")
    (tmp_path / "client").mkdir()
    (tmp_path / "client" / "roost.js").write_text("client")
    return root


def make_app(site: Path) -> App:
    app = App()
    app.actor("echo", Echo)
    app.static("/", site)
    app.static("/client/", site.parent / "client", index=None)
    return app


async def test_files_with_their_content_types(site: Path, tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(site), tmp_path / "data") as server:
            cases = {
                "/": (b"<h1>home</h1>", "text/html; charset=utf-8"),
                "/index.html": (b"<h1>home</h1>", "text/html; charset=utf-8"),
                "/app.js?v=2": (b"export const x = 1;", "text/javascript; charset=utf-8"),
                "/style.CSS": (b"body {}", "text/css; charset=utf-8"),
                "/data.bin": (b"\x00\x01", "application/octet-stream"),
                "/sub/": (b"sub home", "text/html; charset=utf-8"),
                "/sub/page.txt": (b"sub page", "text/plain; charset=utf-8"),
                "/s%75b/page.txt": (b"sub page", "text/plain; charset=utf-8"),
                "/sp%20ace.txt": (b"space", "text/plain; charset=utf-8"),
                "/inside": (b"sub page", "application/octet-stream"),
                "/client/roost.js": (b"client", "text/javascript; charset=utf-8"),
            }
            for path, (body, content_type) in cases.items():
                status, headers, got = await http(server, "GET", path)
                assert (status, got, headers["content-type"]) == (200, body, content_type), path
                assert headers["x-content-type-options"] == "nosniff"

            status, headers, got = await http(server, "HEAD", "/app.js")
            assert (status, got, headers["content-length"]) == (200, b"", "19")


async def test_actors_come_first_and_the_rest_is_404(site: Path, tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(site), tmp_path / "data") as server:
            status, _, body = await http(server, "GET", "/echo/k/x")
            assert (status, body) == (200, b"actor k/x")
            for path in ("/missing.txt", "/sub", "/sub/missing", "/client/", "/client/x.js"):
                assert (await http(server, "GET", path))[0] == 404, path
            # WebSocket upgrades still go to actors only.
            assert (await refused_upgrade(server, "/"))[0] == 404


async def test_traversal_and_hidden_files_are_refused(site: Path, tmp_path: Path) -> None:
    refused = {
        "/../secret.txt": 400,
        "/sub/../../secret.txt": 400,
        "/%2e%2e/secret.txt": 400,
        "/%2E%2E/secret.txt": 400,
        "/.%2e/secret.txt": 400,
        "/sub/%2e%2e%2f%2e%2e%2fsecret.txt": 400,
        "/..%2Fsecret.txt": 400,
        "/..%5Csecret.txt": 400,
        "/sub/./page.txt": 400,
        "/index.html%00.txt": 400,
        "/%00": 400,
        "/%zz": 400,
        "/%ff": 400,
        "/.env": 404,
        "/%2eenv": 404,
        "//secret.txt": 404,
        "/sub//page.txt": 404,
        "/outside": 404,
        "/outdir/secret.txt": 404,
        "/client/../secret.txt": 400,
    }
    with trio.fail_after(10):
        async with running(make_app(site), tmp_path / "data") as server:
            for path, expected in refused.items():
                status, _, body = await http(server, "GET", path)
                assert status == expected, path
                assert b"top secret" not in body and b"SECRET" not in body


async def test_only_get_and_head(site: Path, tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(site), tmp_path / "data") as server:
            for method in ("POST", "PUT", "DELETE", "OPTIONS"):
                status, headers, _ = await http(server, method, "/index.html", body=b"x")
                assert (status, headers.get("allow")) == (405, "GET, HEAD"), method


async def test_files_over_the_limit_are_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "small.txt").write_bytes(b"x" * 10)
    (tmp_path / "web" / "big.txt").write_bytes(b"x" * 11)
    app = App()
    app.static("/", tmp_path / "web", max_file_bytes=10)
    with trio.fail_after(10), caplog.at_level(logging.ERROR, logger="roost.static"):
        async with running(app, tmp_path / "data") as server:
            assert (await http(server, "GET", "/small.txt"))[0] == 200
            assert (await http(server, "GET", "/big.txt"))[:3:2] == (
                500,
                b"file too large to serve\n",
            )
    assert "over max_file_bytes" in caplog.text


def test_mount_configuration_errors(tmp_path: Path) -> None:
    app = App()
    app.actor("echo", Echo)
    for prefix in ("", "web", "/web", "web/", "/../", "/./", "/.git/", "//", "/a//", "/a b/"):
        with pytest.raises(ConfigError, match="must be"):
            app.static(prefix, tmp_path)
    with pytest.raises(ConfigError, match="_roost"):
        app.static("/_roost/", tmp_path)
    with pytest.raises(ConfigError, match="actor type"):
        app.static("/echo/", tmp_path)
    with pytest.raises(ConfigError, match="not a directory"):
        app.static("/", tmp_path / "missing")
    with pytest.raises(ConfigError, match="plain file name"):
        app.static("/", tmp_path, index="../index.html")
    with pytest.raises(ConfigError, match="at least 1"):
        app.static("/", tmp_path, max_file_bytes=0)
    app.static("/web/a/", os.fspath(tmp_path))
    with pytest.raises(ConfigError, match="already mounted"):
        app.static("/web/a/", tmp_path)
    with pytest.raises(ConfigError, match="shadow a static mount"):
        app.actor("web", Echo)


async def test_head_sends_the_headers_of_get_without_the_body(site: Path, tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with running(make_app(site), tmp_path / "data") as server:
            for path in ("/_roost/health", "/echo/k", "/sub/page.txt"):
                _, get_headers, get_body = await http(server, "GET", path)
                status, headers, body = await http(server, "HEAD", path)
                assert (status, body) == (200, b""), path
                assert headers == get_headers, path
                assert headers["content-length"] == str(len(get_body)) != "0", path
