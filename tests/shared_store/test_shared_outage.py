"""The store going away: calls fail promptly with StoreUnavailable, the same store object
works again afterwards, and nothing written before is lost (the store half of G7's faults)."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
import trio
from psycopg.conninfo import make_conninfo

from roost.storage._shared import (
    PostgresSharedStore,
    SharedStore,
    SQLiteSharedStore,
    StateWrite,
    StoreUnavailable,
)
from tests.shared_store.proxy import CuttableProxy

T = TypeVar("T")

PROMPT = 3.0  # seconds within which a call must give up while the store is down


async def eventually(call: Callable[[], Awaitable[T]]) -> T:
    """Retry ``call`` with a short backoff while the store is unavailable (the sync worker's
    job in the runtime); the caller's fail_after bounds the whole wait."""
    delay = 0.05
    while True:
        try:
            return await call()
        except StoreUnavailable:
            await trio.sleep(delay)
            delay = min(delay * 2, 0.5)


async def assert_unavailable(call: Callable[[], Awaitable[object]]) -> None:
    start = trio.current_time()
    with pytest.raises(StoreUnavailable):
        await call()
    assert trio.current_time() - start < PROMPT


def batch(n: int, fence: int, tag: str) -> list[StateWrite]:
    return [StateWrite("chat", f"room-{i}", fence, {"i": i, "tag": tag}) for i in range(n)]


async def test_postgres_unreachable_for_a_while(pg_url: str, pg_schema: str) -> None:
    with trio.fail_after(40):
        proxy = CuttableProxy.in_front_of(pg_url)
        async with trio.open_nursery() as nursery:
            await nursery.start(proxy.serve)
            url = make_conninfo(pg_url, host="127.0.0.1", port=str(proxy.port))
            store = PostgresSharedStore(
                url, schema=pg_schema, acquire_timeout=0.5, reconnect_timeout=0.5
            )
            async with store:
                lease = await store.acquire_lease("chat", "room-0", "node-a", 30)
                assert lease is not None
                assert all(o.written for o in await store.write_states(batch(100, 1, "before")))
                await store.register_node("node-a", "127.0.0.1:1")

                proxy.cut()
                await assert_unavailable(lambda: store.write_states(batch(100, 1, "during")))
                await assert_unavailable(lambda: store.read_state("chat", "room-0"))
                await assert_unavailable(lambda: store.renew_lease(lease, 30))
                await assert_unavailable(lambda: store.heartbeat_node("node-a"))
                await trio.sleep(0.3)  # stay down a while: the pool's retries fail too
                await assert_unavailable(lambda: store.list_states(limit=10))

                proxy.restore()
                outcomes = await eventually(lambda: store.write_states(batch(200, 1, "after")))
                assert [o.version for o in outcomes] == [2] * 100 + [1] * 100
                stored = await store.list_states("chat", limit=1000)
                assert len(stored) == 200
                assert {s.state["tag"] for s in stored} == {"after"}
                renewed = await store.renew_lease(lease, 30)
                assert renewed is not None and renewed.fence == lease.fence
                assert await store.heartbeat_node("node-a") is True
            nursery.cancel_scope.cancel()


async def test_postgres_connection_killed_mid_call(pg_url: str, pg_schema: str) -> None:
    """The server ends the connection while a batch waits on a row lock: the call fails with
    StoreUnavailable, the batch is rolled back, and the pool replaces the connection."""
    with trio.fail_after(30):
        async with PostgresSharedStore(pg_url, schema=pg_schema, max_size=1) as store:
            await store.write_states(batch(3, 1, "before"))
            locker = await trio.to_thread.run_sync(lambda: psycopg.connect(pg_url))
            watcher = await trio.to_thread.run_sync(
                lambda: psycopg.connect(pg_url, autocommit=True)
            )
            try:
                await trio.to_thread.run_sync(
                    lambda: locker.execute(
                        f'SELECT * FROM "{pg_schema}".roost_actor_state'
                        " WHERE actor_key = 'room-2' FOR UPDATE"
                    )
                )
                failures: list[BaseException] = []

                async def blocked_write() -> None:
                    try:
                        await store.write_states(batch(3, 1, "killed"))
                    except StoreUnavailable as exc:
                        failures.append(exc)

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(blocked_write)
                    while True:  # wait until the store's backend waits on the lock
                        row = await trio.to_thread.run_sync(
                            lambda: watcher.execute(
                                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                " AND query LIKE '%%INSERT INTO roost_actor_state%%'"
                            ).fetchone()
                        )
                        if row is not None:
                            break
                        await trio.sleep(0.02)
                    await trio.to_thread.run_sync(
                        lambda: watcher.execute("SELECT pg_terminate_backend(%s)", row)
                    )
                assert len(failures) == 1
            finally:
                locker.close()  # (a cancelled wait must still let the lock go)
                await trio.to_thread.run_sync(watcher.close)

            stored = [await store.read_state("chat", f"room-{i}") for i in range(3)]
            # The killed batch was one transaction: none of it landed.
            assert [(s.version, s.state["tag"]) for s in stored if s] == [(1, "before")] * 3
            outcomes = await eventually(lambda: store.write_states(batch(3, 1, "after")))
            assert [o.version for o in outcomes] == [2, 2, 2]


async def test_sqlite_locked_by_another_process_is_unavailable(tmp_path: Path) -> None:
    with trio.fail_after(20):
        path = tmp_path / "shared.sqlite"
        async with SQLiteSharedStore(path, busy_timeout=0.2) as store:
            await store.write_states(batch(3, 1, "before"))
            other = sqlite3.connect(path, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
                await assert_unavailable(lambda: store.write_states(batch(3, 1, "during")))
                await assert_unavailable(lambda: store.acquire_lease("chat", "x", "n", 5))
                # WAL: readers are never blocked by the writer.
                stored = await store.read_state("chat", "room-0")
                assert stored is not None and stored.state["tag"] == "before"
                other.execute("ROLLBACK")
            finally:
                other.close()
            outcomes = await store.write_states(batch(3, 1, "after"))
            assert [o.version for o in outcomes] == [2, 2, 2]


async def test_unavailable_store_keeps_other_errors(store: SharedStore) -> None:
    """Only unavailability is mapped; a programming error stays what it is."""
    with trio.fail_after(10):
        with pytest.raises(TypeError):
            await store.write_states([StateWrite("chat", "k", 1, {"bad": {1, 2}})])
