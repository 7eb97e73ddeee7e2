"""kill -9 between a turn's commit and its sync: after a restart nothing committed is lost and
the shared store converges, without any client visiting the actor (G7's durable dirty marks)."""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import trio

from tests.e2e.test_cli import start
from tests.support import EXAMPLES, open_client


def read_summary(shared: Path, room: str) -> dict[str, Any] | None:
    if not shared.exists():
        return None
    with sqlite3.connect(f"file:{shared}?mode=ro", uri=True) as db:
        try:
            row = db.execute(
                "SELECT state FROM roost_actor_state WHERE actor_type = 'chat' AND actor_key = ?",
                [room],
            ).fetchone()
        except sqlite3.OperationalError:  # the schema is not there yet
            return None
    return json.loads(row[0]) if row else None


async def test_kill_9_before_the_sync_loses_nothing(tmp_path: Path) -> None:
    app = str(EXAMPLES / "chat.py")
    shared = tmp_path / "shared.sqlite"
    with trio.fail_after(60):
        # A sync interval of an hour: the turns commit, the sync never comes.
        process, port = await start(
            ["serve", app, "--port", "0", "--data-dir", str(tmp_path)],
            env={"ROOST_SYNC_INTERVAL": "3600"},
        )
        async with open_client(f"ws://127.0.0.1:{port}/chat/lobby?user=ann") as ws:
            for _ in range(2):
                await ws.get_message()  # history, presence_state
            for i in range(5):
                await ws.send_message(json.dumps({"type": "say", "text": f"m{i}"}))
                await ws.get_message()  # each message is committed before it comes back
            process.send_signal(signal.SIGKILL)
            assert await process.wait() == -signal.SIGKILL
        assert await trio.to_thread.run_sync(read_summary, shared, "lobby") is None

        process, port = await start(
            ["serve", app, "--port", "0", "--data-dir", str(tmp_path)],
            env={"ROOST_SYNC_INTERVAL": "0.1"},
        )
        try:
            summary = None
            for _ in range(200):  # nobody connects: the node syncs the room by itself
                summary = await trio.to_thread.run_sync(read_summary, shared, "lobby")
                if summary is not None:
                    break
                await trio.sleep(0.05)  # a real process: its time is real
            assert summary is not None, "the restarted node never synced the room"
            assert summary["room"] == "lobby" and summary["message_count"] == 5
            assert summary["last_message"]["text"] == "m4"
        finally:
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0
