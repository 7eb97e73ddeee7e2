"""``delete_states`` (an actor's data deleted: its row goes, fenced like a write) and
``retire_states`` (the retention sweep), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
import trio

from roost.storage._shared import EncodedState, SharedStore, WriteOutcome, WriteStatus
from roost.storage._shared._history import LogEntry

RawDb = Callable[[], AbstractContextManager[tuple[Any, str]]]
DAY = 86_400.0


def encoded(*states: Any) -> list[EncodedState]:
    return [EncodedState.encode(state) for state in states]


async def keys(store: SharedStore, actor_type: str = "item") -> list[str]:
    return [s.key for s in await store.list_states(actor_type, limit=1000)]


async def lease_keys(store: SharedStore, actor_type: str = "item") -> list[str]:
    return [lease.key for lease in await store.list_leases(actor_type, limit=1000)]


async def test_rows_go_and_absent_ones_are_no_refusal(store: SharedStore) -> None:
    with trio.fail_after(10):
        actors = [("item", "a"), ("item", "b"), ("item", "c")]
        assert await store.write_snapshots(4, actors, encoded(1, 2, 3)) == []
        refused = await store.delete_states(4, [("item", "a"), ("item", "never"), ("item", "c")])
        assert refused == []
        assert await keys(store) == ["b"]
        assert await store.read_state("item", "a") is None
        assert await store.delete_states(4, []) == []
        # A write after the delete starts a new row: version 1.
        assert await store.write_snapshots(4, [("item", "a")], encoded("again")) == []
        again = await store.read_state("item", "a")
        assert again is not None and (again.version, again.state) == (1, "again")


async def test_a_newer_fence_on_record_refuses_the_delete(store: SharedStore) -> None:
    with trio.fail_after(10):
        await store.write_snapshots(7, [("item", "newer-state")], encoded("theirs"))
        lease = await store.acquire_lease("item", "leased", "node-b", 30)
        assert lease is not None and lease.fence == 1
        await store.write_snapshots(1, [("item", "leased")], encoded("x"))
        # A newer owner takes the lease: fence 2; the old owner (fence 1) may not delete.
        assert await store.release_lease(lease)
        newer = await store.acquire_lease("item", "leased", "node-c", 30)
        assert newer is not None and newer.fence == 2
        await store.write_snapshots(3, [("item", "mine")], encoded("y"))

        refused = await store.delete_states(
            [3, 1, 3], [("item", "newer-state"), ("item", "leased"), ("item", "mine")]
        )
        assert refused == [
            WriteOutcome("item", "newer-state", WriteStatus.STALE_FENCE, 1, 7),
            WriteOutcome("item", "leased", WriteStatus.STALE_FENCE, 1, 2),
        ]
        assert await keys(store) == ["leased", "newer-state"]
        # The owner of the lease deletes with its own fence; its lease row stays.
        assert await store.delete_states(newer.fence, [("item", "leased")]) == []
        assert await keys(store) == ["newer-state"]
        assert await lease_keys(store) == ["leased"]
        # Released, the lease row of an actor with no state goes (as for a stranger).
        assert await store.release_leases("node-c", [("item", "leased", newer.fence)]) == 1
        assert await lease_keys(store) == []


async def test_bad_arguments_are_refused_before_anything_changes(store: SharedStore) -> None:
    with trio.fail_after(10):
        await store.write_snapshots(1, [("item", "a")], encoded(1))
        with pytest.raises(ValueError):
            await store.delete_states([1, 2], [("item", "a")])
        with pytest.raises(TypeError):
            await store.delete_states("1", [("item", "a")])  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await store.delete_states(-1, [("item", "a")])
        with pytest.raises((TypeError, ValueError)):
            await store.delete_states(1, [("item", "nul\x00")])
        with pytest.raises(ValueError):
            await store.retire_states(0)
        with pytest.raises(ValueError):
            await store.retire_states(float("nan"))
        with pytest.raises(ValueError):
            await store.retire_states(DAY, limit=0)
        assert await keys(store) == ["a"]


def age_rows(raw_db: RawDb, seconds: float, *keys: str, table: str = "roost_actor_state") -> None:
    """Make the rows of ``keys`` in ``table`` look ``seconds`` old by the database's clock."""
    column = "updated_at" if table == "roost_actor_state" else "at"
    with raw_db() as (conn, p):
        for key in keys:
            if p == "?":
                conn.execute(
                    f"UPDATE {table} SET {column} = ? WHERE actor_key = ?",
                    (time.time() - seconds, key),
                )
            else:
                conn.execute(
                    f"UPDATE {table} SET {column} = now() - make_interval(secs => %s)"
                    " WHERE actor_key = %s",
                    (seconds, key),
                )


async def test_retention_takes_idle_rows_without_holder_or_alarm(
    store: SharedStore, raw_db: RawDb
) -> None:
    with trio.fail_after(10):
        names = ["old", "fresh", "leased", "alarmed", "released"]
        await store.write_snapshots(
            5,
            [("item", name) for name in names],
            encoded(*names),
            [None, None, None, [{"due_at": time.time() + 60}], None],
        )
        held = await store.acquire_lease("item", "leased", "node-a", 60)
        gone = await store.acquire_lease("item", "released", "node-a", 60)
        assert held is not None and gone is not None
        await store.write_snapshots(
            [held.fence, gone.fence], [("item", "leased"), ("item", "released")], encoded(1, 2)
        )
        assert await store.release_lease(gone)
        age_rows(raw_db, 3 * DAY, "old", "leased", "alarmed", "released")
        age_rows(raw_db, DAY / 2, "fresh")

        assert await store.retire_states(2 * DAY) == 2
        assert await keys(store) == ["alarmed", "fresh", "leased"]
        assert await lease_keys(store) == ["leased"]  # the released row went with its state
        assert await store.retire_states(2 * DAY) == 0


