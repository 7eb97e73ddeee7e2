"""The wall clock of a running ``roost serve`` jumps forward and back (issue 15 point 5).

libfaketime moves the server's wall clock (``time.time()``, SQLite's, the log's) while its
monotonic clock runs on, as when NTP or an administrator steps the clock. Alarms are set for
wall-clock times (G5): each must fire once, when the wall clock reaches its time, also after
a jump; nothing may spin after a jump; and a cluster node's leases, which PostgreSQL's clock
and the node's monotonic clock decide (docs/shared-store.md), must not notice at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trio

from roost.client import connect
from tests.faults.support import (
    FILL_APP,
    FakeClock,
    RoostProcess,
    assert_no_spin,
    metrics,
    serve,
)

HOUR = 3600
LATE = 1.5  # how late an alarm may ring on this shared machine (its turn, the poll)
ENV = {"ROOST_SYNC_INTERVAL": "0.2", "ROOST_SHUTDOWN_TIMEOUT": "3"}


async def remind(server: RoostProcess, name: str, at: float) -> None:
    assert await server.post("/box/clock/rpc/remind", {"name": name, "at": at}) == (
        200,
        {"value": pytest.approx(at, abs=HOUR * 3)},
    )


async def fired(server: RoostProcess) -> dict[str, list[float]]:
    """Each alarm's firings: the server's wall-clock times at which it rang."""
    status, body = await server.post("/box/clock/rpc/fired")
    assert status == 200, body
    rang: dict[str, list[float]] = {}
    for name, at in body["value"]:
        rang.setdefault(name, []).append(at)
    return rang


async def wait_fired(server: RoostProcess, names: set[str], seconds: float) -> dict[str, Any]:
    """Poll until every alarm of ``names`` rang (or ``seconds`` passed): the firings then."""
    with trio.move_on_after(seconds):
        while True:
            rang = await fired(server)
            if names <= set(rang):
                return rang
            await trio.sleep(0.1)
    return await fired(server)


@asynccontextmanager
async def fake_clock_node(tmp_path: Path) -> AsyncIterator[tuple[FakeClock, RoostProcess]]:
    """A single node under a fake wall clock; stopped (exit status 0) at the end."""
    clock = FakeClock(tmp_path)
    args = [str(FILL_APP), "--data-dir", str(tmp_path / "data")]
    async with serve(args, env={**clock.env, **ENV}) as server:
        yield clock, server
        assert await server.stop() == 0


async def test_jumps_neither_repeat_an_alarm_nor_make_the_server_spin(tmp_path: Path) -> None:
    with trio.fail_after(14):
        async with fake_clock_node(tmp_path) as (clock, server):
            await remind(server, "once", clock.now() + 1)
            rang = await wait_fired(server, {"once"}, 4)
            assert len(rang.get("once", ())) == 1, (rang, clock.now(), server.log[-4000:])

            clock.jump(-HOUR)  # back to before the alarm's time: it rang, it stays rung
            await clock.wait_seen(server)
            await assert_no_spin(server, 3.0, "after a clock jump")
            clock.jump(+2 * HOUR)
            await clock.wait_seen(server)
            await assert_no_spin(server, 3.0, "after a clock jump")
            assert await fired(server) == rang


async def test_after_a_jump_forward_alarms_ring_by_the_new_clock(tmp_path: Path) -> None:
    with trio.fail_after(14):
        async with fake_clock_node(tmp_path) as (clock, server):
            await remind(server, "overdue", clock.now() + 60)  # in a minute, by the old clock
            clock.jump(+HOUR)
            await clock.wait_seen(server)
            jumped = clock.now()
            await remind(server, "soon", jumped + 2)  # in two seconds, by the new clock
            rang = await wait_fired(server, {"overdue", "soon"}, 2 + LATE + 1)
            await assert_no_spin(server, 1.0, "after a clock jump")
    assert set(rang) == {"overdue", "soon"}, rang
    assert len(rang["overdue"]) == 1 and rang["overdue"][0] < jumped + LATE, rang
    assert len(rang["soon"]) == 1 and jumped + 2 <= rang["soon"][0] < jumped + 2 + LATE, rang


async def test_after_a_jump_back_alarms_ring_by_the_new_clock(tmp_path: Path) -> None:
    with trio.fail_after(14):
        async with fake_clock_node(tmp_path) as (clock, server):
            before = clock.now()
            await remind(server, "later", before + 2)  # an hour and 2 s away after the jump
            clock.jump(-HOUR)
            await clock.wait_seen(server)
            jumped = clock.now()
            await remind(server, "soon", jumped + 2)
            # "later" must not ring in this window: wait all of it unless it does.
            rang = await wait_fired(server, {"soon", "later"}, 2 + LATE + 1)
            await assert_no_spin(server, 1.0, "after a clock jump")
    assert "later" not in rang, f"an alarm rang an hour before its time: {rang}"
    assert len(rang["soon"]) == 1, rang
    assert jumped + 2 <= rang["soon"][0] < jumped + 2 + LATE, f"not on time: {rang}"


def lease_row(store_url: str) -> tuple[str, int, bool]:
    """The box/clock lease: its node, its fence, and whether it is valid by PostgreSQL's clock."""
    with psycopg.connect(store_url) as conn:
        row = conn.execute(
            "SELECT node_id, fence, expires_at > now() FROM roost_actor_lease"
            " WHERE actor_type = 'box' AND actor_key = 'clock'"
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


async def test_a_cluster_node_keeps_its_leases_across_jumps(
    tmp_path: Path, pg_store_url: str
) -> None:

    clock = FakeClock(tmp_path)
    args = [str(FILL_APP), "--data-dir", str(tmp_path / "data"), "--store", pg_store_url]
    env = {**clock.env, **ENV, "ROOST_LEASE_TTL": "2", "ROOST_CLUSTER_SECRET": "s" * 32}
    with trio.fail_after(14):
        async with serve(args, env=env) as server:
            # A client stays connected, so the actor stays (a visitor over HTTP would be let
            # go at once, and its lease released once synced).
            url = f"ws://127.0.0.1:{server.port}/box/clock"
            async with connect(url, encoding="json", call_timeout=5, reconnect=False) as client:
                assert await client.call("put", n=0, size=1) == 0
                before = await metrics(server.port)
                assert before["roost_leases_held"] == 1, before
                node, fence, valid = lease_row(pg_store_url)
                assert valid
                for n, jump in enumerate((+HOUR, -2 * HOUR), start=1):
                    clock.jump(jump)
                    await clock.wait_seen(server)
                    # Past the 2 s ttl: renewals crossed the jump.
                    await assert_no_spin(server, 3.0, "after a clock jump")
                    assert await client.call("put", n=n, size=1) == n  # same socket: no 1012
                    after = await metrics(server.port)
                    for name in ("roost_leases_held", "roost_lease_claims_total"):
                        assert after[name] == before[name], (name, before, after)
                    assert after["roost_self_fences_total"] == 0, after
                    assert lease_row(pg_store_url) == (node, fence, True)
                assert await client.call("rows") == [0, 1, 2]
            assert await server.stop() == 0


#: Fault tests with real processes and tmpfs or libfaketime: the slow stage (CI runs it).
pytestmark = pytest.mark.slow
