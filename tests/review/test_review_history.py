"""Review of issue 15 (durable output), at the store: bugs found by reading
storage/_shared/_history.py, each shown on a real PostgreSQL store. Each test failed when it
was written and passes since its fix: it guards against the bug coming back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import trio

from roost.storage import open_shared_store
from roost.storage._shared._history import LogEntry


async def test_an_append_that_outlives_a_takeover_is_refused(
    tmp_path: Path, pg_store_url: str
) -> None:
    """G4 extended to the store (docs/operations.md "Durable output": "a node that lost the
    actor can no longer append"). ``PG_APPEND_MANY`` checks ``EXISTS (lease ... expires_at >
    now())`` in a MATERIALIZED CTE: PostgreSQL evaluates it on the statement's snapshot and
    ``now()`` is the transaction's start, and nothing locks the lease row (no ``FOR SHARE``).
    An append that started while A's lease was valid but is delayed inside the database (here:
    waiting on a conflicting uncommitted insert; in life: a lock wait, a slow disk, a starved
    backend) commits *after* B claimed the actor and read its history, and A is told
    "accepted": A releases the output (the client sees the write acknowledged), while B
    continues from a history without it and overwrites that seq with its own entry (higher
    fence wins the ON CONFLICT). An acknowledged write is lost.

    Interleaving: A claims (fence 1, ttl 1 s) and appends seq 1; a blocker inserts seq 2
    uncommitted; A's append of seq 2 starts (lease valid) and waits on the blocker; A's lease
    expires; B claims (fence 2) and reads the history (last seq 1); the blocker rolls back;
    A's append commits and is reported accepted.
    """
    with trio.fail_after(30):
        async with open_shared_store(pg_store_url, data_dir=tmp_path) as store:
            claim_a = await store.claim_actor("ledger", "k", "node-a", 1.0)
            assert claim_a is not None
            fence_a = claim_a.lease.fence
            assert (
                await store.append_log("node-a", [LogEntry("ledger", "k", fence_a, 1, b"x")]) == []
            )
            blocker = await trio.to_thread.run_sync(psycopg.connect, pg_store_url)
            try:
                await trio.to_thread.run_sync(
                    lambda: blocker.execute(
                        "INSERT INTO roost_actor_log (actor_type, actor_key, seq, fence, at, entry)"
                        " VALUES ('ledger', 'k', 2, 0, now(), '\\x00')"
                    )
                )  # uncommitted: A's insert of seq 2 will wait for it
                outcome: list[list[tuple[str, str]]] = []

                async def append_seq_2() -> None:
                    entry = LogEntry("ledger", "k", fence_a, 2, b"acknowledged by A")
                    outcome.append(await store.append_log("node-a", [entry]))

                claims: list[Any] = []

                async def claim_b() -> None:
                    claims.append(await store.claim_actor("ledger", "k", "node-b", 30.0))

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(append_seq_2)
                    await trio.sleep(1.5)  # A's lease (1 s) expired in the database's clock
                    nursery.start_soon(claim_b)
                    await trio.sleep(0.5)
                    await trio.to_thread.run_sync(blocker.rollback)
                assert claims and claims[0] is not None
                assert claims[0].lease.fence == fence_a + 1
                history = await store.read_file_history("ledger", "k")
                # Either A's late append was refused, or B's claim waited for it and B's
                # history holds it: never "accepted" for A and missing for B.
                if outcome != [[("ledger", "k")]]:
                    assert outcome == [[]]
                    assert history.entries[1] == (2, b"acknowledged by A"), history
            finally:
                blocker.close()  # (a cancelled wait must still let the lock go)


async def test_a_stale_owners_entry_beyond_a_gap_is_not_part_of_the_history(
    tmp_path: Path, pg_store_url: str
) -> None:
    """G7 / durable rebuild. The shipper keeps up to three appends in flight
    (runtime/_durable.APPENDS_IN_FLIGHT); when the batch holding seq n fails
    (StoreUnavailable: a killed backend, a cut proxy) and the next one, holding seq n+1,
    succeeds, the log has a hole until the first is retried; if A dies (or loses the lease)
    first, the hole stays, with A's unacknowledged seq n+1 beyond it.

    ``HistorySql.history`` stops at the hole, so B rebuilds up to n-1 and appends its own
    seq n (fence 2). From then on the rows read n-1, n (B, fence 2), n+1 (A, fence 1):
    contiguous again, and the next rebuild (C, or B restarting) replays A's stale pages of
    commit n+1 over B's commit n: pages of two different histories mixed in one file (a
    corrupt database, or A's never-acknowledged write resurrected). Nothing in the read
    checks that fences never go down along the log.
    """
    with trio.fail_after(30):
        async with open_shared_store(pg_store_url, data_dir=tmp_path) as store:
            claim_a = await store.claim_actor("ledger", "g", "node-a", 30.0)
            assert claim_a is not None
            f1 = claim_a.lease.fence
            # seq 2's batch failed; seq 3's, in flight beside it, landed. Then A died.
            entries = [LogEntry("ledger", "g", f1, 1, b"a1"), LogEntry("ledger", "g", f1, 3, b"a3")]
            assert await store.append_log("node-a", entries) == []
            await store.release_leases("node-a", [("ledger", "g", f1)])  # (or it expired)
            claim_b = await store.claim_actor("ledger", "g", "node-b", 30.0)
            assert claim_b is not None
            f2 = claim_b.lease.fence
            assert (await store.read_file_history("ledger", "g")).last_seq == 1
            assert await store.append_log("node-b", [LogEntry("ledger", "g", f2, 2, b"b2")]) == []
            history = await store.read_file_history("ledger", "g")
            # B's history is 1, 2; A's seq 3 was written on top of A's lost seq 2, never B's.
            assert [seq for seq, _ in history.entries] == [1, 2]


async def test_a_history_missing_its_first_entries_is_not_replayed(
    tmp_path: Path, pg_store_url: str
) -> None:
    """The gap check in ``HistorySql.history`` compares each entry with the previous one
    only (``if entries and seq != entries[-1][0] + 1``): the first entry is never compared
    with ``image_seq`` + 1. When the batch holding an actor's first commits failed and a
    later one landed (three appends in flight) and the node died, the log starts at seq 3;
    the next owner's rebuild (``rebuild_file``) applies commit 3's pages to an empty file:
    half a database, which SQLite reads as corrupt or as rows without their tables."""
    with trio.fail_after(30):
        async with open_shared_store(pg_store_url, data_dir=tmp_path) as store:
            claim = await store.claim_actor("ledger", "h", "node-a", 30.0)
            assert claim is not None
            fence = claim.lease.fence
            assert (
                await store.append_log("node-a", [LogEntry("ledger", "h", fence, 3, b"a3")]) == []
            )
            history = await store.read_file_history("ledger", "h")
            assert history.image is None and history.entries == []
