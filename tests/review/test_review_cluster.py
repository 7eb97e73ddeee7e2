"""Review of issues 14 and 15 (the cluster, replicated files): bugs found by reading
runtime/_slot.py, runtime/_leases.py, runtime/_registry.py and runtime/_activation.py, each
shown with real in-process nodes on real sockets and a real PostgreSQL store. Each test failed
when it was written and passes since its fix: it guards against the bug coming back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

import roost.client
from roost import Actor, App, rpc
from roost.storage import open_shared_store
from tests.cluster.test_durable import Notes  # replicate_file, a snapshot, no restore
from tests.support import http, running

SECRET = "review secret"
TTL = 3.0
#: Set by a test, awaited by Gated.slow (module level: the nodes run in this process).
GATE: dict[str, trio.Event] = {}


class Gated(Actor):
    """A counter whose ``slow`` rpc waits inside its turn until the test opens the gate (a
    handler awaiting a remote call, an HTTP fetch, a sleep)."""

    sync_on_write = True

    @rpc
    async def add(self, conn: Any, by: int) -> int:
        n = int(self.storage.kv.get("n", 0)) + by
        self.storage.kv.put("n", n)
        return n

    @rpc
    async def slow(self, conn: Any) -> int:
        GATE["entered"].set()
        await GATE["open"].wait()
        n = int(self.storage.kv.get("n", 0)) + 1
        self.storage.kv.put("n", n)
        return n

    def snapshot(self) -> dict[str, Any]:
        return {"n": self.storage.kv.get("n", 0)}

    async def restore(self, snapshot: Any) -> None:
        self.storage.kv.put("n", snapshot["n"])


class BareNotes(Notes):
    """The same rows with the default ``snapshot()`` (None): the file is the only state."""

    def snapshot(self) -> Any:
        return None


def make_app() -> App:
    app = App()
    app.actor("gated", Gated)
    app.actor("notes", Notes)
    app.actor("bare", BareNotes)
    return app


def cluster(**extra: Any) -> dict[str, Any]:
    return {"cluster_secret": SECRET, "lease_ttl": TTL, "sync_interval": 0.2, **extra}


async def rpc_call(server: Any, path: str, body: bytes = b"{}") -> tuple[int, bytes]:
    status, _, answer = await http(
        server, "POST", path, body=body, headers=[("content-type", "application/json")]
    )
    return status, answer


async def take_lease_away(store_url: str, tmp_path: Path, actor_type: str, key: str) -> None:
    """What a newer owner does after A's lease lapsed (A partitioned from PostgreSQL, or
    paused): the lease goes to another node with the next fence."""
    async with open_shared_store(store_url, data_dir=tmp_path / "tool") as store:
        (lease,) = [x for x in await store.list_leases(actor_type) if x.key == key]
        await store.release_leases(lease.node_id, [(actor_type, key, lease.fence)])
        claim = await store.claim_actor(actor_type, key, "node-newer", 60.0)
        assert claim is not None and claim.lease.fence == lease.fence + 1


async def test_a_turn_that_outlives_its_lease_does_not_answer(
    tmp_path: Path, pg_store_url: str
) -> None:
    """G1 (docs/architecture.md "Believe a lease only as long as it surely lasts": "Every
    turn checks it"). ``ActorSlot.turn`` checks ``registry.serves`` once, before the handler;
    ``_commit_and_release`` commits and releases without looking again. The keeper's
    self-fence (``Cluster.lease_lost`` -> ``registry.fence_lost`` -> ``evict``) waits for the
    actor's lock, i.e. for the running turn to finish. So a handler that awaits across the
    lease's end (a call to another actor, up to ``--call-timeout`` 30 s; any I/O) resumes on
    the old owner while the new owner already runs turns of the same actor: two live
    activations, and the caller gets 200 with a result whose write the store will refuse.

    Interleaving: A serves gated/x; an HTTP rpc ``slow`` enters its turn and awaits; the
    lease goes to another node (fence + 1); A's next renewal finds it lost and self-fences
    (blocked on the lock); the handler resumes, commits locally and A answers 200.
    """
    GATE.update(entered=trio.Event(), open=trio.Event())
    with trio.fail_after(60):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **cluster()) as a:
            status, body = await rpc_call(a, "/gated/x/rpc/add", b'{"by": 1}')
            assert status == 200, body
            await trio.sleep(0.8)  # synced: the lease row keeps its fence from now on
            answer: list[tuple[int, bytes]] = []

            async def slow() -> None:
                answer.append(await rpc_call(a, "/gated/x/rpc/slow"))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(slow)
                await GATE["entered"].wait()
                await take_lease_away(pg_store_url, tmp_path, "gated", "x")
                fences = a.stats.self_fences_total
                await trio.sleep(TTL)  # renewals every ttl / 3: A noticed and self-fenced
                assert a.stats.self_fences_total > fences
                GATE["open"].set()
            ((status, body),) = answer
            # Another node owns gated/x: this turn's result must not reach the caller.
            assert status == 503, (status, body)


async def test_one_slow_turn_does_not_cost_the_node_its_other_leases(
    tmp_path: Path, pg_store_url: str
) -> None:
    """Liveness of the lease keeper. ``LeaseKeeper.run`` -> ``_renew`` finds a lost lease ->
    ``_self_fence`` -> ``Cluster.lease_lost`` -> ``registry.fence_lost`` -> ``evict``, which
    takes the actor's lock: while that actor's turn awaits (up to ``--call-timeout``), the
    loop renews nothing. Every other lease of the node lapses in the database after the ttl,
    and any node may take those actors (their sessions here are not even closed: the keeper
    is still stuck). One actor that moved costs the node all its actors.

    Interleaving: A holds gated/x and gated/y; x's turn awaits; x's lease is taken by
    another node; A self-fences x and blocks; 2 x ttl later y's lease has lapsed.
    """
    GATE.update(entered=trio.Event(), open=trio.Event())
    with trio.fail_after(60):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **cluster()) as a:
            for key in ("x", "y"):
                status, body = await rpc_call(a, f"/gated/{key}/rpc/add", b'{"by": 1}')
                assert status == 200, body
            await trio.sleep(0.8)  # synced: the lease rows keep their fences from now on
            async with open_shared_store(pg_store_url, data_dir=tmp_path / "tool") as store:
                owner = await store.lease_owner("gated", "y")
                assert owner is not None
                node_a = owner.node_id
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(rpc_call, a, "/gated/x/rpc/slow")
                    await GATE["entered"].wait()
                    await take_lease_away(pg_store_url, tmp_path, "gated", "x")
                    await trio.sleep(2 * TTL)
                    owner = await store.lease_owner("gated", "y")
                    GATE["open"].set()
                # Nothing happened to y: A must still hold its lease.
                assert owner is not None and owner.node_id == node_a


async def test_replicate_file_rebuilds_the_file_on_a_cluster_node_with_an_empty_data_dir(
    tmp_path: Path, pg_store_url: str
) -> None:
    """Issue 15 point 2 ("a node with an empty data dir rebuilds the file") on a cluster,
    where actors move. ``_activation._stored_state`` takes the ``lease.claimed`` branch on a
    cluster node; with a stored state and no local file it returns ``stored`` at once and
    ``_file_from_image`` is only tried when a *stale* local file exists. So the new owner
    runs ``restore(snapshot)`` (here: none) on an empty file: every row the file held is
    gone on B, and B's next sync overwrites the store's state with it. (The existing test,
    tests/cluster/test_durable.py, runs single nodes, which take the other branch.)"""
    with trio.fail_after(60):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, **cluster()) as a:
            for text in ("one", "two", "three"):
                status, body = await rpc_call(
                    a, "/notes/n/rpc/add", f'{{"text": "{text}"}}'.encode()
                )
                assert status == 200, body
            await trio.sleep(0.8)  # synced: the snapshot and the file's image
        # A shut down gracefully: synced, lease released. B has an empty data dir.
        async with running(make_app(), tmp_path / "b", store=pg_store_url, **cluster()) as b:
            async with roost.client.connect(f"ws://127.0.0.1:{b.port}/notes/n") as notes:
                assert await notes.call("all") == ["one", "two", "three"]


async def test_replicate_file_without_a_snapshot_still_replicates_the_file(
    tmp_path: Path, pg_store_url: str
) -> None:
    """``SyncWorker._record``: ``if state is None: ... nothing to sync`` returns before the
    image is kept, so ``_put_image`` never runs for an actor that keeps all its state in its
    file (the very actor ``replicate_file`` is for: Actor.snapshot's default is None). The
    docstring of tests/cluster/test_durable.Notes says "no snapshot" but defines one."""
    with trio.fail_after(60):
        async with running(make_app(), tmp_path / "a", store=pg_store_url, sync_interval=0.2) as a:
            for text in ("one", "two"):
                status, body = await rpc_call(
                    a, "/bare/n/rpc/add", f'{{"text": "{text}"}}'.encode()
                )
                assert status == 200, body
            await trio.sleep(0.8)
        async with running(make_app(), tmp_path / "b", store=pg_store_url) as b:
            async with roost.client.connect(f"ws://127.0.0.1:{b.port}/bare/n") as notes:
                assert await notes.call("all") == ["one", "two"]
