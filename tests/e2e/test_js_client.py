"""The JavaScript client's own tests (clients/js/test, Node's test runner), run from pytest.

They start real ``roost serve`` processes with this interpreter (``ROOST_PYTHON``). Without
``node`` the test is skipped, loudly; CI sets ``ROOST_REQUIRE_NODE=1`` to make that a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import node_project

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "js"


def _show(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def test_js_client_against_real_servers() -> None:
    node = node_project(CLIENT, "THE JAVASCRIPT CLIENT (clients/js)")
    files = sorted(str(path) for path in (CLIENT / "test").glob("*.test.js"))
    assert files, "no clients/js/test/*.test.js"
    result = subprocess.run(
        [node, "--test", "--test-reporter=spec", *files],
        cwd=CLIENT,
        env={**os.environ, "ROOST_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, "node --test failed\n" + _show(result)
