"""The documented way to try a cluster on one machine works here (docs/operations.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import trio

ROOT = Path(__file__).parents[2]


async def test_three_nodes_start_agree_on_an_owner_and_stop(
    tmp_path: Path, pg_store_url: str
) -> None:
    with trio.fail_after(90):
        done = await trio.run_process(
            [sys.executable, str(ROOT / "scripts" / "cluster.py"), "--check", "--store",
             pg_store_url, "--data-dir", str(tmp_path), str(ROOT / "examples" / "chat.py")],
            capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert out.count("node ") >= 3
    assert "check ok: 3 nodes ready, chat/lobby owned by 127.0.0.1:" in out
