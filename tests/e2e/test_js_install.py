"""The JavaScript client installs as users install it, and works with its own dependencies.

In a fresh directory, ``npm install`` of (1) the repository's clients/js (a symlink: Node then
resolves cbor-x and ws from clients/js/node_modules), (2) a copy of it without node_modules,
with ``--install-links`` (a checkout where nobody ran ``npm ci``: npm copies the package and
installs its dependencies) and (3) the tarball of ``npm pack``; then a Node script imports
``roost-client`` by name, builds the URL with ``actorUrl`` and makes an rpc call in CBOR to a
real server, without passing a WebSocket class (Node 20 has none: the client loads ws).
Skipped loudly without Node (``ROOST_REQUIRE_NODE=1`` makes that a failure); needs the npm
registry for (2) and (3), or npm's cache.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import trio

from roost.cli import load_app
from tests.support import missing_tool, node_project, running

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "js"
WHOAMI = ROOT / "tests" / "client" / "whoami_app.py"

SCRIPT = """
import { actorUrl, connect } from "roost-client";

const client = connect(actorUrl(process.argv[2], "whoami", "a/b é", { params: { token: "t" } }), {
  encoding: "cbor",
  headers: { Authorization: "Bearer x" },
  reconnect: false,
  callTimeout: 10_000,
});
try {
  console.log(JSON.stringify(await client.call("whoami")));
} finally {
  await client.close();
}
"""


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        missing_tool("npm", "INSTALLING THE JAVASCRIPT CLIENT")
    return npm


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _install(how: str, npm: str, project: Path, scratch: Path) -> None:
    """Install roost-client into ``project`` the way ``how`` names."""
    quiet = ["--no-audit", "--no-fund"]
    if how == "link":
        _run([npm, "install", *quiet, str(CLIENT)], project)
    elif how == "install-links":
        copy = scratch / "checkout"
        shutil.copytree(CLIENT, copy, ignore=shutil.ignore_patterns("node_modules", "test"))
        _run([npm, "install", *quiet, "--install-links", str(copy)], project)
        assert not (copy / "node_modules").exists()
    else:
        packed = _run([npm, "pack", "--json", "--pack-destination", str(scratch)], CLIENT)
        tarball = scratch / json.loads(packed.stdout)[0]["filename"]
        with tarfile.open(tarball) as archive:
            names = set(archive.getnames())
        assert {"package/src/roost.js", "package/src/urls.js", "package/index.d.ts"} <= names
        assert not any(
            name.startswith(("package/test/", "package/node_modules/")) for name in names
        )
        _run([npm, "install", *quiet, str(tarball)], project)


@pytest.mark.parametrize("how", ["link", "install-links", "tarball"])
async def test_an_installed_client_calls_a_real_server(tmp_path: Path, how: str) -> None:
    node = node_project(CLIENT, "INSTALLING THE JAVASCRIPT CLIENT")
    npm = _npm()
    project, scratch = tmp_path / "project", tmp_path / "scratch"
    project.mkdir()
    scratch.mkdir()
    (project / "package.json").write_text('{"name": "uses-roost", "private": true}\n')
    await trio.to_thread.run_sync(_install, how, npm, project, scratch)
    installed = project / "node_modules" / "roost-client"
    assert installed.is_symlink() is (how == "link")
    (project / "call.mjs").write_text(SCRIPT)
    with trio.fail_after(60):
        async with running(load_app(str(WHOAMI)), tmp_path / "data") as server:
            base = f"ws://127.0.0.1:{server.port}"
            done = await trio.run_process(
                [node, "call.mjs", base],
                cwd=project,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == {
        "type": "whoami",
        "key": "a/b é",
        "query": {"token": "t"},
        "headers": {"authorization": "Bearer x"},
    }
