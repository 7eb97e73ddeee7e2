"""Two cluster nodes in one process, on real sockets and a real PostgreSQL store: one
instance per key whichever node a client reaches, forwarding over the node link, the owner
named in Roost-Owner, and fences that follow the actor (issue 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from roost import Actor, App, Connection, rpc
from tests.support import connect, http, running

SECRET = "correct horse battery staple"


class Counter(Actor):
    """Counts messages in its KV; its snapshot is the count."""

    sync_on_write = True

    async def on_message(self, conn: Connection, message: str | bytes) -> None:
        n = self.storage.kv.get("n", 0) + 1
        self.storage.kv.put("n", n)
        conn.send(str(n))

    @rpc
    async def add(self, conn: Any, by: int) -> int:
        n = self.storage.kv.get("n", 0) + by
        self.storage.kv.put("n", n)
        return int(n)

    def snapshot(self) -> dict[str, Any]:
        return {"n": self.storage.kv.get("n", 0)}

    async def restore(self, snapshot: Any) -> None:
        self.storage.kv.put("n", snapshot["n"])


def make_app() -> App:
    app = App()
    app.actor("counter", Counter)
    return app


def cluster(**extra: Any) -> dict[str, Any]:
    return {"cluster_secret": SECRET, "lease_ttl": 3.0, "sync_interval": 0.2, **extra}


async def bump(ws: Any) -> int:
    await ws.send_message("+")
    return int(await ws.get_message())


async def test_one_instance_whichever_node_the_clients_reach(
    tmp_path: Path, pg_store_url: str
) -> None:
    with trio.fail_after(60):
        async with (
            running(make_app(), tmp_path / "a", store=pg_store_url, **cluster()) as a,
            running(make_app(), tmp_path / "b", store=pg_store_url, **cluster()) as b,
        ):
            async with connect(a, "/counter/x") as on_a, connect(b, "/counter/x") as on_b:
                assert await bump(on_a) == 1
                assert await bump(on_b) == 2  # forwarded to A: the same instance
                assert await bump(on_a) == 3
            # HTTP rpc through B reaches the owner too, and names it.
            status, headers, body = await http(
                b,
                "POST",
                "/counter/x/rpc/add",
                body=b'{"by": 10}',
                headers=[("content-type", "application/json")],
            )
            assert status == 200, body
            assert b"13" in body
            owner = headers.get("roost-owner")
            assert owner == f"127.0.0.1:{a.port}"
            assert a.stats.lease_claims_total >= 1
            assert b.stats.forwards_total >= 2
            assert not (tmp_path / "b" / "counter").exists()  # B never activated it
