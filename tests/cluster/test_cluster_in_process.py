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


async def test_a_refused_fence_stops_the_actor_at_once_without_a_storm(
    tmp_path: Path, pg_store_url: str, caplog: Any
) -> None:
    """When the store holds a newer owner's fence, the node's next write of the actor is
    refused: the actor stops here and its clients are closed with 1012, once."""
    import trio_websocket

    from roost.storage import EncodedState, open_shared_store

    with trio.fail_after(60):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **cluster()) as a:
            async with connect(a, "/counter/z") as ws:
                assert await bump(ws) == 1
                await trio.sleep(0.5)  # synced under A's fence
                async with open_shared_store(pg_store_url, data_dir=tmp_path) as store:
                    state = await store.read_state("counter", "z")
                    assert state is not None
                    # A newer owner took the actor behind A's back (as after a partition A
                    # did not notice) and wrote under its own, higher fence.
                    (lease,) = await store.list_leases("counter")
                    await store.release_leases(lease.node_id, [("counter", "z", lease.fence)])
                    claim = await store.claim_actor("counter", "z", "node-newer", 3.0)
                    assert claim is not None and claim.lease.fence == state.fence + 1
                    await store.write_snapshots(
                        [claim.lease.fence], [("counter", "z")], [EncodedState.encode({"n": 50})]
                    )
                await ws.send_message("+")
                assert await ws.get_message() == "2"  # committed locally, then refused
                try:
                    await ws.get_message()
                    raise AssertionError("the stale actor kept its client")
                except trio_websocket.ConnectionClosed as closed:
                    assert closed.reason.code == 1012
            await trio.sleep(1.0)  # rounds pass: no retry loop, no second refusal
            refusals = [r for r in caplog.records if "refused counter/z" in r.getMessage()]
            assert len(refusals) == 1
            async with open_shared_store(pg_store_url, data_dir=tmp_path) as store:
                state = await store.read_state("counter", "z")
                assert state is not None and state.state == {"n": 50}


async def test_nodes_forward_over_tls_links(tmp_path: Path, pg_store_url: str) -> None:
    """With --cluster-tls-cert/-key the links run TLS: forwarding works, and a node without
    TLS cannot link with them (it cannot serve their actors, and says why)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await trio.run_process(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=roost",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_stdout=True, capture_stderr=True,
    )  # fmt: skip
    tls = cluster(cluster_tls_cert=cert, cluster_tls_key=key)
    with trio.fail_after(60):
        async with (
            running(make_app(), tmp_path / "a", store=pg_store_url, **tls) as a,
            running(make_app(), tmp_path / "b", store=pg_store_url, **tls) as b,
            running(make_app(), tmp_path / "c", store=pg_store_url, **cluster()) as c,
        ):
            async with connect(a, "/counter/t") as on_a, connect(b, "/counter/t") as on_b:
                assert await bump(on_a) == 1
                assert await bump(on_b) == 2
            assert b.stats.forwards_total >= 1
            status, _, _ = await http(c, "GET", "/counter/t")
            assert status == 503  # the plain node cannot reach the TLS owner
            assert c.stats.forwards_total == 0


async def test_a_node_link_outlives_the_request_timeout(tmp_path: Path, pg_store_url: str) -> None:
    """The link a node accepts is no request: a forwarded WebSocket lives on past
    --request-timeout (it used to be cut, with every connection over the link)."""
    settings = cluster(request_timeout=1.0)
    with trio.fail_after(60):
        async with (
            running(make_app(), tmp_path / "a", store=pg_store_url, **settings) as a,
            running(make_app(), tmp_path / "b", store=pg_store_url, **settings) as b,
        ):
            async with connect(a, "/counter/long") as on_a, connect(b, "/counter/long") as on_b:
                assert await bump(on_a) == 1
                await trio.sleep(2.5)  # past the request timeout of the node that accepted
                assert await bump(on_b) == 2
                assert await bump(on_a) == 3
