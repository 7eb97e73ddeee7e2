"""A hung or unreachable shared store never hangs the node, and readiness says so.

The store is a real PostgreSQL behind a test proxy that can cut connections or black-hole
them (accept, acknowledge, never answer). Real time: the point is threads blocked on silent
sockets, which only a real deadline ends; the deadlines here are 1 s, so each test waits a
few seconds at most.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import h11
import psycopg
import pytest
import trio

from roost import Actor, App, Connection, Response
from roost.actors import Request
from roost.runtime import Server
from roost.runtime._node_store import NodeStore
from roost.runtime._stats import NodeStats
from roost.runtime._sync import EPOCH_TYPE, SyncWorker, node_epoch
from roost.storage import StateWrite, open_shared_store
from roost.storage._shared import StoreUnavailable
from tests.shared_store.proxy import CuttableProxy
from tests.support import http, raw_websocket, running

DEADLINE = 1.0
MARGIN = 2.0  # scheduling slack on a busy 2-core machine


class Room(Actor):
    """Restores from the shared store when it has no file; answers its state over HTTP."""

    async def on_start(self) -> None:
        self.state: Any = getattr(self, "state", None)

    async def restore(self, snapshot: Any) -> None:
        self.state = snapshot

    async def on_request(self, request: Request) -> Response:
        return Response.json({"key": self.key, "state": self.state})

    def snapshot(self) -> Any:
        return self.state


class Plain(Actor):
    """Nothing to restore: activating it never needs the store."""

    async def on_request(self, request: Request) -> Response:
        return Response.json({"key": self.key})

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        conn.send(message)


def make_app() -> App:
    app = App()
    app.actor("room", Room)
    app.actor("plain", Plain)
    return app


@pytest.fixture
async def proxy(pg_url: str) -> AsyncIterator[CuttableProxy]:
    proxy = CuttableProxy.in_front_of(pg_url)
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.serve)
        yield proxy
        proxy.restore()
        nursery.cancel_scope.cancel()


def through(url: str, proxy: CuttableProxy) -> str:
    """``url`` (a postgresql:// URL, as --store takes) with the proxy as its host and port."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@127.0.0.1:{proxy.port}".lstrip("@")))


async def status_of(server: Server, path: str) -> tuple[int, Any]:
    status, headers, body = await http(server, "GET", path)
    is_json = headers.get("content-type") == "application/json"
    return status, json.loads(body) if is_json else body


async def wait_ready(server: Server, expected: int) -> None:
    """Poll /_roost/ready until it answers ``expected`` (the caller's fail_after bounds it)."""
    while True:
        if (await status_of(server, "/_roost/ready"))[0] == expected:
            return
        await trio.sleep(0.05)


async def test_hung_store_fails_the_restoring_activation_and_nothing_else(
    tmp_path: Path, pg_store_url: str, proxy: CuttableProxy
) -> None:
    async with open_shared_store(pg_store_url, data_dir=tmp_path) as seed:
        await seed.write_states([StateWrite("room", "b", 1, {"saved": "b"})])
    with trio.fail_after(60):
        async with running(
            make_app(),
            tmp_path / "node",
            store=through(pg_store_url, proxy),
            store_timeout=DEADLINE,
            sync_interval=0.2,
        ) as server:
            await wait_ready(server, 200)
            assert await status_of(server, "/room/a") == (200, {"key": "a", "state": None})

            proxy.hang()
            results: dict[str, tuple[int, float]] = {}

            async def get(path: str) -> None:
                start = trio.current_time()
                status, _ = await status_of(server, path)
                results[path] = (status, trio.current_time() - start)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(get, "/room/b")  # no file: its restore needs the store
                await trio.sleep(0.2)
                nursery.start_soon(get, "/room/a")  # active already
                nursery.start_soon(get, "/plain/x")  # activates without the store
            status, took = results["/room/b"]
            assert status >= 500 and took < DEADLINE + MARGIN  # failed cleanly, in time
            assert results["/room/a"][0] == 200 and results["/room/a"][1] < DEADLINE
            assert results["/plain/x"][0] == 200 and results["/plain/x"][1] < DEADLINE
            assert await status_of(server, "/_roost/ready") == (
                503,
                {"status": "store unreachable"},
            )
            assert (await status_of(server, "/_roost/health"))[0] == 200

            proxy.restore()
            await wait_ready(server, 200)
            # The slot was released: the same actor activates and restores now.
            assert await status_of(server, "/room/b") == (
                200,
                {"key": "b", "state": {"saved": "b"}},
            )


async def test_ready_follows_the_store_and_drain_while_health_stays_200(
    tmp_path: Path, pg_store_url: str, proxy: CuttableProxy
) -> None:
    with trio.fail_after(60):
        async with running(
            make_app(),
            tmp_path,
            store=through(pg_store_url, proxy),
            store_timeout=DEADLINE,
            sync_interval=0.2,
            shutdown_timeout=2,
        ) as server:
            await wait_ready(server, 200)
            assert await status_of(server, "/_roost/ready") == (200, {"status": "ready"})

            proxy.cut()  # PostgreSQL gone: connections drop, new ones are refused
            await wait_ready(server, 503)
            assert await status_of(server, "/_roost/health") == (200, {"status": "ok"})
            _, _, metrics = await http(server, "GET", "/_roost/metrics")
            assert "roost_store_up 0.0" in metrics.decode()

            proxy.restore()
            await wait_ready(server, 200)
            _, _, metrics = await http(server, "GET", "/_roost/metrics")
            assert "roost_store_up 1.0" in metrics.decode()

            # Draining: a WebSocket that never answers our close keeps the node draining.
            # New connections are no longer accepted then, so the endpoint is asked directly.
            silent = await raw_websocket(server, "/plain/k")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(server.shutdown)
                await trio.sleep(0.3)
                ready = await server._runtime_endpoint(_get("/_roost/ready"), "/_roost/ready")
                health = await server._runtime_endpoint(_get("/_roost/health"), "/_roost/health")
                assert (ready.status, json.loads(ready.body)) == (503, {"status": "stopping"})
                assert (health.status, json.loads(health.body)) == (200, {"status": "stopping"})
            await silent.aclose()  # type: ignore[attr-defined]


def _get(path: str) -> h11.Request:
    return h11.Request(method="GET", target=path, headers=[("host", "x")])


async def test_ready_with_the_embedded_store(tmp_path: Path) -> None:
    """The default SQLite store is a file: the node is ready before it ever opens it."""
    with trio.fail_after(20):
        async with running(make_app(), tmp_path) as server:
            assert await status_of(server, "/_roost/ready") == (200, {"status": "ready"})
            assert not (tmp_path / "shared.sqlite").exists()  # not opened just for readiness


async def test_store_opened_but_epoch_not_taken_is_retried(
    tmp_path: Path, pg_store_url: str
) -> None:
    """The store opens, then taking the node's epoch times out (its row is locked, or the
    database hangs right then): the next attempt takes the epoch on the open store, instead
    of failing for good because the store is "already open"."""

    async with open_shared_store(pg_store_url, data_dir=tmp_path) as seed:
        await node_epoch(seed, "node-seed")  # the epoch row exists
    locker = await trio.to_thread.run_sync(lambda: psycopg.connect(pg_store_url))
    node = NodeStore(tmp_path / "node.sqlite")
    store = open_shared_store(pg_store_url, data_dir=tmp_path, call_timeout=DEADLINE)
    worker = SyncWorker(
        node,
        store,
        node_id="node-test",
        stats=NodeStats(),
        interval=1.0,
    )
    try:
        with trio.fail_after(30):
            await trio.to_thread.run_sync(
                lambda: locker.execute(
                    "SELECT * FROM roost_actor_lease WHERE actor_type = %s FOR UPDATE",
                    (EPOCH_TYPE,),
                )
            )
            with pytest.raises(StoreUnavailable):
                await worker.store()  # opens, then waits on the locked epoch row: times out
            await trio.to_thread.run_sync(locker.rollback)
            assert await worker.store() is store
            assert worker.fence > 1 and worker.store_ready
    finally:
        await worker.aclose()
        node.close()
        await trio.to_thread.run_sync(locker.close)
