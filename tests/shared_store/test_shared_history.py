"""Actor files in the store (storage/_shared/_history.py): a fenced commit log and images,
read back as one history, as of now or of a past moment, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from roost.storage import SharedStore
from roost.storage._shared._history import LogEntry

MakeStore = Callable[..., Awaitable[SharedStore]]


async def test_the_log_is_fenced_by_the_lease_and_read_back_in_order(make_store: Any) -> None:
    with trio.fail_after(30):
        store: SharedStore = make_store()
        await store.open()
        claim = await store.claim_actor("doc", "d", "node-a", 30.0)
        assert claim is not None
        fence = claim.lease.fence
        entries = [LogEntry("doc", "d", fence, seq, f"commit {seq}".encode()) for seq in (1, 2, 3)]
        assert await store.append_log("node-a", entries) == []
        # Another node, or a stale fence, is refused and writes nothing.
        assert await store.append_log("node-b", [LogEntry("doc", "d", fence, 4, b"x")]) == [
            ("doc", "d")
        ]
        assert await store.append_log("node-a", [LogEntry("doc", "d", fence - 1, 4, b"x")]) == [
            ("doc", "d")
        ]
        history = await store.read_file_history("doc", "d")
        assert history.image is None and history.image_seq == 0
        assert [seq for seq, _ in history.entries] == [1, 2, 3]
        assert history.entries[1][1] == b"commit 2"
        assert history.last_seq == 3 and history.fence == fence
        # An image holding the log up to 2: the history starts from it.
        assert await store.put_file_image(
            "doc", "d", fence=fence, seq=2, image=b"IMAGE", node_id="node-a"
        )
        history = await store.read_file_history("doc", "d")
        assert (history.image, history.image_seq) == (b"IMAGE", 2)
        assert [seq for seq, _ in history.entries] == [3]
        assert not await store.put_file_image(
            "doc", "d", fence=fence, seq=3, image=b"NO", node_id="node-b"
        )


async def test_a_new_owner_overwrites_what_the_old_one_left_unacknowledged(
    make_store: Any,
) -> None:
    with trio.fail_after(30):
        store: SharedStore = make_store()
        await store.open()
        old = await store.claim_actor("doc", "e", "node-a", 30.0)
        assert old is not None
        await store.append_log("node-a", [LogEntry("doc", "e", old.lease.fence, 1, b"a1")])
        await store.release_leases("node-a", [("doc", "e", old.lease.fence)])
        new = await store.claim_actor("doc", "e", "node-b", 30.0)
        assert new is not None and new.lease.fence > old.lease.fence
        # The old owner can no longer append, the new one continues the history.
        assert await store.append_log("node-a", [LogEntry("doc", "e", old.lease.fence, 2, b"a2")])
        assert (
            await store.append_log("node-b", [LogEntry("doc", "e", new.lease.fence, 2, b"b2")])
            == []
        )
        history = await store.read_file_history("doc", "e")
        assert history.entries == [(1, b"a1"), (2, b"b2")]


async def test_history_as_of_a_moment_and_pruning(make_store: Any) -> None:
    with trio.fail_after(30):
        store: SharedStore = make_store()
        await store.open()
        claim = await store.claim_actor("doc", "f", "node-a", 30.0)
        assert claim is not None
        fence = claim.lease.fence
        await store.append_log("node-a", [LogEntry("doc", "f", fence, 1, b"1")])
        await store.put_file_image("doc", "f", fence=fence, seq=1, image=b"I1", node_id="node-a")
        await trio.sleep(0.05)
        between = time.time()
        await trio.sleep(0.05)
        await store.append_log("node-a", [LogEntry("doc", "f", fence, 2, b"2")])
        await store.put_file_image("doc", "f", fence=fence, seq=2, image=b"I2", node_id="node-a")
        then = await store.read_file_history("doc", "f", at=between)
        assert (then.image, then.image_seq, then.entries) == (b"I1", 1, [])
        now = await store.read_file_history("doc", "f")
        assert (now.image, now.image_seq) == (b"I2", 2)
        await store.prune_file_history("doc", "f", keep_seconds=3600)  # nothing that old
        assert (await store.read_file_history("doc", "f", at=between)).image == b"I1"
        await store.prune_file_history("doc", "f", keep_seconds=0)
        assert (await store.read_file_history("doc", "f", at=between)).image is None
        assert (await store.read_file_history("doc", "f")).image == b"I2"
