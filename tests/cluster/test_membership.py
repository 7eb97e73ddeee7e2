"""Who may join a store (runtime/_membership.py): one cluster per store, one protocol per
cluster, and a node keeps its id (and so its row and leases) across restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import trio

from roost import App, Server, ServerConfig
from roost.runtime._membership import (
    CLUSTER_PROTOCOL,
    ClusterConflict,
    cluster_fingerprint,
    node_id_for,
)
from roost.storage import open_shared_store
from tests.cluster.test_cluster_in_process import SECRET, cluster, make_app
from tests.shared_store.proxy import CuttableProxy
from tests.support import http, running


def conflict_of(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def refused(data_dir: Path, store: str, **settings: Any) -> str:
    with pytest.raises(BaseException) as info:
        async with running(App(), data_dir, store=store, **settings):
            pass
    error = conflict_of(info.value)
    assert isinstance(error, ClusterConflict), error
    return str(error)


async def test_a_live_node_of_another_protocol_or_cluster_is_refused(
    tmp_path: Path, pg_store_url: str
) -> None:
    with trio.fail_after(30):
        async with open_shared_store(pg_store_url, data_dir=tmp_path) as store:
            await store.register_node(
                "node-future",
                "10.0.0.9:8787",
                version="99.0",
                protocol=CLUSTER_PROTOCOL + 1,
                cluster=cluster_fingerprint(SECRET),
            )
            message = await refused(tmp_path / "a", pg_store_url, **cluster())
            assert f"cluster protocol {CLUSTER_PROTOCOL + 1} (roost 99.0)" in message
            assert "node-future" in message
            await store.unregister_node("node-future")
            await store.register_node(
                "node-other", "10.0.0.8:8787", protocol=CLUSTER_PROTOCOL,
                cluster=cluster_fingerprint("another secret"),
            )  # fmt: skip
            message = await refused(tmp_path / "a", pg_store_url, **cluster())
            assert "another cluster" in message
            await store.unregister_node("node-other")
            # With the neighbours gone, the node joins.
            async with running(App(), tmp_path / "a", store=pg_store_url, **cluster()) as a:
                nodes = await store.list_nodes()
                assert [n.node_id for n in nodes] == [a.node.node_id]
                assert nodes[0].protocol == CLUSTER_PROTOCOL
                assert nodes[0].cluster == cluster_fingerprint(SECRET) != SECRET


def test_a_node_keeps_its_id_in_its_directory(tmp_path: Path) -> None:
    first = node_id_for(tmp_path / "n")
    assert first.startswith("node-") and node_id_for(tmp_path / "n") == first
    assert node_id_for(tmp_path / "m") != first
    assert (tmp_path / "n" / "node-id").read_text().strip() == first


def through(proxy: CuttableProxy, url: str) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    netloc = (
        f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
    )
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.mark.slow
@pytest.mark.parametrize("secret", [SECRET, None], ids=["cluster", "single"])
async def test_a_node_started_while_its_store_is_cut_waits_for_it(
    tmp_path: Path, pg_store_url: str, secret: str | None
) -> None:
    """PostgreSQL down (or cut off) when a node starts: the node waits for it and then joins,
    instead of exiting as if it were misconfigured (a chaos run restarted a node during a
    cut: it exited with status 2)."""
    proxy = CuttableProxy.in_front_of(pg_store_url)
    settings = cluster() if secret else {"sync_interval": 0.2}
    with trio.fail_after(40):
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            proxy.cut()
            config = ServerConfig(
                host="127.0.0.1",
                port=0,
                data_dir=tmp_path / "a",
                store=through(proxy, pg_store_url),
                **settings,
            )
            server = Server(make_app(), config)
            started = trio.Event()

            async def serve() -> None:
                await nursery.start(server.serve)
                started.set()

            nursery.start_soon(serve)
            await trio.sleep(7.0)  # past the pool's 5 s: attempts fail, none of them fatal
            assert not started.is_set()
            proxy.restore()
            await started.wait()
            status, _, body = await http(
                server,
                "POST",
                "/counter/c/rpc/add",
                body=b'{"by": 1}',
                headers=[("content-type", "application/json")],
            )
            assert status == 200, body
            await server.shutdown()
            nursery.cancel_scope.cancel()
