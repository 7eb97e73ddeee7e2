"""Durable output (issue 15, point 1): what a client saw acknowledged survives kill -9 of the
owner, because the commit reached PostgreSQL, fenced by the lease, before the reply left."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

import roost.client
from roost import Actor, App, rpc
from roost.runtime import Server
from roost.storage import open_shared_store
from tests.cluster.test_cluster_processes import TTL, nodes, ok, served_within
from tests.support import open_client, running


@asynccontextmanager
async def connect_actor(server: Server, actor_type: str, key: str) -> AsyncIterator[Any]:
    url = f"ws://127.0.0.1:{server.port}/{actor_type}/{key}"
    async with roost.client.connect(url) as actor:
        yield actor


DURABLE_APP = str(Path(__file__).with_name("durable_app.py"))


async def test_every_acknowledged_write_survives_kill_9_of_the_owner(
    tmp_path: Path, pg_store_url: str
) -> None:
    with trio.fail_after(90):
        async with nodes(tmp_path, pg_store_url, 2, app=DURABLE_APP) as (a, b):
            assert (await ok(a, "ledger/l", "whoami"))["pid"] == a.pid
            acknowledged = [await ok(a, "ledger/l", "add", by=1) for _ in range(30)]
            async with open_client(f"{a.url}/ledger/l") as ws:
                for _ in range(30):  # WebSocket turns: their broadcasts wait for the store too
                    await ws.send_message("+")
                    acknowledged.append(int(await ws.get_message()))
                a.process.kill()  # at once: no sync interval was waited for
            assert acknowledged == list(range(1, 61))
            after = await served_within(TTL + 2 + 3, b, "ledger/l", "whoami")
            assert after["pid"] == b.pid
            assert after["n"] == 60  # every acknowledged write, none lost
            assert await ok(b, "ledger/l", "add", by=1) == 61
        async with open_shared_store(pg_store_url, data_dir=tmp_path) as store:
            history = await store.read_file_history("ledger", "l")
            assert history.last_seq >= 61


async def test_the_embedded_store_refuses_durable_output(tmp_path: Path) -> None:
    import sys

    with trio.fail_after(30):
        done = await trio.run_process(
            [sys.executable, "-m", "roost", "serve", DURABLE_APP,
             "--port", "0", "--data-dir", str(tmp_path), "--durable"],
            capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
    assert done.returncode == 2
    assert "durable output needs a PostgreSQL store" in done.stderr.decode()


class Notes(Actor):
    """Keeps rows in a table of its own; no snapshot, no restore: only the file holds them."""

    replicate_file = True

    @rpc
    async def add(self, conn: Any, text: str) -> int:
        self.storage.db["notes"].insert({"text": text})
        self.mark_dirty()
        return int(self.storage.db["notes"].count)

    @rpc
    async def all(self, conn: Any) -> list[str]:
        if not self.storage.db["notes"].exists():
            return []
        return [row["text"] for row in self.storage.db["notes"].rows]

    def snapshot(self) -> dict[str, Any]:
        return {"count": self.storage.db["notes"].count}


async def test_replicate_file_rebuilds_the_whole_file_on_an_empty_data_dir(
    tmp_path: Path, pg_store_url: str
) -> None:
    app = App()
    app.actor("notes", Notes)
    with trio.fail_after(60):
        async with running(app, tmp_path / "a", store=pg_store_url, sync_interval=0.2) as a:
            async with connect_actor(a, "notes", "n") as notes:
                for text in ("one", "two", "three"):
                    await notes.call("add", text=text)
            await trio.sleep(0.6)  # a sync: the snapshot and the file's image
        async with running(app, tmp_path / "b", store=pg_store_url) as b:  # empty data dir
            async with connect_actor(b, "notes", "n") as notes:
                assert await notes.call("all") == ["one", "two", "three"]


async def test_images_and_pruning_keep_the_history_whole(
    tmp_path: Path, pg_store_url: str, monkeypatch: Any
) -> None:
    """With images taken often and no retention, the log before the newest image is pruned,
    and a new owner rebuilds exactly the acknowledged state from image plus log."""
    import psycopg

    from roost.runtime import _durable
    from tests.cluster.durable_app import app as durable_app

    monkeypatch.setattr(_durable, "IMAGE_MIN_LOG_BYTES", 0)  # an image after every commit
    monkeypatch.setattr(_durable, "IMAGE_LOG_RATIO", 0)
    settings = {"cluster_secret": "s", "lease_ttl": 3.0, "log_retention": 0.0}
    with trio.fail_after(60):
        async with running(durable_app, tmp_path / "a", store=pg_store_url, **settings) as a:
            async with connect_actor(a, "ledger", "p") as ledger:
                for i in range(1, 41):
                    assert await ledger.call("add", by=1) == i
            await trio.sleep(0.5)  # the last images and prunes
        with psycopg.connect(pg_store_url) as conn:
            images = conn.execute("SELECT count(*) FROM roost_actor_file").fetchone()
            covered = conn.execute(
                "SELECT count(*) FROM roost_actor_log"
                " WHERE seq <= (SELECT max(seq) FROM roost_actor_file)"
            ).fetchone()
        assert images is not None and images[0] >= 1
        assert covered == (0,)  # what an image holds left the log
        async with running(durable_app, tmp_path / "b", store=pg_store_url, **settings) as b:
            async with connect_actor(b, "ledger", "p") as ledger:
                assert (await ledger.call("whoami"))["n"] == 40
                assert await ledger.call("add", by=1) == 41
