"""``roost serve`` with its PostgreSQL store hung (it accepts and acknowledges, never answers):
SIGTERM still ends the process within its shutdown timeout, exit 0, and nothing is lost."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import trio

from roost.storage import open_shared_store
from tests.e2e.test_cli import start
from tests.shared_store.proxy import CuttableProxy
from tests.support import EXAMPLES, open_client

SHUTDOWN_TIMEOUT = 3.0
MARGIN = 3.0  # interpreter exit and scheduling on a busy machine


def through(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{port}".lstrip("@")))


async def test_sigterm_with_a_hung_store_exits_within_the_shutdown_timeout(
    tmp_path: Path, pg_url: str, pg_store_url: str
) -> None:
    proxy = CuttableProxy.in_front_of(pg_url)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            process, port = await start(
                ["serve", str(EXAMPLES / "chat.py"), "--data-dir", str(tmp_path / "node")],
                env={
                    "ROOST_PORT": "0",
                    "ROOST_HOST": "127.0.0.1",
                    "ROOST_STORE": through(pg_store_url, proxy.port),
                    "ROOST_STORE_TIMEOUT": "1",
                    "ROOST_SYNC_INTERVAL": "0.2",
                    "ROOST_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
                },
            )
            async with open_client(f"ws://127.0.0.1:{port}/chat/lobby?user=ann") as ws:
                assert json.loads(await ws.get_message())["type"] == "history"
                assert json.loads(await ws.get_message())["type"] == "presence_state"
                await ws.send_message(json.dumps({"type": "say", "text": "synced"}))
                assert json.loads(await ws.get_message())["text"] == "synced"
                await trio.sleep(1)  # a few sync rounds: the store has the room now

                proxy.hang()
                await ws.send_message(json.dumps({"type": "say", "text": "not synced"}))
                assert json.loads(await ws.get_message())["text"] == "not synced"
                await trio.sleep(0.5)  # the next sync round is blocked on the silent store
                process.send_signal(signal.SIGTERM)
                start_time = trio.current_time()
                with trio.move_on_after(SHUTDOWN_TIMEOUT + MARGIN):
                    await process.wait()
                took = trio.current_time() - start_time
                assert process.returncode == 0, (process.returncode, took)
                assert took < SHUTDOWN_TIMEOUT + MARGIN
            proxy.restore()
            nursery.cancel_scope.cancel()

    async with open_shared_store(pg_store_url, data_dir=tmp_path) as store:
        stored = await store.read_state("chat", "lobby")
    assert stored is not None  # what reached the store before the hang is there
    # The unsynced change stays marked dirty in node.sqlite, synced by the next start (G7).
    assert (tmp_path / "node" / "node.sqlite").exists()
