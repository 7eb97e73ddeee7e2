"""The store poller: ownership rows sampled all along the run, straight from PostgreSQL.

Every ``interval`` one REPEATABLE READ transaction reads every lease row and every state
row's fence and version (and a ledger's balances), so each :class:`~chaos.history.Sample`
is one consistent moment of the database. The poller connects to PostgreSQL directly, not
through a node's proxy, so faults never hide the store from it.
"""

from __future__ import annotations

from typing import Any

import psycopg
import trio

from .history import Final, History, Sample

_LEASES = (
    "SELECT actor_type || '/' || actor_key, node_id, fence,"
    " node_id IS NOT NULL AND expires_at > now() FROM roost_actor_lease"
)
_STATES = (
    "SELECT actor_type || '/' || actor_key, fence, version,"
    " CASE WHEN actor_type = 'ledger' THEN state->'balances' END FROM roost_actor_state"
)


def _connect(url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url, connect_timeout=5)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return conn


async def poll(
    url: str,
    history: History,
    *,
    interval: float = 0.1,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Sample the store until cancelled; ``url`` selects the run's schema."""
    conn = await trio.to_thread.run_sync(_connect, url)
    task_status.started()
    try:
        while True:
            began = trio.current_time()
            t = history.now()
            leases, states = await trio.to_thread.run_sync(_sample, conn)
            history.add(Sample(t, leases, states))
            await trio.sleep_until(began + interval)
    finally:
        conn.close()


def _sample(conn: psycopg.Connection[Any]) -> tuple[list[Any], list[Any]]:
    with conn.transaction():
        leases = conn.execute(_LEASES).fetchall()
        states = conn.execute(_STATES).fetchall()
    return [list(row) for row in leases], [list(row) for row in states]


async def final_states(url: str, history: History) -> None:
    """The store's last state of every actor, as one more observer of the final state."""

    def read() -> list[Any]:
        with psycopg.connect(url, connect_timeout=5) as conn:
            return conn.execute(
                "SELECT actor_type || '/' || actor_key, state FROM roost_actor_state"
            ).fetchall()

    for actor, state in await trio.to_thread.run_sync(read):
        history.add(Final("store", actor, state.get("log"), state.get("balances")))
