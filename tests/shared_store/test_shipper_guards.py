"""The durable shipper's guards around appends in flight (runtime/_durable.py), on a real
PostgreSQL store behind a proxy the test can hang and cut.

An append carries entries of one actor's *history* (its place in the log while this node
serves it). A history can end while an append is in flight (the lease lost, the file rebuilt):
then a failed append must not queue that history's entries again (they would land in the
next history), and a late acknowledgement must not release output of the ended history.
``wait_landed`` must wait for every append in flight. These guards were covered only by
chaos runs before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import attrs
import trio

from roost.runtime._durable import DurableShipper, DurableSlot, DurableState
from roost.runtime._stats import NodeStats
from roost.storage import SharedStore, open_shared_store
from roost.storage._wal import WalTail
from tests.runtime.test_store_hang import through
from tests.shared_store.proxy import CuttableProxy

NODE = "node-a"
IDENT = ("ledger", "k")


class Slot:
    """The slot side of the protocol (runtime/_slot.py implements it for real): records
    what the shipper tells it."""

    def __init__(self, state: DurableState) -> None:
        self.actor_type, self.key = IDENT
        self.durable: DurableState | None = state
        self.released: list[int] = []
        self.failed = 0

    def release_durable(self, seq: int) -> None:
        self.released.append(seq)

    def fail_durable(self) -> None:
        self.failed += 1


class Node:
    """The node side (the registry implements it): a lease of a fixed fence."""

    def __init__(self, fence: int) -> None:
        self.fence = fence
        self.lost: list[tuple[str, str]] = []

    def lease_fence(self, actor_type: str, key: str) -> int | None:
        return self.fence

    async def fence_lost(self, actor_type: str, key: str) -> None:
        self.lost.append((actor_type, key))

    async def take_image(self, slot: DurableSlot) -> tuple[int, bytes, int] | None:
        return None


def committing_file(path: Path) -> tuple[sqlite3.Connection, Callable[[int], None]]:
    """A real WAL-mode file, its connection (kept open: the WAL stays) and a function that
    commits ``n`` rows in one transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (v)")

    def commit(n: int) -> None:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(n)])
        conn.execute("COMMIT")

    return conn, commit


@attrs.frozen
class Shipping:
    """A shipper running on a node whose store is behind ``proxy``, with one actor's
    history under the lease of ``fence``; ``direct`` reaches the store without the proxy."""

    shipper: DurableShipper
    slot: Slot
    node: Node
    stats: NodeStats
    fence: int
    commit: Callable[[int], None]
    proxy: CuttableProxy
    direct: SharedStore
    nursery: trio.Nursery


@asynccontextmanager
async def shipping(tmp_path: Path, pg_url: str, pg_store_url: str) -> AsyncIterator[Shipping]:
    proxy = CuttableProxy.in_front_of(pg_url)
    async with AsyncExitStack() as stack:
        nursery = await stack.enter_async_context(trio.open_nursery())
        await nursery.start(proxy.serve)
        stack.callback(nursery.cancel_scope.cancel)
        stack.callback(proxy.restore)  # let held connections finish before the proxy goes
        direct = await stack.enter_async_context(
            open_shared_store(pg_store_url, data_dir=tmp_path / "seed")
        )
        store = await stack.enter_async_context(
            open_shared_store(
                through(pg_store_url, proxy), data_dir=tmp_path / "node", call_timeout=1.0
            )
        )
        claim = await direct.claim_actor(*IDENT, NODE, 30.0)
        assert claim is not None
        conn, commit = committing_file(tmp_path / "a.sqlite")
        stack.callback(conn.close)
        tail = WalTail(tmp_path / "a.sqlite")
        tail.skip_to_end()
        state = DurableState(tail, next_seq=1, acked_seq=0)
        stats = NodeStats()
        shipper = DurableShipper(store_getter(store), node_id=NODE, stats=stats, log_retention=3600)
        shipper.states[IDENT] = state
        node = Node(claim.lease.fence)
        nursery.start_soon(shipper.run, node)
        yield Shipping(
            shipper, Slot(state), node, stats, claim.lease.fence, commit, proxy, direct, nursery
        )


async def log_seqs(store: SharedStore) -> list[int]:
    history = await store.read_file_history(*IDENT)
    return [seq for seq, _ in history.entries]


def store_getter(store: SharedStore) -> Callable[[], Awaitable[SharedStore]]:
    async def get() -> SharedStore:
        return store

    return get


async def test_a_failed_append_of_an_ended_history_is_not_queued_again(
    tmp_path: Path, pg_url: str, pg_store_url: str
) -> None:
    with trio.fail_after(60):
        async with shipping(tmp_path, pg_url, pg_store_url) as run:
            shipper, slot, fence = run.shipper, run.slot, run.fence
            run.commit(3)
            assert shipper.committed(slot, fence) == 1
            await shipper.wait_acked(slot, 1)  # the store answers: seq 1 lands
            assert slot.released == [1]

            run.proxy.hang()  # the next append goes out and hears nothing
            run.commit(3)
            assert shipper.committed(slot, fence) == 2
            await trio.sleep(0.3)  # it is in flight now
            assert shipper.pending == 0
            landed = trio.Event()

            async def wait_landed() -> None:
                await shipper.wait_landed(IDENT)
                landed.set()

            run.nursery.start_soon(wait_landed)
            await trio.sleep(0.1)
            assert not landed.is_set()  # an append of the actor is in flight
            shipper.forget(IDENT)  # the history ends: the lease is claimed anew
            again = await run.direct.claim_actor(*IDENT, NODE, 30.0)
            assert again is not None and again.lease.fence == fence + 1
            await landed.wait()  # the append failed at its deadline (1 s)
            await trio.sleep(0.2)
            # Not queued again: its entries belong to a history that ended.
            assert shipper.pending == 0
            assert slot.released == [1] and slot.failed == 0
            run.proxy.restore()
            await trio.sleep(1.5)  # past the retry backoff: nothing is sent again
            # Sent again, it would have been refused (an old fence): the slot failed and the
            # node told its lease was lost, for a history that had already ended.
            assert slot.failed == 0 and run.node.lost == []
            # The append the proxy held lands late or not at all: under the old fence, the
            # store refuses it either way.
            assert await log_seqs(run.direct) == [1]
            assert run.stats.durable_entries_total == 1


async def test_a_failed_append_of_a_live_history_is_retried_in_order(
    tmp_path: Path, pg_url: str, pg_store_url: str
) -> None:
    with trio.fail_after(60):
        async with shipping(tmp_path, pg_url, pg_store_url) as run:
            run.proxy.cut()  # the store is gone: every append fails
            for _ in range(3):
                run.commit(2)
                run.shipper.committed(run.slot, run.fence)
            await trio.sleep(1.5)
            assert run.slot.released == []  # nothing acknowledged, nothing released
            run.proxy.restore()
            await run.shipper.wait_acked(run.slot, 3)
            released = run.slot.released
            assert released[-1] == 3 and released == sorted(released)
            assert await log_seqs(run.direct) == [1, 2, 3]
