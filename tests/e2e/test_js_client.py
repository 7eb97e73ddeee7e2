"""The JavaScript client's own tests (clients/js/test, Node's test runner), run from pytest.

They start real ``roost serve`` processes with this interpreter (``ROOST_PYTHON``). Without
``node`` the test is skipped, loudly; CI sets ``ROOST_REQUIRE_NODE=1`` to make that a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "js"


def _missing(tool: str) -> NoReturn:
    """Skip, or fail when ROOST_REQUIRE_NODE=1, because ``tool`` is not installed."""
    reason = (
        f"!!! {tool.upper()} IS NOT INSTALLED: THE JAVASCRIPT CLIENT (clients/js) "
        "WAS NOT TESTED !!! (install Node 20+; ROOST_REQUIRE_NODE=1 makes this a failure)"
    )
    if os.environ.get("ROOST_REQUIRE_NODE") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _show(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def test_js_client_against_real_servers() -> None:
    node = shutil.which("node")
    if node is None:
        _missing("node")
    if not (CLIENT / "node_modules").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            _missing("npm")
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=CLIENT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert installed.returncode == 0, "npm ci failed\n" + _show(installed)
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