async def test_retention_goes_in_batches_oldest_first(store: SharedStore, raw_db: RawDb) -> None:
    with trio.fail_after(10):
        actors = [("item", f"k{i}") for i in range(5)]
        await store.write_snapshots(1, actors, encoded(*range(5)))
        for i in range(5):
            age_rows(raw_db, (10 - i) * DAY, f"k{i}")
        assert await store.retire_states(DAY, limit=2) == 2
        assert await keys(store) == ["k2", "k3", "k4"]
        assert await store.retire_states(DAY, limit=2) == 2
        assert await store.retire_states(DAY, limit=2) == 1
        assert await keys(store) == []


async def test_the_file_history_goes_with_the_state(store: SharedStore) -> None:
    with trio.fail_after(10):
        for key in ("mine", "theirs"):
            await store.write_snapshots(2, [("item", key)], encoded(key))
            assert await store.put_file_image("item", key, fence=2, seq=0, image=b"img")
        await store.write_snapshots(5, [("item", "theirs")], encoded("newer"))
        refused = await store.delete_states(2, [("item", "mine"), ("item", "theirs")])
        assert [outcome.key for outcome in refused] == ["theirs"]
        assert (await store.read_file_history("item", "mine")).image is None
        assert (await store.read_file_history("item", "theirs")).image is not None


async def test_retention_takes_the_file_history_and_spares_an_actor_whose_log_moves_on(
    store: SharedStore, raw_db: RawDb
) -> None:
    """An actor's file in the store (images and the durable log) is its state too: it goes
    with the retired row, and a log written since the cutoff keeps the actor (a durable
    actor's snapshot may stay unchanged while its file changes)."""
    with trio.fail_after(10):
        await store.write_snapshots(2, [("item", "old"), ("item", "imaged")], encoded(1, 2))
        for key in ("old", "imaged"):
            assert await store.put_file_image("item", key, fence=2, seq=0, image=b"img")
        lease = await store.acquire_lease("item", "logged", "node-a", 60)
        assert lease is not None
        await store.write_snapshots(lease.fence, [("item", "logged")], encoded(3))
        entry = LogEntry("item", "logged", lease.fence, 1, b"entry")
        assert await store.append_log("node-a", [entry]) == []
        assert await store.release_lease(lease)
        age_rows(raw_db, 3 * DAY, "old", "imaged", "logged")
        age_rows(raw_db, 3 * DAY, "old", table="roost_actor_file")

        assert await store.retire_states(2 * DAY) == 1
        assert await keys(store) == ["imaged", "logged"]
        assert (await store.read_file_history("item", "old")).image is None
        assert (await store.read_file_history("item", "imaged")).image == b"img"
        assert (await store.read_file_history("item", "logged")).entries == [(1, b"entry")]

        age_rows(raw_db, 3 * DAY, "imaged", table="roost_actor_file")
        age_rows(raw_db, 3 * DAY, "logged", table="roost_actor_log")
        assert await store.retire_states(2 * DAY) == 2
        assert await keys(store) == []
        assert await lease_keys(store) == []
        for key in ("imaged", "logged"):
            history = await store.read_file_history("item", key)
            assert (history.image, history.entries) == (None, [])


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite: one writer, no interleaving
async def test_a_claim_during_the_sweep_keeps_its_actor(store: SharedStore, raw_db: RawDb) -> None:
    """PostgreSQL: the sweep locks the lease rows of what it would retire, so a claim that
    commits while it waits wins, and the actor's state and file stay for the new owner
    (SQLite: one writer at a time, the claim comes before or after the whole sweep)."""
    with trio.fail_after(20):
        lease = await store.acquire_lease("item", "x", "node-a", 60)
        assert lease is not None
        await store.write_snapshots(lease.fence, [("item", "x")], encoded(1))
        assert await store.put_file_image("item", "x", fence=lease.fence, seq=0, image=b"img")
        assert await store.release_lease(lease)
        age_rows(raw_db, 3 * DAY, "x")
        age_rows(raw_db, 3 * DAY, "x", table="roost_actor_file")
        swept: list[int] = []
        with raw_db() as (claimer, _):
            claimer.execute("BEGIN")
            claimer.execute(  # a claim, not committed yet: it holds the lease row
                "UPDATE roost_actor_lease SET node_id = 'node-b', fence = fence + 1,"
                " expires_at = now() + interval '60 seconds' WHERE actor_key = 'x'"
            )
            async with trio.open_nursery() as nursery:

                async def sweep() -> None:
                    swept.append(await store.retire_states(2 * DAY))

                nursery.start_soon(sweep)
                await trio.sleep(0.5)
                assert swept == []  # it waits for the lease row
                claimer.execute("COMMIT")
        assert swept == [0]
        assert await keys(store) == ["x"]
        assert (await store.read_file_history("item", "x")).image == b"img"
