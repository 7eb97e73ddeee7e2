"""An activation that fails because the shared store does not answer (a restore needs it) is
a 503, not a 500: HTTP and HTTP rpc with Retry-After and the JSON error body ``unavailable``
(retryable), a refused upgrade 503, an envelope call and an actor-to-actor call
``unavailable``; one warning line per failure, no traceback.

Real PostgreSQL behind the black-hole proxy of test_store_hang, real time (1 s deadlines).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import trio

from roost import App, Connection, HttpCaller, RpcError, rpc
from roost.storage import StateWrite, open_shared_store
from tests.runtime.test_rpc import Client
from tests.runtime.test_store_hang import DEADLINE, MARGIN, proxy, through, wait_ready
from tests.runtime.test_store_hang import Room as HangRoom
from tests.shared_store.proxy import CuttableProxy
from tests.support import connect, http, refused_upgrade, running

__all__ = ["proxy"]  # the fixture, imported for pytest


class Room(HangRoom):
    """Restores from the shared store when it has no file (it never writes one)."""

    @rpc
    async def peek(self, conn: Connection | HttpCaller | None) -> Any:
        return self.state

    @rpc
    async def relay(self, conn: Connection | HttpCaller | None, key: str) -> Any:
        try:
            return await self.call("room", key).peek()
        except RpcError as exc:
            return {"code": exc.code}


def make_app() -> App:
    app = App()
    app.actor("room", Room)
    return app


async def post(server: Any, path: str) -> tuple[int, dict[str, str], Any]:
    status, headers, body = await http(
        server, "POST", path, body=b"{}", headers=[("content-type", "application/json")]
    )
    return status, headers, json.loads(body)


async def test_a_store_outage_at_activation_is_503_unavailable(
    tmp_path: Path, pg_store_url: str, proxy: CuttableProxy, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_shared_store(pg_store_url, data_dir=tmp_path) as seed:
        await seed.write_states(
            [StateWrite("room", k, 1, {"saved": k}) for k in ("get", "rpc", "ws", "env", "far")]
        )
    caplog.set_level(logging.INFO, logger="roost")
    with trio.fail_after(60):
        async with running(
            make_app(),
            tmp_path / "node",
            store=through(pg_store_url, proxy),
            store_timeout=DEADLINE,
            sync_interval=0.2,
        ) as server:
            await wait_ready(server, 200)
            async with connect(server, "/room/env", subprotocols=["roost.v1.json"]) as ws:
                client = Client(ws, "json")
                assert (await client.call("peek"))["value"] == {"saved": "env"}
                await server.evict("room", "env")  # hibernates: the next call restores
                status, _, body = await post(server, "/room/near/rpc/peek")
                assert (status, body) == (200, {"value": None})
                proxy.hang()
                caplog.clear()
                results: dict[str, Any] = {}

                async def ask(name: str, request: Any) -> None:
                    start = trio.current_time()
                    results[name] = (await request, trio.current_time() - start)

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(ask, "get", http(server, "GET", "/room/get"))
                    nursery.start_soon(ask, "rpc", post(server, "/room/rpc/rpc/peek"))
                    nursery.start_soon(ask, "ws", refused_upgrade(server, "/room/ws"))
                    nursery.start_soon(ask, "env", client.call("peek"))
                    relay = http(
                        server,
                        "POST",
                        "/room/near/rpc/relay",
                        body=b'{"key": "far"}',
                        headers=[("content-type", "application/json")],
                    )
                    nursery.start_soon(ask, "far", relay)
                for name, (_, took) in results.items():
                    assert took < DEADLINE + MARGIN, name
                (status, headers, body), _ = results["get"]
                assert status == 503 and int(headers["retry-after"]) > 0
                assert json.loads(body)["error"]["code"] == "unavailable"
                (status, headers, body), _ = results["rpc"]
                assert status == 503 and int(headers["retry-after"]) > 0
                assert body["error"]["code"] == "unavailable"
                (status, _), _ = results["ws"]
                assert status == 503
                reply, _ = results["env"]
                assert (reply["type"], reply["code"]) == ("error", "unavailable")
                (status, _, body), _ = results["far"]
                assert (status, json.loads(body)) == (200, {"value": {"code": "unavailable"}})
                records = [
                    r
                    for r in caplog.records
                    if r.name.startswith("roost") and r.levelno >= logging.WARNING
                ]
                about = [r for r in records if "could not activate" in r.getMessage()]
                assert len(about) == 5, [r.getMessage() for r in records]
                assert all(r.exc_info is None for r in records), [r.getMessage() for r in records]
                assert all(r.levelno == logging.WARNING for r in about)

                proxy.restore()
                await wait_ready(server, 200)
            status, _, body = await http(server, "GET", "/room/get")
            assert (status, json.loads(body)) == (200, {"key": "get", "state": {"saved": "get"}})
