"""Durable output's append on PostgreSQL runs on trio's thread (storage/_shared/_pg_append.py):
its faults end the call with StoreUnavailable, and the next call works on a new connection."""

from __future__ import annotations

import psycopg
import pytest
import trio
from psycopg.conninfo import make_conninfo

from roost.storage._shared import PostgresSharedStore, StoreUnavailable
from roost.storage._shared._history import LogEntry
from tests.shared_store.proxy import CuttableProxy


async def claimed(store: PostgresSharedStore) -> int:
    await store.register_node("node-a", "127.0.0.1:1")
    claim = await store.claim_actor("counter", "c", "node-a", 60.0)
    assert claim is not None
    return claim.lease.fence


def entry(fence: int, seq: int) -> LogEntry:
    return LogEntry("counter", "c", fence, seq, b"commit %d" % seq)


async def logged(store: PostgresSharedStore) -> list[int]:
    history = await store.read_file_history("counter", "c")
    return [seq for seq, _ in history.entries]


async def test_appends_go_in_and_a_stranger_is_refused(pg_url: str, pg_schema: str) -> None:
    with trio.fail_after(20):
        async with PostgresSharedStore(pg_url, schema=pg_schema) as store:
            fence = await claimed(store)
            async with trio.open_nursery() as nursery:  # three at once: three connections
                for seq in (1, 2, 3):
                    nursery.start_soon(store.append_log, "node-a", [entry(fence, seq)])
            assert await store.append_log("node-b", [entry(fence, 4)]) == [("counter", "c")]
            assert await store.append_log("node-a", [entry(fence + 1, 4)]) == [("counter", "c")]
            assert await logged(store) == [1, 2, 3]


async def test_a_terminated_backend_fails_one_append_only(pg_url: str, pg_schema: str) -> None:
    with trio.fail_after(20):
        async with PostgresSharedStore(pg_url, schema=pg_schema) as store:
            fence = await claimed(store)
            assert await store.append_log("node-a", [entry(fence, 1)]) == []
            (conn,) = store._appender._idle
            pid = conn.pgconn.backend_pid
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(StoreUnavailable):
                await store.append_log("node-a", [entry(fence, 2)])
            assert store.health().reachable is False
            assert await store.append_log("node-a", [entry(fence, 2)]) == []
            assert store.health().reachable is True
            assert await logged(store) == [1, 2]


async def test_a_silent_network_ends_the_append_at_its_deadline(
    pg_url: str, pg_schema: str
) -> None:
    with trio.fail_after(30):
        proxy = CuttableProxy.in_front_of(pg_url)
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            url = make_conninfo(pg_url, host="127.0.0.1", port=str(proxy.port))
            async with PostgresSharedStore(url, schema=pg_schema, call_timeout=1.0) as store:
                fence = await claimed(store)
                assert await store.append_log("node-a", [entry(fence, 1)]) == []
                proxy.hang()
                start = trio.current_time()
                with pytest.raises(StoreUnavailable, match="timed out"):
                    await store.append_log("node-a", [entry(fence, 2)])
                assert trio.current_time() - start < 2.0
                proxy.restore()
                assert await store.append_log("node-a", [entry(fence, 2)]) == []
                assert await logged(store) == [1, 2]
            nursery.cancel_scope.cancel()
