"""The JavaScript client installs as users install it, and works with nothing else installed.

The package ships a prebuilt bundle (clients/js/dist, built by build.mjs from src/ with cbor-x
and ws inside), so it has no runtime dependencies to install. From a copy of clients/js without
node_modules (what a fresh checkout or ``git archive`` gives: nobody ran ``npm ci``), in a fresh
directory: ``npm install`` of (1) the copy as it is (npm makes a symlink and installs nothing
else), (2) the copy with ``--install-links`` (npm copies it) and (3) the tarball of ``npm pack``.
Then a Node script imports ``roost-client`` by name, builds the URL with ``actorUrl`` and makes
an rpc call in JSON and in CBOR to a real server, without passing a WebSocket class (Node 20 has
none: the client uses its bundled ws). Skipped loudly without Node (``ROOST_REQUIRE_NODE=1``
makes that a failure); needs no npm registry.
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

const seen = {};
for (const encoding of ["json", "cbor"]) {
  const url = actorUrl(process.argv[2], "whoami", "a/b é", { params: { token: "t" } });
  const client = connect(url, {
    encoding,
    headers: { Authorization: "Bearer x" },
    reconnect: false,
    callTimeout: 10_000,
  });
  try {
    seen[encoding] = await client.call("whoami");
  } finally {
    await client.close();
  }
}
console.log(JSON.stringify(seen));
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
    quiet = ["--no-audit", "--no-fund", "--offline"]
    if how in ("link", "install-links"):
        copy = scratch / "checkout"
        shutil.copytree(CLIENT, copy, ignore=shutil.ignore_patterns("node_modules"))
        links = ["--install-links"] if how == "install-links" else []
        _run([npm, "install", *quiet, *links, str(copy)], project)
        assert not (copy / "node_modules").exists()
    else:
        packed = _run([npm, "pack", "--json", "--pack-destination", str(scratch)], CLIENT)
        tarball = scratch / json.loads(packed.stdout)[0]["filename"]
        with tarfile.open(tarball) as archive:
            names = set(archive.getnames())
        assert {
            "package/dist/roost.js",
            "package/dist/roost.browser.js",
            "package/dist/LICENSES.txt",
            "package/index.d.ts",
        } <= names
        assert not any(
            name.startswith(("package/test/", "package/node_modules/", "package/src/"))
            for name in names
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
    # Nothing but the client: cbor-x and ws are inside its bundle.
    assert sorted(p.name for p in (project / "node_modules").iterdir() if p.name[0] != ".") == [
        "roost-client"
    ]
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
    whoami = {
        "type": "whoami",
        "key": "a/b é",
        "query": {"token": "t"},
        "headers": {"authorization": "Bearer x"},
    }
    assert json.loads(done.stdout) == {"json": whoami, "cbor": whoami}
