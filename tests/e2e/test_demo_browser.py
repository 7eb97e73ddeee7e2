"""Two people on the browser demo, in headless Chromium: edits, cursors, who is here, chat.

``roost serve examples/demo.py`` runs as a real process; ``tests/browser/two_users.mjs`` drives
Debian's ``chromium`` through playwright-core (npm) and prints what each page showed, which is
asserted here. Without chromium (or node, npm) the test is skipped, loudly; CI installs
chromium and sets ``ROOST_REQUIRE_BROWSER=1`` (and ``ROOST_REQUIRE_NODE=1``) to make that a
failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.e2e.test_cli import start
from tests.support import EXAMPLES, missing_tool, node_project

ROOT = Path(__file__).resolve().parents[2]
BROWSER_TESTS = ROOT / "tests" / "browser"
UNTESTED = "THE BROWSER DEMO (examples/demo.py)"


def _show(result: subprocess.CompletedProcess[Any]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


@pytest.fixture
def tools() -> tuple[str, str]:
    """node (with tests/browser's npm packages installed) and chromium, or a loud skip.

    A fixture rather than a call in the test: a skip raised inside the trio test loses its
    reason in pytest's summary.
    """
    chromium = os.environ.get("ROOST_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        missing_tool("chromium", UNTESTED, require="ROOST_REQUIRE_BROWSER")
    return node_project(BROWSER_TESTS, UNTESTED), chromium


async def test_two_people_see_each_others_edits_cursors_and_messages(
    tools: tuple[str, str], tmp_path: Path
) -> None:
    node, chromium = tools
    screenshot = tmp_path / "demo.png"
    with trio.fail_after(180):
        server, port = await start(
            ["serve", str(EXAMPLES / "demo.py"), "--port", "0", "--data-dir", str(tmp_path)],
            env={"ROOST_HOST": "127.0.0.1"},
        )
        result = await trio.run_process(
            [node, "two_users.mjs", f"http://127.0.0.1:{port}", str(screenshot), chromium],
            cwd=BROWSER_TESTS,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        server.send_signal(signal.SIGTERM)
        assert await server.wait() == 0
    output = subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )
    assert result.returncode == 0, "the browser script failed\n" + _show(output)
    seen = json.loads(output.stdout.strip().splitlines()[-1])

    from_alice = "Plan for Friday\n\n- demo the shared editor\n- "
    from_bob = "review the chat history\n- ship it"
    # A types, B sees it; B types, A sees it; and both end on the same text.
    assert seen["bob_sees"] == from_alice
    assert seen["alice_sees"] == from_alice + from_bob
    assert seen["final_alice"] == seen["final_bob"] == "# " + from_alice + from_bob
    # Each sees the other's caret, named, where the other left it.
    assert seen["carets_on_alice"] == {"bob": {"index": len(from_alice + from_bob), "label": "bob"}}
    assert seen["carets_on_bob"] == {"alice": {"index": len(from_alice), "label": "alice"}}
    # Bob's "# " went in before Alice's caret: her caret moved with her text.
    assert seen["alice_selection"] == [seen["caret_index_before"] + 2] * 2
    # Who is here: yourself first, then the others.
    assert seen["people_on_alice"] == ["alice", "bob"]
    assert seen["people_on_bob"] == ["bob", "alice"]
    # Chat both ways, in order, on both pages.
    chat = [
        "alice: Hi Bob, I started the plan on the left.",
        "bob: Looks good! Adding my part now.",
    ]
    assert seen["chat_on_alice"] == seen["chat_on_bob"] == chat
    assert seen["errors"] == []
    assert screenshot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
