"""The JavaScript client (clients/js): its own tests, and the bundles it ships.

The package ships ``dist/roost.js`` (Node: the client with cbor-x and ws inside) and
``dist/roost.browser.js`` (browsers and bundlers: the client with cbor-x), which
``clients/js/build.mjs`` makes from ``src/``. Here: the committed bundles are byte for byte what
the build makes (so they cannot drift from the source); the client's own tests (clients/js/test,
Node's test runner, real ``roost serve`` processes run with this interpreter) pass against the
Node bundle; the browser bundle imports nothing and makes calls in JSON and CBOR to a real
server, under Node and, served as it is, in headless Chromium (tests/browser's playwright-core).
Without ``node`` (or ``chromium``) the tests are skipped, loudly; CI sets ``ROOST_REQUIRE_NODE=1``
(and ``ROOST_REQUIRE_BROWSER=1``) to make that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from roost import App
from roost.cli import load_app
from tests.client.whoami_app import WhoAmI
from tests.support import missing_tool, node_project, running

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "js"
DIST = CLIENT / "dist"
BUNDLED = ("roost.js", "roost.browser.js", "LICENSES.txt")
WHOAMI = ROOT / "tests" / "client" / "whoami_app.py"
BROWSER_TESTS = ROOT / "tests" / "browser"
UNTESTED = "THE JAVASCRIPT CLIENT (clients/js)"

#: Calls whoami in both encodings through the browser bundle, with the ws package's WebSocket
#: standing in for a browser's (Node 20 has none).
BROWSER_SCRIPT = """
import WebSocket from "ws";
import { actorUrl, connect } from "./dist/roost.browser.js";

const seen = {};
for (const encoding of ["json", "cbor"]) {
  const url = actorUrl(process.argv[1], "whoami", "k é", { params: { token: "t" } });
  const client = connect(url, { encoding, WebSocket, reconnect: false, callTimeout: 10_000 });
  try {
    seen[encoding] = await client.call("whoami");
  } finally {
    await client.close();
  }
}
console.log(JSON.stringify(seen));
"""

#: A page that calls whoami in both encodings through the bundle, served as it is.
PAGE = """<!doctype html>
<meta charset="utf-8" />
<title>roost-client bundle</title>
<script type="module">
  import { actorUrl, connect } from "/dist/roost.browser.js";

  try {
    const seen = {};
    for (const encoding of ["json", "cbor"]) {
      const url = actorUrl(location.origin, "whoami", "k é", { params: { token: "t" } });
      const client = connect(url, { encoding, reconnect: false, callTimeout: 10000 });
      try {
        seen[encoding] = await client.call("whoami");
      } finally {
        await client.close();
      }
    }
    window.result = { seen };
  } catch (error) {
    window.result = { error: String(error) };
  }
</script>
"""

#: Opens the page in Chromium (playwright-core, from tests/browser) and prints its result.
CHROMIUM_SCRIPT = """
import { chromium } from "playwright-core";

const [url, executablePath] = process.argv.slice(1);
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
  timeout: 60_000,
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(url);
  await page.waitForFunction(() => window.result !== undefined, null, { timeout: 30_000 });
  console.log(JSON.stringify({ ...(await page.evaluate(() => window.result)), errors }));
} finally {
  await browser.close();
}
"""


def _show(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def test_the_committed_bundles_are_what_the_build_makes(tmp_path: Path) -> None:
    node = node_project(CLIENT, UNTESTED)
    built = subprocess.run(
        [node, "build.mjs", "--outdir", str(tmp_path)],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, "build.mjs failed\n" + _show(built)
    assert sorted(path.name for path in DIST.iterdir()) == sorted(BUNDLED)
    for name in BUNDLED:
        assert (tmp_path / name).read_bytes() == (DIST / name).read_bytes(), (
            f"clients/js/dist/{name} differs from a fresh build of src/: run "
            "`cd clients/js && npm ci && npm run build` and commit dist/"
        )
    licenses = (DIST / "LICENSES.txt").read_text()
    assert "\ncbor-x " in licenses and "\nws " in licenses


def test_js_client_against_real_servers() -> None:
    node = node_project(CLIENT, UNTESTED)
    files = sorted(str(path) for path in (CLIENT / "test").glob("*.test.js"))
    assert files, "no clients/js/test/*.test.js"
    result = subprocess.run(
        [node, "--test", "--test-reporter=spec", *files],
        cwd=CLIENT,
        # The codec's unit tests import src/ directly; the rest use the Node bundle.
        env={**os.environ, "ROOST_PYTHON": sys.executable, "ROOST_CLIENT_MODULE": "dist/roost.js"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, "node --test failed\n" + _show(result)


async def test_the_browser_bundle_imports_nothing_and_calls_a_real_server(tmp_path: Path) -> None:
    bundle = (DIST / "roost.browser.js").read_text()
    # No import or require of anything (Node's modules, ws, cbor-x): it runs as it is.
    assert not re.search(r"""^\s*import\s|\bfrom\s*["']|\brequire\(["']|["']node:""", bundle, re.M)
    node = node_project(CLIENT, UNTESTED)
    with trio.fail_after(60):
        async with running(load_app(str(WHOAMI)), tmp_path) as server:
            done = await trio.run_process(
                [
                    node,
                    "--input-type=module",
                    "-e",
                    BROWSER_SCRIPT,
                    f"ws://127.0.0.1:{server.port}",
                ],
                cwd=CLIENT,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
    assert done.returncode == 0, done.stderr.decode()
    whoami = {"type": "whoami", "key": "k é", "query": {"token": "t"}, "headers": {}}
    assert json.loads(done.stdout) == {"json": whoami, "cbor": whoami}


@pytest.fixture
def browser_tools() -> tuple[str, str]:
    """node (with tests/browser's playwright-core) and chromium, or a loud skip."""
    untested = "THE JAVASCRIPT CLIENT'S BROWSER BUNDLE (clients/js/dist/roost.browser.js)"
    chromium = os.environ.get("ROOST_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        missing_tool("chromium", untested, require="ROOST_REQUIRE_BROWSER")
    return node_project(BROWSER_TESTS, untested), chromium


async def test_the_browser_bundle_served_as_it_is_works_in_chromium(
    browser_tools: tuple[str, str], tmp_path: Path
) -> None:
    node, chromium = browser_tools
    page = tmp_path / "page"
    page.mkdir()
    (page / "index.html").write_text(PAGE)
    app = App()
    app.actor("whoami", WhoAmI)
    app.static("/dist/", DIST, index=None)
    app.static("/", page)
    with trio.fail_after(120):
        async with running(app, tmp_path / "data") as server:
            done = await trio.run_process(
                [
                    node,
                    "--input-type=module",
                    "-e",
                    CHROMIUM_SCRIPT,
                    f"http://127.0.0.1:{server.port}/",
                    chromium,
                ],
                cwd=BROWSER_TESTS,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
    assert done.returncode == 0, done.stderr.decode()
    whoami = {"type": "whoami", "key": "k é", "query": {"token": "t"}, "headers": {}}
    assert json.loads(done.stdout) == {"seen": {"json": whoami, "cbor": whoami}, "errors": []}
