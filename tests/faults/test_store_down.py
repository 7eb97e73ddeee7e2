"""PostgreSQL goes away for 30 s under a single ``roost serve --store postgresql://...`` that
keeps taking writes (issue 15 point 5, G7).

A TCP proxy stands between the node and PostgreSQL; the test cuts it (every connection
dropped, new ones closed on arrival), keeps writing through the node, and watches what an
operator sees: ``/_roost/ready`` 503, ``roost_store_up`` 0, ``roost_sync_lag_seconds``
growing. Writes keep being acknowledged (a turn commits to the actor's own file); once the
proxy is restored the sync catches up and the store holds every acknowledged write, its
version never going back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from roost.storage import SharedStore, open_shared_store
from tests.e2e.test_store_hang_process import through
from tests.faults.support import FILL_APP, RoostProcess, metrics, ready, serve, until
from tests.shared_store.proxy import CuttableProxy

OUTAGE = 30.0
CATCH_UP = 40.0  # the sync worker's backoff reaches 30 s; its next round writes everything
ENV = {"ROOST_SYNC_INTERVAL": "0.2", "ROOST_STORE_TIMEOUT": "2", "ROOST_SHUTDOWN_TIMEOUT": "5"}


async def stored(store: SharedStore) -> tuple[int, list[int]]:
    """The version and the rows of box/pg as the store holds them ((0, []) before any sync)."""
    state = await store.read_state("box", "pg")
    return (0, []) if state is None else (state.version, state.state["rows"])


@pytest.mark.slow
async def test_postgresql_down_for_30_s_loses_nothing_and_shows_the_lag(
    tmp_path: Path, pg_url: str, pg_store_url: str
) -> None:
    proxy = CuttableProxy.in_front_of(pg_url)
    acked: list[int] = []
    outage: list[tuple[float, int, float, float]] = []  # (since the cut, ready, up, lag)
    versions: list[int] = []  # the store's version of box/pg, before and after the outage
    frozen: list[int] = []  # and during it

    async def write(server: RoostProcess, count: int) -> None:
        for _ in range(count):
            n = len(acked)
            assert await server.post("/box/pg/rpc/put", {"n": n, "size": 8}) == (200, {"value": n})
            acked.append(n)
            await trio.sleep(0.1)

    with trio.fail_after(OUTAGE + CATCH_UP + 40):
        async with (
            open_shared_store(pg_store_url, data_dir=tmp_path) as reader,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(proxy.serve)

            async def synced() -> bool:
                version, rows = await stored(reader)
                versions.append(version)
                return rows == acked

            args = [str(FILL_APP), "--data-dir", str(tmp_path / "data")]
            store = through(pg_store_url, proxy.port)
            async with serve([*args, "--store", store], env=ENV) as server:
                await write(server, 5)
                await until(synced, 10)
                versions[:] = versions[-1:]  # the version at the cut
                assert await ready(server.port) == 200

                proxy.cut()
                cut_at = trio.current_time()
                while trio.current_time() - cut_at < OUTAGE:
                    await write(server, 5)  # acknowledged meanwhile: local commits (G4)
                    seen = await metrics(server.port)
                    outage.append(
                        (
                            trio.current_time() - cut_at,
                            await ready(server.port),
                            seen["roost_store_up"],
                            seen["roost_sync_lag_seconds"],
                        )
                    )
                    frozen.append((await stored(reader))[0])
                proxy.restore()

                await until(synced, CATCH_UP, every=0.5)

                async def is_ready() -> bool:
                    return await ready(server.port) == 200

                await until(is_ready, 10)
                caught_up = await metrics(server.port)
                assert await server.stop() == 0
            nursery.cancel_scope.cancel()

    # The outage was visible within a few seconds (--store-timeout 2 s), the whole time after.
    late = [sample for sample in outage if sample[0] > 5]
    assert len(late) > 10, outage
    assert all(status == 503 and up == 0 for _, status, up, _ in late), outage
    lags = [lag for _, _, _, lag in outage]
    assert lags == sorted(lags) and lags[-1] > OUTAGE - 5, lags
    # The store saw nothing during the outage; nothing lost, nothing went back after it.
    assert set(frozen) == {versions[0]}, (frozen, versions)
    assert versions == sorted(versions), versions
    assert caught_up["roost_store_up"] == 1 and caught_up["roost_sync_lag_seconds"] < 5, caught_up
