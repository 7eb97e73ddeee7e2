"""The JavaScript client (clients/js): its own tests, and the bundles it ships.

The package ships ``dist/roost.js`` (Node: the client with cbor-x and ws inside) and
``dist/roost.browser.js`` (browsers and bundlers: the client with cbor-x), which
``clients/js/build.mjs`` makes from ``src/``. Here: the committed bundles are byte for byte what
the build makes (so they cannot drift from the source); the client's own tests (clients/js/test,
Node's test runner, real ``roost serve`` processes run with this interpreter) pass against the
Node bundle; the browser bundle imports nothing and makes calls in JSON and CBOR to a real
server. Without ``node`` the tests are skipped, loudly; CI sets ``ROOST_REQUIRE_NODE=1`` to make
that a failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import trio

from roost.cli import load_app
from tests.support import node_project, running

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "js"
DIST = CLIENT / "dist"
BUNDLED = ("roost.js", "roost.browser.js", "LICENSES.txt")
WHOAMI = ROOT / "tests" / "client" / "whoami_app.py"
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
