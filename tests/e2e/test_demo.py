"""The browser demo's server side (examples/demo.py) and its committed bundle.

The page's every module import must be served with a JavaScript type by the demo app itself,
and ``examples/web/public/vendor.js`` must be exactly what ``examples/web/build.mjs`` makes
from ``package-lock.json`` (without Node that check is skipped, loudly; CI sets
``ROOST_REQUIRE_NODE=1``). tests/e2e/test_demo_browser.py runs the page in Chromium.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import trio

from roost.cli import load_app
from tests.support import EXAMPLES, http, node_project, running

WEB = EXAMPLES / "web"
PUBLIC = WEB / "public"
BUNDLED = ("vendor.js", "vendor.LICENSES.txt")
_IMPORT = re.compile(r"""^import .* from "([^"]+)";$|^export .* from "([^"]+)";$""", re.M)


async def test_the_demo_app_serves_the_page_and_every_module_it_imports(tmp_path: Path) -> None:
    app = load_app(str(EXAMPLES / "demo.py"))
    assert {t.name for t in app} == {"yjs", "presence", "chat"}
    with trio.fail_after(20):
        async with running(app, tmp_path) as server:
            status, headers, page = await http(server, "GET", "/?user=ada#notes")
            assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8")
            assert b'<script type="module" src="demo.js">' in page
            # Follow the imports from demo.js: our client from clients/js/src, vendor.js.
            todo, seen = ["/demo.js"], set()
            while todo:
                path = todo.pop()
                seen.add(path)
                status, headers, body = await http(server, "GET", path)
                assert status == 200, path
                assert headers["content-type"] == "text/javascript; charset=utf-8", path
                for match in _IMPORT.finditer(body.decode()):
                    target = match.group(1) or match.group(2)
                    assert target.startswith(("/", "./")), f"{path} imports {target}"
                    base = path.rsplit("/", 1)[0]
                    resolved = target if target.startswith("/") else f"{base}/{target[2:]}"
                    if resolved not in seen:
                        todo.append(resolved)
            assert {"/demo.js", "/vendor.js", "/client/roost.js", "/client/codec.js"} <= seen
            assert (await http(server, "GET", "/demo.css"))[1]["content-type"].startswith(
                "text/css"
            )
            assert (await http(server, "GET", "/vendor.LICENSES.txt"))[0] == 200
            # The npm build set-up is not served, nor anything beside the two directories.
            for path in ("/package.json", "/build.mjs", "/../demo.py", "/client/../roost.js"):
                assert (await http(server, "GET", path))[0] in (400, 404), path


def test_the_committed_bundle_is_what_the_build_makes(tmp_path: Path) -> None:
    node = node_project(WEB, "THE COMMITTED BUNDLE examples/web/public/vendor.js")
    built = subprocess.run(
        [node, "build.mjs", "--outdir", str(tmp_path)],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, f"build.mjs failed\n{built.stdout}{built.stderr}"
    for name in BUNDLED:
        assert (tmp_path / name).read_bytes() == (PUBLIC / name).read_bytes(), (
            f"examples/web/public/{name} differs from a fresh build: run "
            "`cd examples/web && npm ci && node build.mjs` and commit the result"
        )
    licenses = (PUBLIC / "vendor.LICENSES.txt").read_text()
    for package in ("yjs", "y-websocket", "y-protocols", "lib0"):
        assert f"\n{package} " in licenses
