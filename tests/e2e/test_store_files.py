"""``roost actors export/import/restore --store`` (issue 15, points 2 and 6) against real
``roost serve`` processes serving a durable actor on a real PostgreSQL store: the file as the
store holds it, a database stored as the actor's newest version, and point-in-time restore as
a new version on top of a history that stays. Every refusal exits 2 with one line and changes
nothing in the store."""

from __future__ import annotations

import datetime
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trio

from roost import App
from roost.storage import KV
from tests.cluster.test_cluster_processes import Node, ok, start_node
from tests.cluster.test_durable import DURABLE_APP, Notes, connect_actor
from tests.e2e.test_tools import Ran, roost
from tests.support import running


@asynccontextmanager
async def serving(data_dir: Path, store: str) -> AsyncIterator[Node]:
    """One durable node (a cluster of one); stopped gracefully, so it gives its leases up."""
    node = await start_node(data_dir, store, app=DURABLE_APP)
    try:
        yield node
    finally:
        if node.process.returncode is None:
            node.process.send_signal(signal.SIGTERM)
            with trio.move_on_after(15):
                await node.process.wait()
        if node.process.returncode is None:
            node.process.kill()
            await node.process.wait()


def rows(store: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(store) as conn:
        return conn.execute(query, params).fetchall()


def history(store: str, key: str = "l") -> dict[str, Any]:
    """What the store holds of ledger/KEY: log positions with their times, images, lease."""
    log = rows(
        store,
        "SELECT seq, extract(epoch from at)::float8 FROM roost_actor_log"
        " WHERE actor_type = 'ledger' AND actor_key = %s ORDER BY seq",
        key,
    )
    images = rows(
        store,
        "SELECT seq, fence FROM roost_actor_file WHERE actor_type = 'ledger'"
        " AND actor_key = %s ORDER BY seq",
        key,
    )
    lease = rows(
        store,
        "SELECT fence, node_id FROM roost_actor_lease WHERE actor_type = 'ledger'"
        " AND actor_key = %s",
        key,
    )
    return {"log": dict(log), "images": images, "lease": lease}


def refused(ran: Ran, *words: str) -> None:
    assert ran.status == 2, ran
    assert ran.err.count("\n") == 1 and ran.err.startswith("roost: "), ran
    for word in words:
        assert word in ran.err, ran


def file_rows(path: Path) -> dict[str, Any]:
    """The tables of an actor file and its KV, as a test can compare them."""
    with closing(sqlite3.connect(path)) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        kv = KV(conn)
        meta = dict(conn.execute("SELECT name, value FROM _roost_meta").fetchall())
        return {"tables": tables, "n": kv.get("n"), "keys": list(kv.list()), "meta": meta}


async def test_restore_at_a_moment_is_served_and_later_writes_go_on_from_it(
    tmp_path: Path, pg_store_url: str
) -> None:
    store = ["--store", pg_store_url]
    with trio.fail_after(120):
        acked_at: list[int] = []  # the last log position when each add was acknowledged
        async with serving(tmp_path / "n", pg_store_url) as node:
            for expected in range(1, 6):
                assert await ok(node, "ledger/l", "add", by=1) == expected
                acked_at.append(max(history(pg_store_url)["log"]))
            owner = history(pg_store_url)["lease"][0][1]
            held = await roost("actors", "restore", "ledger/l", "--at", str(time.time()), *store)
            refused(held, f"held by node {owner}", "--wait")
        before = history(pg_store_url)
        times = before["log"]
        # Between the third acknowledged add and the fourth: the store's clock decides.
        third = acked_at[2]
        moment = (times[third] + times[third + 1]) / 2

        too_old = await roost("actors", "restore", "ledger/l", "--at", "2001-01-01T00:00", *store)
        refused(too_old, "no history of ledger/l as of 2001-01-01T00:00:00+00:00")
        bad = await roost("actors", "restore", "ledger/l", "--at", "yesterday", *store)
        refused(bad, "not a moment")
        unknown = await roost("actors", "restore", "ledger/none", "--at", str(moment), *store)
        refused(unknown, "no history of ledger/none")
        assert history(pg_store_url) == before  # refusals change nothing, not even the fence
        assert rows(pg_store_url, "SELECT * FROM roost_actor_lease WHERE actor_key = 'none'") == []

        iso = datetime.datetime.fromtimestamp(moment, datetime.UTC).isoformat()
        restored = await roost("actors", "restore", "ledger/l", "--at", iso, *store)
        assert restored.status == 0, restored
        assert restored.out.startswith(f"restored ledger/l as of {iso}: image ")
        after = history(pg_store_url)
        assert after["log"] == before["log"]  # the history stays, every entry of it
        assert after["images"][:-1] == before["images"]
        new_seq, new_fence = after["images"][-1]
        assert new_seq == max(before["log"]) + 1  # a new version after the last one
        assert new_fence > before["lease"][0][0]  # under a fence of its own
        assert after["lease"] == [(new_fence, None)]  # released

        # The node's own file still says 5: a node taking the actor rebuilds from the store.
        async with serving(tmp_path / "n", pg_store_url) as node:
            assert (await ok(node, "ledger/l", "whoami"))["n"] == 3
            assert await ok(node, "ledger/l", "add", by=1) == 4
        assert history(pg_store_url)["lease"][0][0] > new_fence
        async with serving(tmp_path / "other", pg_store_url) as node:  # an empty data dir
            assert (await ok(node, "ledger/l", "whoami"))["n"] == 4
            assert await ok(node, "ledger/l", "add", by=1) == 5

        # Restoring to the moment before the restore is a new version again; so is undoing it.
        undo = await roost("actors", "restore", "ledger/l", "--at", str(time.time()), *store)
        assert undo.status == 0, undo
        async with serving(tmp_path / "n", pg_store_url) as node:
            assert (await ok(node, "ledger/l", "whoami"))["n"] == 5


async def test_export_and_import_against_the_store(tmp_path: Path, pg_store_url: str) -> None:
    store = ["--store", pg_store_url]
    exported = tmp_path / "ledger-l.sqlite"
    with trio.fail_after(120):
        async with serving(tmp_path / "n", pg_store_url) as node:
            for expected in range(1, 5):
                assert await ok(node, "ledger/l", "add", by=1) == expected
            missing = await roost("actors", "import", "ledger/l", str(exported), *store)
            refused(missing, "no such file")  # checked before the store is even asked
        ran = await roost("actors", "export", "ledger/l", "--out", str(exported), *store)
        assert ran.status == 0, ran
        assert file_rows(exported) == {
            "tables": ["_roost_kv", "_roost_meta"],
            "n": 4,
            "keys": [("n", 4)],
            "meta": {"actor_type": "ledger", "key": "l", "format": 1},
        }
        none = await roost("actors", "export", "ledger/none", "--out", str(tmp_path / "x"), *store)
        refused(none, "holds no file of ledger/none")
        assert not (tmp_path / "x").exists()

        async with serving(tmp_path / "n", pg_store_url) as node:
            assert await ok(node, "ledger/l", "add", by=3) == 7
            held = await roost("actors", "import", "ledger/l", str(exported), *store)
            refused(held, "is held by node")
        before = history(pg_store_url)

        text = tmp_path / "notes.txt"
        text.write_text("not a database\n")
        refused(
            await roost("actors", "import", "ledger/l", str(text), *store),
            "is not an SQLite database",
        )
        refused(
            await roost("actors", "import", "ledger/other", str(exported), *store),
            "holds actor ledger/l, not ledger/other",
        )
        assert history(pg_store_url) == before
        assert history(pg_store_url, "other") == {"log": {}, "images": [], "lease": []}

        imported = await roost("actors", "import", "ledger/l", str(exported), *store)
        assert imported.status == 0, imported
        assert "imported ledger/l into the store" in imported.err
        async with serving(tmp_path / "n", pg_store_url) as node:
            assert (await ok(node, "ledger/l", "whoami"))["n"] == 4
            assert await ok(node, "ledger/l", "add", by=1) == 5
        again = await roost("actors", "export", "ledger/l", *store, "-o", str(exported))
        assert again.status == 0, again
        assert file_rows(exported)["n"] == 5


async def test_restore_wait_waits_for_the_node_to_let_go(tmp_path: Path, pg_store_url: str) -> None:
    store = ["--store", pg_store_url]
    with trio.fail_after(120):
        async with serving(tmp_path / "n", pg_store_url) as node:
            assert await ok(node, "ledger/l", "add", by=1) == 1
            first = time.time()
            assert await ok(node, "ledger/l", "add", by=1) == 2
            async with trio.open_nursery() as nursery:
                done: list[Ran] = []

                async def restore() -> None:
                    done.append(
                        await roost(
                            "actors", "restore", "ledger/l", "--at", str(first), "--wait", *store
                        )
                    )

                nursery.start_soon(restore)
                await trio.sleep(1.5)  # real processes: the tool is waiting by now
                assert not done
                node.process.send_signal(signal.SIGTERM)  # gives the lease up
        assert done[0].status == 0, done[0]
        async with serving(tmp_path / "n", pg_store_url) as node:
            assert (await ok(node, "ledger/l", "whoami"))["n"] == 1


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An SQLite store file outside every data dir, or a PostgreSQL schema of this test."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_store_url")
        return url
    return str(tmp_path / "shared.sqlite")


