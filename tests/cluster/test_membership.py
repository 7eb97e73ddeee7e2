"""Who may join a store (runtime/_membership.py): one cluster per store, one protocol per
cluster, and a node keeps its id (and so its row and leases) across restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from roost import App
from roost.runtime._membership import (
    CLUSTER_PROTOCOL,
    ClusterConflict,
    cluster_fingerprint,
    node_id_for,
)
from roost.storage import open_shared_store
from tests.cluster.test_cluster_in_process import SECRET, cluster
from tests.support import running


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
