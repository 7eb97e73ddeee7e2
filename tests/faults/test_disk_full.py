"""A full disk under a real ``roost serve`` (issue 15 point 5): its data dir on a 2 MiB tmpfs.

A ballast file takes part of the tmpfs; actors then write until the disk is full, during a
commit (big rows) and during the creation of actor files (many new actors). Each client gets
a clear error promptly (an HTTP 5xx with a message, an rpc error over a WebSocket), never a
hang; the server keeps serving what needs no space (reads), spends no CPU while full, and
takes writes again once the ballast is gone. After a restart every SQLite file of the data
dir passes ``PRAGMA integrity_check`` and each actor holds exactly the writes that were
acknowledged (G3, G4).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from roost import HandshakeError, RpcError
from roost.client import connect
from roost.storage import open_shared_store
from tests.faults.support import FILL_APP, assert_quiet, metrics, ready, serve, tmpfs, until

ROW = 32 * 1024  # bytes per row of the big writer
BALLAST = 1280 * 1024  # what the test frees to end the fault: more than the rows take,
# so that the WAL they sit in can be checkpointed into the database file after the restart
ENV = {"ROOST_SYNC_INTERVAL": "0.2", "ROOST_SHUTDOWN_TIMEOUT": "3", "ROOST_DEMO_AUTH": "1"}


def fill_ballast(mount: Path) -> Path:
    ballast = mount / "ballast"
    ballast.write_bytes(b"\0" * BALLAST)
    return ballast


def fill_to_the_brim(mount: Path) -> Path:
    """A ballast file that takes every byte left: any file that has to grow now fails."""
    ballast = mount / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return ballast


def assert_clear_error(status: int, body: Any) -> None:
    """A refused write: a 5xx with an error code and a message, nothing that looks like a
    success or a client mistake."""
    assert 500 <= status < 600, (status, body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert body["error"]["code"] in {"internal", "unavailable"}, body
    assert body["error"]["message"], body


def stored_rows(data_dir: Path) -> dict[str, list[int]]:
    """Every SQLite file of the data dir passes integrity_check; the rows of each actor."""
    held: dict[str, list[int]] = {}
    files = sorted(p for p in data_dir.rglob("*.sqlite"))
    assert files
    for path in files:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], path
            if "actors" in path.parts:
                has_rows = conn.execute(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'rows'"
                ).fetchone()[0]
                rows = conn.execute("SELECT n FROM rows ORDER BY n") if has_rows else []
                held[path.name.split("-")[0]] = [n for (n,) in rows]
        conn.close()
    return held


async def test_a_commit_on_a_full_disk_fails_clearly_and_loses_nothing_acknowledged(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "mnt", "2m") as mount, trio.fail_after(14):
        data_dir = mount / "data"
        acked: dict[str, list[int]] = {"big": [], "other": []}
        async with serve([str(FILL_APP), "--data-dir", str(data_dir)], env=ENV) as server:
            assert await server.post("/box/other/rpc/put", {"n": 0, "size": 10}) == (
                200,
                {"value": 0},
            )
            acked["other"].append(0)

            async def is_ready() -> bool:
                return await ready(server.port) == 200

            async def not_ready() -> bool:
                return not await is_ready()

            async def synced() -> bool:
                return (await metrics(server.port))["roost_sync_batches_total"] > 0

            await until(synced, 5)  # as on any node that ran a while: shared.sqlite exists
            ballast = fill_ballast(mount)
            for n in range(64):  # 2 MiB of rows at most: the disk fills long before
                status, body = await server.post("/box/big/rpc/put", {"n": n, "size": ROW})
                if status != 200:
                    assert_clear_error(status, body)
                    break
                assert body == {"value": n}
                acked["big"].append(n)
            else:
                raise AssertionError("the disk never filled")
            assert acked["big"], "nothing fitted before the disk was full"

            # Over a WebSocket the same write is a retryable rpc error, promptly, and the
            # socket stays open for the next call.
            url = f"ws://127.0.0.1:{server.port}/box/big"
            async with connect(url, encoding="json", call_timeout=5) as client:
                for n in (1000, 1001):
                    with pytest.raises(RpcError) as error:
                        await client.call("put", n=n, size=ROW)
                    assert error.value.code == "unavailable", error.value
                assert await client.call("rows") == acked["big"]

            # What needs no space is served: the other actor answers reads. The embedded
            # shared store, on the same disk, cannot take the sync: readiness says so.
            assert await server.post("/box/other/rpc/rows") == (200, {"value": [0]})
            await assert_quiet(server, 2.0, "with the disk full")
            await until(not_ready, 5)
            assert (await metrics(server.port))["roost_store_up"] == 0

            ballast.unlink()  # the fault ends: writes go through again, no restart needed
            for name, n in (("big", 500), ("other", 1)):
                assert await server.post(f"/box/{name}/rpc/put", {"n": n, "size": 100}) == (
                    200,
                    {"value": n},
                )
                acked[name].append(n)
            await until(is_ready, 5)  # the sync's next round (backoff 0.4, 0.8, 1.6 ... s)
            assert await server.stop() == 0

        async with serve([str(FILL_APP), "--data-dir", str(data_dir)], env=ENV) as server:
            for name, rows in acked.items():
                assert await server.post(f"/box/{name}/rpc/rows") == (200, {"value": rows})
            assert await server.stop() == 0
        assert stored_rows(data_dir) == acked
        async with open_shared_store(None, data_dir=data_dir) as store:  # synced, all of it
            for name, rows in acked.items():
                state = await store.read_state("box", name)
                assert state is not None and state.state == {"rows": rows}, (name, state)


async def test_creating_actor_files_on_a_full_disk_fails_clearly_and_leaves_nothing_broken(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "mnt", "2m") as mount, trio.fail_after(14):
        data_dir = mount / "data"
        acked: dict[str, list[int]] = {}
        refused: list[str] = []
        async with serve([str(FILL_APP), "--data-dir", str(data_dir)], env=ENV) as server:
            assert await server.post("/box/old/rpc/put", {"n": 0, "size": 10}) == (
                200,
                {"value": 0},
            )
            acked["old"] = [0]
            ballast = fill_ballast(mount)
            for i in range(200):  # each new actor takes a file, its WAL and its shm (32 KiB)
                name = f"new{i:03}"
                status, body = await server.post(f"/box/{name}/rpc/put", {"n": 0, "size": 10})
                if status == 200:
                    assert body == {"value": 0}
                    acked[name] = [0]
                    continue
                assert_clear_error(status, body)
                refused.append(name)
                if len(refused) == 5:
                    break
            else:
                raise AssertionError("the disk never filled")

            # A WebSocket to a new actor is refused with a 5xx, promptly.
            url = f"ws://127.0.0.1:{server.port}/box/ws-new"
            with pytest.raises(HandshakeError) as refusal:
                async with connect(url, encoding="json", call_timeout=5, reconnect=False) as client:
                    await client.call("put", n=0, size=10)
            assert refusal.value.status >= 500, refusal.value
            refused.append("ws-new")

            assert await server.post("/box/old/rpc/rows") == (200, {"value": [0]})
            await assert_quiet(server, 2.0, "with the disk full")

            ballast.unlink()
            for name in ("old", refused[0], "fresh"):
                n = 1 if name == "old" else 0
                assert await server.post(f"/box/{name}/rpc/put", {"n": n, "size": 10}) == (
                    200,
                    {"value": n},
                )
                acked.setdefault(name, []).append(n)
            assert await server.stop() == 0

        held = stored_rows(data_dir)
        # A refused actor left no file, or an empty one: never a half-written one.
        assert {name: rows for name, rows in held.items() if rows} == acked


async def test_a_failed_commit_over_http_is_unavailable_as_over_a_websocket(
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "mnt", "2m") as mount, trio.fail_after(14):
        async with serve([str(FILL_APP), "--data-dir", str(mount / "data")], env=ENV) as server:
            fill_ballast(mount)
            for n in range(64):
                status, body = await server.post("/box/big/rpc/put", {"n": n, "size": ROW})
                if status != 200:
                    break
            else:
                raise AssertionError("the disk never filled")
    assert (status, body["error"]["code"]) == (503, "unavailable"), body


@pytest.mark.parametrize("first", ["alarm", "write after a sync"])
async def test_a_node_store_write_on_a_full_disk_fails_and_the_actor_recovers(
    tmp_path: Path, first: str
) -> None:
    """The first write after a sync records a dirty mark in node.sqlite, a new alarm its
    index entry, both before the actor's own commit: on a disk filled to the brim they are
    what fails."""
    with tmpfs(tmp_path / "mnt", "2m") as mount, trio.fail_after(14):
        data_dir = mount / "data"
        async with serve([str(FILL_APP), "--data-dir", str(data_dir)], env=ENV) as server:
            assert await server.post("/box/al/rpc/put", {"n": 0, "size": 10}) == (
                200,
                {"value": 0},
            )

            async def synced() -> bool:
                return (await metrics(server.port))["roost_sync_pending"] == 0

            await until(synced, 5)
            ballast = fill_to_the_brim(mount)
            if first == "alarm":
                refused = await server.post("/box/al/rpc/remind", {"name": "a0", "at": 2e9})
            else:
                refused = await server.post("/box/al/rpc/put", {"n": 1, "size": 10})
            ballast.unlink()
            after = [
                await server.post("/box/al/rpc/remind", {"name": "a1", "at": 2e9}),
                await server.post("/box/al/rpc/put", {"n": 2, "size": 10}),
                await server.post("/box/al/rpc/pending"),
            ]
            assert await server.stop() == 0
        assert_clear_error(*refused)
        assert [status for status, _ in after] == [200, 200, 200], after
        assert after[2][1] == {"value": ["a1"]}, after
        assert stored_rows(data_dir) == {"al": [0, 2]}


#: Fault tests with real processes and tmpfs or libfaketime: the slow stage (CI runs it).
pytestmark = pytest.mark.slow