def images_of(store: str, key: str) -> int:
    query = f"SELECT count(*) FROM roost_actor_file WHERE actor_key = '{key}'"
    if store.startswith("postgresql:"):
        return int(rows(store, query)[0][0])
    with closing(sqlite3.connect(store)) as conn:
        return int(conn.execute(query).fetchone()[0])


async def test_a_replicate_file_actor_goes_out_of_and_back_into_the_store(
    tmp_path: Path, any_store: str
) -> None:
    app = App()
    app.actor("notes", Notes)
    store = ["--store", any_store]
    exported = tmp_path / "notes-n.sqlite"
    with trio.fail_after(60):
        async with running(app, tmp_path / "a", store=any_store, sync_interval=0.2) as a:
            async with connect_actor(a, "notes", "n") as notes:
                for text in ("one", "two"):
                    await notes.call("add", text=text)
        assert images_of(any_store, "n") == 1  # the shutdown's sync shipped the file
        moment = time.time()
        ran = await roost("actors", "export", "notes/n", "--out", str(exported), *store)
        assert ran.status == 0, ran
        with closing(sqlite3.connect(exported)) as conn, conn:
            assert conn.execute("SELECT text FROM notes ORDER BY rowid").fetchall() == [
                ("one",),
                ("two",),
            ]
            conn.execute("INSERT INTO notes (text) VALUES ('three')")
        ran = await roost("actors", "import", "notes/n", "-i", str(exported), *store)
        assert ran.status == 0, ran
        assert images_of(any_store, "n") == 2
        async with running(app, tmp_path / "b", store=any_store) as b:  # an empty data dir
            async with connect_actor(b, "notes", "n") as notes:
                assert await notes.call("all") == ["one", "two", "three"]
        ran = await roost("actors", "restore", "notes/n", "--at", str(moment), *store)
        assert ran.status == 0, ran
        async with running(app, tmp_path / "c", store=any_store) as c:  # an empty data dir
            async with connect_actor(c, "notes", "n") as notes:
                assert await notes.call("all") == ["one", "two"]
