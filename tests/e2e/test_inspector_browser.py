"""The inspector page in headless Chromium: an operator opens ``/_roost/?token=T`` and sees the
actors, connections, alarms, synced state, SQL and live charts of a running server.

``roost serve tests/e2e/inspector_app.py`` runs as a real process with the inspector on and an
admin token; this test opens WebSockets to it (two boards, one with a hostile key, and a
third connection that keeps sending so the charts move), then ``tests/browser/inspector.mjs``
drives Debian's ``chromium`` through playwright-core and prints what the page showed. Without
chromium (or node, npm) the test is skipped, loudly; CI sets ``ROOST_REQUIRE_BROWSER=1`` to
make that a failure. ``ROOST_UPDATE_SCREENSHOTS=1`` copies the screenshot to
docs/inspector.png, the picture the README shows.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import trio

from tests.e2e.test_cli import start
from tests.support import missing_tool, node_project, open_client

ROOT = Path(__file__).resolve().parents[2]
BROWSER_TESTS = ROOT / "tests" / "browser"
APP = Path(__file__).with_name("inspector_app.py")
UNTESTED = "THE WEB INSPECTOR (/_roost/)"
TOKEN = "insp3ct-T0ken"
HOSTILE = '<img src=x onerror="alert(1)"> 🙂 & </td>'


@pytest.fixture
def tools() -> tuple[str, str]:
    """node (with tests/browser's npm packages) and chromium, or a loud skip (a fixture: a
    skip raised inside the trio test loses its reason in pytest's summary)."""
    chromium = os.environ.get("ROOST_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        missing_tool("chromium", UNTESTED, require="ROOST_REQUIRE_BROWSER")
    return node_project(BROWSER_TESTS, UNTESTED), chromium


async def _keep_sending(port: int, done: trio.Event) -> None:
    """Traffic for the charts: a note every 50-150 ms on a board of its own."""
    async with open_client(f"ws://127.0.0.1:{port}/board/traffic?user=load") as ws:
        count = 0
        while not done.is_set():
            count += 1
            await ws.send_message(f"tick {count}")
            await ws.get_message()
            await trio.sleep(0.05 + 0.1 * (count % 7) / 7)  # a rate that moves, for the chart


async def test_the_inspector_page_shows_a_running_server(
    tools: tuple[str, str], tmp_path: Path
) -> None:
    node, chromium = tools
    screenshot = tmp_path / "inspector.png"
    with trio.fail_after(180):
        server, port = await start(
            ["serve", str(APP), "--port", "0", "--data-dir", str(tmp_path / "data")],
            env={
                "ROOST_HOST": "127.0.0.1",
                "ROOST_INSPECTOR": "true",
                "ROOST_ADMIN_TOKEN": TOKEN,
                "ROOST_SYNC_INTERVAL": "0.2",
            },
        )
        base = f"ws://127.0.0.1:{port}/board/"
        async with (
            open_client(base + "plan?user=ann") as ann,
            open_client(base + "plan?user=carol") as carol,
            open_client(base + quote(HOSTILE, safe="") + "?user=bob") as bob,
            trio.open_nursery() as nursery,
        ):
            for ws, note in ((ann, "ship the inspector"), (carol, "take a picture"), (bob, "<b>")):
                await ws.send_message(note)
                assert (await ws.get_message()).startswith("ok ")
            for key in ("standup", "retro-2024", "lobby"):  # a few more, without connections
                async with open_client(base + key) as ws:
                    await ws.send_message("hello")
                    await ws.get_message()
            done = trio.Event()
            nursery.start_soon(_keep_sending, port, done)
            script = ["inspector.mjs", f"http://127.0.0.1:{port}", TOKEN, "plan", HOSTILE]
            result = await trio.run_process(
                [node, *script, str(screenshot), chromium],
                cwd=BROWSER_TESTS,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            done.set()
        server.send_signal(signal.SIGTERM)
        assert await server.wait() == 0
    output = subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )
    report = f"exit {output.returncode}\n--- stdout\n{output.stdout}\n--- stderr\n{output.stderr}"
    assert result.returncode == 0, "the browser script failed\n" + report
    seen: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])

    # The token left the address bar at once, lives in sessionStorage, travels in headers only.
    assert "token" not in seen["url"] and "token" not in seen["url_at_end"]
    assert seen["stored_token"] == TOKEN
    assert seen["api_urls_with_token"] == 0
    # The actors it lists, the hostile key as plain text (no element, no dialog from it).
    assert {"plan", HOSTILE, "traffic"} <= set(seen["live_keys"])
    assert seen["types"][0][0] == "board"
    assert seen["images"] == seen["images_after"] == 0 and seen["dialogs"] == 0
    assert seen["search_keys"] == [HOSTILE]
    assert seen["hostile_connections"] == 1
    assert {"plan", HOSTILE, "traffic", "standup", "lobby"} <= set(seen["file_keys"])
    # One actor: two connections with their identities, the alarm, the synced notes.
    identities = sorted(row[2] for row in seen["connections"])
    assert identities == ['{"user":"ann"}', '{"user":"carol"}']
    assert all(row[1].startswith("127.0.0.1:") and row[3] == "raw" for row in seen["connections"])
    assert seen["alarms"] == ["reminder"]
    assert seen["synced"] == {"notes": ["ship the inspector", "take a picture"]}
    assert seen["hash"].startswith("#actor=board/plan")
    # The SQL console reads and refuses to write.
    assert "only reads" in seen["write_refused"] or "not authorized" in seen["write_refused"]
    assert seen["sql_columns"] == ["id", "text"]
    assert seen["sql_rows"] == [["1", "ship the inspector"], ["2", "take a picture"]]
    assert seen["connections_now"].startswith("4 open")
    assert seen["status"] == "live" and seen["errors"] == []
    picture = screenshot.read_bytes()
    assert picture.startswith(b"\x89PNG\r\n\x1a\n")
    if os.environ.get("ROOST_UPDATE_SCREENSHOTS") == "1":
        (ROOT / "docs" / "inspector.png").write_bytes(picture)
