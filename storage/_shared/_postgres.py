"""The shared store in PostgreSQL, through psycopg 3 and a psycopg_pool connection pool.

For production and for several nodes: leases and their expiry use the server's clock
(``now()``), so nodes with skewed clocks agree. Each store method is one short transaction on a
pooled connection; a batch of state writes is one ``INSERT ... SELECT FROM unnest(...) ON
CONFLICT DO UPDATE ... WHERE fence <= EXCLUDED.fence`` statement, a single round trip for
the whole batch.

Failure handling: a connection is checked when taken from the pool (one empty query), so a
connection that died while idle is replaced instead of failing a call; every
``psycopg.OperationalError`` (connection refused or lost, pool timeout, server shutdown,
statement timeout, serialisation failure) becomes :class:`StoreUnavailable`. Timeouts bound
every wait: taking a connection (``acquire_timeout``), connecting (``connect_timeout``), a
statement (``statement_timeout``) and unacknowledged network writes (``network_timeout``). The
pool reconnects in its own threads; its retries give up after ``reconnect_timeout``, and the
next call starts a fresh attempt, so recovery after an outage follows the caller's backoff
rather than the pool's growing one.

None of those notices a server that accepts connections and acknowledges every byte but never
answers (a hung PostgreSQL, a proxy that stopped forwarding): the whole call has a client-side
deadline, ``call_timeout`` (see :mod:`._api`). At that deadline the store shuts down the socket
of the connection the call holds (checked out, or being checked), which fails the blocked
read at once; the pool then drops the broken connection.

Long because: it is one backend, one short SQL transaction per method of
:class:`SharedStore`, and the pool, error mapping and deadline handling they all share.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from roost._errors import ConfigError, StorageError

from ._api import LeaseKey, SharedStore, Snapshots, dedupe_rounds, state_text
from ._errors import StoreUnavailable
from ._history import POSTGRES_HISTORY, HistorySql, LogEntry
from ._pg_append import TrioAppender
from ._records import (
    Claim,
    Lease,
    LeaseInfo,
    LeaseOwner,
    NodeInfo,
    StateWrite,
    StoredState,
    WriteOutcome,
    WriteStatus,
)
from ._schema import POSTGRES, migrate

T = TypeVar("T")

__all__ = ["PostgresSharedStore"]

#: First key of the advisory lock that serialises schema migrations ("roos").
MIGRATION_LOCK = 0x726F6F73
#: Connections for durable output's appends (as many as the shipper keeps in flight).
APPEND_CONNECTIONS = 3

_LEASE_RETURNING = (
    "RETURNING node_id, fence, extract(epoch from expires_at)::float8,"
    " extract(epoch from expires_at - now())::float8"
)

_ACQUIRE_LEASE = f"""
INSERT INTO roost_actor_lease AS l (actor_type, actor_key, node_id, fence, expires_at)
VALUES (
    %(type)s, %(key)s, %(node)s,
    coalesce((SELECT s.fence FROM roost_actor_state s
              WHERE s.actor_type = %(type)s AND s.actor_key = %(key)s), 0) + 1,
    now() + make_interval(secs => %(ttl)s)
)
ON CONFLICT (actor_type, actor_key) DO UPDATE SET
    fence = CASE WHEN l.node_id = EXCLUDED.node_id THEN l.fence
                 ELSE greatest(l.fence + 1, EXCLUDED.fence) END,
    node_id = EXCLUDED.node_id,
    expires_at = EXCLUDED.expires_at
WHERE l.node_id = EXCLUDED.node_id OR l.node_id IS NULL OR l.expires_at <= now()
{_LEASE_RETURNING}
"""

#: A claim (``claim_actor``): the rule of _ACQUIRE_LEASE, but every claim is a new ownership,
#: with the next fence, also for the node that holds the lease already.
_CLAIM_LEASE = _ACQUIRE_LEASE.replace(
    """fence = CASE WHEN l.node_id = EXCLUDED.node_id THEN l.fence
                 ELSE greatest(l.fence + 1, EXCLUDED.fence) END,""",
    "fence = greatest(l.fence + 1, EXCLUDED.fence),",
)
assert _CLAIM_LEASE != _ACQUIRE_LEASE

_RENEW_LEASE = f"""
UPDATE roost_actor_lease SET expires_at = now() + make_interval(secs => %(ttl)s)
WHERE actor_type = %(type)s AND actor_key = %(key)s AND node_id = %(node)s
  AND fence = %(fence)s
{_LEASE_RETURNING}
"""

_RELEASE_LEASE = """
UPDATE roost_actor_lease SET node_id = NULL, expires_at = now()
WHERE actor_type = %(type)s AND actor_key = %(key)s AND node_id = %(node)s
  AND fence = %(fence)s
"""

# The fencing rule of every state write, in one place: a stored row is replaced only by a
# write whose fence is at least its own (a newer owner's rows are never overwritten).
_UPSERT_FENCED = """
ON CONFLICT (actor_type, actor_key) DO UPDATE SET
    version = s.version + 1,
    fence = EXCLUDED.fence,
    state = EXCLUDED.state,
    updated_at = EXCLUDED.updated_at
WHERE s.fence <= EXCLUDED.fence
"""

# The whole batch in one statement: unnest turns four arrays into rows. A write is refused
# (and so missing from RETURNING) if a newer owner holds the lease, or if the stored state
# carries a higher fence (the ON CONFLICT ... WHERE).
_WRITE_STATES = f"""
INSERT INTO roost_actor_state AS s (actor_type, actor_key, version, fence, state, updated_at)
SELECT w.actor_type, w.actor_key, 1, w.fence, w.state::jsonb, now()
FROM unnest(%s::text[], %s::text[], %s::int8[], %s::text[])
    AS w(actor_type, actor_key, fence, state)
WHERE NOT EXISTS (
    SELECT FROM roost_actor_lease l
    WHERE l.actor_type = w.actor_type AND l.actor_key = w.actor_key AND l.fence > w.fence
)
{_UPSERT_FENCED}RETURNING s.actor_type, s.actor_key, s.version, s.fence
"""

# The sync worker's batch (write_snapshots): a fence per write, and only the ids of the
# refused writes come back (an anti-join of the batch with what the INSERT returned). {alarms}
# is empty, or the columns that replace the stored alarms (_SNAPSHOT_ALARMS).
_WRITE_SNAPSHOTS = """
WITH w AS MATERIALIZED (
    SELECT * FROM unnest(%(types)s::text[], %(keys)s::text[], %(fences)s::int8[],
                         %(states)s::text[], %(alarm_ats)s::float8[], %(alarms)s::text[])
        AS w(actor_type, actor_key, fence, state, alarm_at, alarms)
), written AS (
    INSERT INTO roost_actor_state AS s
        (actor_type, actor_key, version, fence, state, updated_at, alarm_at, alarms)
    SELECT w.actor_type, w.actor_key, 1, w.fence, w.state::jsonb, now(),
           to_timestamp(w.alarm_at), w.alarms::jsonb
    FROM w
    WHERE NOT EXISTS (
        SELECT FROM roost_actor_lease l
        WHERE l.actor_type = w.actor_type AND l.actor_key = w.actor_key AND l.fence > w.fence
    )
    ON CONFLICT (actor_type, actor_key) DO UPDATE SET
        version = s.version + 1,
        fence = EXCLUDED.fence,
        state = EXCLUDED.state,
        updated_at = EXCLUDED.updated_at{alarms}
    WHERE s.fence <= EXCLUDED.fence
    RETURNING s.actor_type, s.actor_key
)
SELECT w.actor_type, w.actor_key FROM w
WHERE NOT EXISTS (
    SELECT FROM written d WHERE d.actor_type = w.actor_type AND d.actor_key = w.actor_key
)
"""
_SNAPSHOT_ALARMS = ",\n        alarm_at = EXCLUDED.alarm_at,\n        alarms = EXCLUDED.alarms"
_WRITE_SNAPSHOTS_KEEP_ALARMS = _WRITE_SNAPSHOTS.format(alarms="")
_WRITE_SNAPSHOTS_WITH_ALARMS = _WRITE_SNAPSHOTS.format(alarms=_SNAPSHOT_ALARMS)

# A batch of leases as rows.
_BATCH = "unnest(%(types)s::text[], %(keys)s::text[], %(fences)s::int8[]) AS w(t, k, f)"
_MINE = "l.actor_type = w.t AND l.actor_key = w.k AND l.fence = w.f AND l.node_id = %(node)s"

# A node's tick: every lease it still holds with that fence, and its heartbeat, at once.
_RENEW_LEASES = f"""
WITH beat AS (
    UPDATE roost_node SET heartbeat_at = now() WHERE node_id = %(node)s
)
UPDATE roost_actor_lease l SET expires_at = now() + make_interval(secs => %(ttl)s)
FROM {_BATCH}
WHERE {_MINE}
RETURNING l.actor_type, l.actor_key, l.fence
"""

# What keeps an actor's lease row (and so its fence) after a release: a synced state, or a
# file history in the store (durable output, replicate_file: storage/_shared/_history.py).
_KEPT_BY = " OR ".join(
    f"EXISTS (SELECT FROM {table} h WHERE h.actor_type = l.actor_type"
    " AND h.actor_key = l.actor_key)"
    for table in ("roost_actor_state", "roost_actor_log", "roost_actor_file")
)

# Releasing: the row of an actor that never synced goes (a stranger leaves nothing), the
# others stay with their fence. The two sets are disjoint (decided on one snapshot).
_RELEASE_LEASES = f"""
WITH w AS MATERIALIZED (SELECT * FROM {_BATCH}),
gone AS (
    DELETE FROM roost_actor_lease l USING w
    WHERE {_MINE} AND NOT ({_KEPT_BY})
    RETURNING 1
),
kept AS (
    UPDATE roost_actor_lease l SET node_id = NULL, expires_at = now()
    FROM w
    WHERE {_MINE} AND ({_KEPT_BY})
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM kept)
"""

_LEASE_OWNER = """
SELECT l.node_id, coalesce(n.address, ''), l.fence,
       extract(epoch from l.expires_at - now())::float8
FROM roost_actor_lease l LEFT JOIN roost_node n ON n.node_id = l.node_id
WHERE l.actor_type = %s AND l.actor_key = %s AND l.node_id IS NOT NULL
  AND l.expires_at > now()
"""

_MAX_FENCE = """
SELECT greatest(coalesce((SELECT max(fence) FROM roost_actor_lease), 0),
                coalesce((SELECT max(fence) FROM roost_actor_state), 0))
"""

_DUE_ALARMS = """
SELECT s.actor_type, s.actor_key FROM roost_actor_state s
WHERE s.alarm_at <= now() AND NOT EXISTS (
    SELECT FROM roost_actor_lease l
    WHERE l.actor_type = s.actor_type AND l.actor_key = s.actor_key
      AND l.node_id IS NOT NULL AND l.expires_at > now()
)
ORDER BY s.alarm_at LIMIT %s
"""

# Why refused writes were refused: the stored version and the highest fence on record.
_READ_FENCES = """
SELECT w.actor_type, w.actor_key, coalesce(s.version, 0),
       greatest(coalesce(s.fence, 0), coalesce(l.fence, 0))
FROM unnest(%s::text[], %s::text[]) AS w(actor_type, actor_key)
LEFT JOIN roost_actor_state s ON s.actor_type = w.actor_type AND s.actor_key = w.actor_key
LEFT JOIN roost_actor_lease l ON l.actor_type = w.actor_type AND l.actor_key = w.actor_key
"""

# A fenced delete per actor of the batch (delete_states); the refused ones are read after.
_DELETE_STATES = f"""
DELETE FROM roost_actor_state s USING {_BATCH}
WHERE s.actor_type = w.t AND s.actor_key = w.k AND s.fence <= w.f AND NOT EXISTS (
    SELECT FROM roost_actor_lease l
    WHERE l.actor_type = w.t AND l.actor_key = w.k AND l.fence > w.f
)
"""

# The actor's file history (storage/_shared/_history.py) goes with a delete that was not
# refused (no fence above the writer's on record, state or lease).
_DELETE_HISTORY = f"""
WITH ok AS (
    SELECT w.t, w.k FROM {_BATCH}
    WHERE NOT EXISTS (
        SELECT FROM roost_actor_lease l
        WHERE l.actor_type = w.t AND l.actor_key = w.k AND l.fence > w.f
    ) AND NOT EXISTS (
        SELECT FROM roost_actor_state s
        WHERE s.actor_type = w.t AND s.actor_key = w.k AND s.fence > w.f
    )
), log AS (
    DELETE FROM roost_actor_log h USING ok WHERE h.actor_type = ok.t AND h.actor_key = ok.k
)
DELETE FROM roost_actor_file h USING ok WHERE h.actor_type = ok.t AND h.actor_key = ok.k
"""

# The retention sweep (one transaction, three statements). First the candidates: states idle
# for %(idle)s seconds with no alarm in the store, no holder, and no file history written
# since (a durable actor's log moves on without its snapshot), oldest first; rows another
# transaction holds are left for the next batch.
_RETIRE_CANDIDATES = """
SELECT s.actor_type, s.actor_key FROM roost_actor_state s
WHERE s.updated_at < now() - make_interval(secs => %(idle)s) AND s.alarm_at IS NULL
  AND NOT EXISTS (
    SELECT FROM roost_actor_lease l
    WHERE l.actor_type = s.actor_type AND l.actor_key = s.actor_key
      AND l.node_id IS NOT NULL AND l.expires_at > now()
  ) AND NOT EXISTS (
    SELECT FROM roost_actor_log h
    WHERE h.actor_type = s.actor_type AND h.actor_key = s.actor_key
      AND h.at >= now() - make_interval(secs => %(idle)s)
  ) AND NOT EXISTS (
    SELECT FROM roost_actor_file h
    WHERE h.actor_type = s.actor_type AND h.actor_key = s.actor_key
      AND h.at >= now() - make_interval(secs => %(idle)s)
  )
ORDER BY s.updated_at LIMIT %(limit)s
FOR UPDATE OF s SKIP LOCKED
"""
# Then their lease rows, locked: a claim updates that row, so one that committed meanwhile is
# seen here (the lock waits for it and reads its new version) and keeps its actor.
_RETIRE_HELD = """
SELECT l.actor_type, l.actor_key, l.node_id IS NOT NULL AND l.expires_at > now()
FROM roost_actor_lease l JOIN unnest(%s::text[], %s::text[]) AS g(t, k)
  ON l.actor_type = g.t AND l.actor_key = g.k
FOR UPDATE OF l
"""
# Last, everything the store holds of the others: state, lease row and file history.
_RETIRE = """
WITH gone AS (SELECT * FROM unnest(%s::text[], %s::text[]) AS g(t, k)),
state AS (
    DELETE FROM roost_actor_state s USING gone WHERE s.actor_type = gone.t AND s.actor_key = gone.k
), lease AS (
    DELETE FROM roost_actor_lease l USING gone WHERE l.actor_type = gone.t AND l.actor_key = gone.k
), log AS (
    DELETE FROM roost_actor_log h USING gone WHERE h.actor_type = gone.t AND h.actor_key = gone.k
)
DELETE FROM roost_actor_file h USING gone WHERE h.actor_type = gone.t AND h.actor_key = gone.k
"""

_STATE_COLUMNS = (
    "actor_type, actor_key, version, fence, state, extract(epoch from updated_at)::float8, alarms"
)
_NODE_COLUMNS = (
    "n.node_id, n.address, extract(epoch from n.started_at)::float8,"
    " extract(epoch from n.heartbeat_at)::float8,"
    " greatest(0, extract(epoch from now() - n.heartbeat_at))::float8,"
    " n.version, n.protocol, n.cluster,"
    " (SELECT count(*) FROM roost_actor_lease l"
    "  WHERE l.node_id = n.node_id AND l.expires_at > now())::int"
)


class PostgresSharedStore(SharedStore):
    """The shared store in PostgreSQL, pooled.

    Args:
        url: A libpq connection string or URL (``postgresql://user@host:5432/db``).
        min_size: Connections the pool keeps open.
        max_size: Most connections (and worker threads) the store uses at once.
        schema: Put roost's tables in this schema (created if missing) instead of the
            connection's default search path.
        acquire_timeout: Seconds a call waits for a pooled connection before
            :class:`StoreUnavailable`; this is how fast calls fail while the database is down.
        connect_timeout: Seconds to establish one connection (libpq rounds up to 2).
        statement_timeout: Seconds a statement may run (or wait for locks) on the server.
        network_timeout: Seconds sent data may stay unacknowledged before the connection is
            dropped (TCP_USER_TIMEOUT), so a silent network partition ends a call.
        reconnect_timeout: Seconds the pool keeps retrying a failed connection on its own.
        call_timeout: Seconds a whole call may take, whatever the server does (a client-side
            deadline; see the module docstring).

    Raises:
        ConfigError: for a malformed URL (checked without connecting), or sizes or timeouts
            out of range.
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        schema: str | None = None,
        acquire_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        statement_timeout: float = 30.0,
        network_timeout: float = 10.0,
        reconnect_timeout: float = 10.0,
        call_timeout: float = 10.0,
    ) -> None:
        check_url(url)
        if not (isinstance(min_size, int) and isinstance(max_size, int)):
            raise ConfigError("min_size and max_size must be integers")
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ConfigError("pool sizes must satisfy 0 <= min_size <= max_size, max_size >= 1")
        timeouts = (acquire_timeout, connect_timeout, statement_timeout, network_timeout)
        if not all(t > 0 for t in (*timeouts, reconnect_timeout)):
            raise ConfigError("timeouts must be positive numbers of seconds")
        super().__init__(max_threads=max_size, call_timeout=call_timeout)
        self._url = url
        self._min_size = min_size
        self._max_size = max_size
        self._schema = schema
        self._acquire_timeout = float(acquire_timeout)
        self._connect_timeout = float(connect_timeout)
        self._statement_timeout_ms = max(1, round(statement_timeout * 1000))
        self._network_timeout_ms = max(1, round(network_timeout * 1000))
        self._reconnect_timeout = float(reconnect_timeout)
        self._open_lock = threading.Lock()  # an abandoned open may still run in its thread
        self._pool = self._make_pool()
        self._appender = TrioAppender(
            self._append_connection, size=APPEND_CONNECTIONS, timeout=call_timeout
        )

    def __repr__(self) -> str:
        schema = f" schema={self._schema!r}" if self._schema else ""
        return f"<PostgresSharedStore{schema}>"  # never the URL: it may hold a password

    # -- lifecycle ---------------------------------------------------------------------------

    def _make_pool(self) -> ConnectionPool[psycopg.Connection[Any]]:
        return ConnectionPool(
            self._url,
            min_size=self._min_size,
            max_size=self._max_size,
            open=False,
            kwargs=self._connection_settings(),
            configure=self._configure,
            check=self._check,
            timeout=self._acquire_timeout,
            reconnect_timeout=self._reconnect_timeout,
            name="roost-shared-store",
        )

    def _connection_settings(self) -> dict[str, Any]:
        return {
            "autocommit": True,  # single statements need no BEGIN/COMMIT round trips
            "connect_timeout": max(2, round(self._connect_timeout)),
            "tcp_user_timeout": self._network_timeout_ms,
        }

    def _append_connection(self) -> psycopg.Connection[Any]:
        """A connection for the appender (runtime/_durable's path), set up as pooled ones."""
        with _mapped_errors():
            conn = psycopg.connect(self._url, **self._connection_settings())
            try:
                self._configure(conn)
            except BaseException:
                conn.close()
                raise
        return conn

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """Settings of every new pooled connection (run by the pool before first use)."""
        conn.execute(
            "SELECT set_config('statement_timeout', %s, false)", (str(self._statement_timeout_ms),)
        )
        # A client cut off mid-transaction (a hung network: the call was abandoned at its
        # deadline) must not hold its row locks, a lease row say, until TCP gives up: the
        # server ends such a transaction once no call of ours could still be waiting on it.
        idle_ms = min(self._statement_timeout_ms, max(1, round(self.call_timeout * 1000)))
        conn.execute(
            "SELECT set_config('idle_in_transaction_session_timeout', %s, false)",
            (str(idle_ms),),
        )
        if self._schema is not None:
            path = sql.Identifier(self._schema).as_string(conn)
            conn.execute("SELECT set_config('search_path', %s, false)", (path,))

    def _check(self, conn: psycopg.Connection[Any]) -> None:
        """The pool's check of a connection it hands out: one empty query, abandonable."""
        with self._holding(partial(_shut_down, conn)):
            ConnectionPool.check_connection(conn)

    def _open_sync(self) -> None:
        with self._open_lock, _mapped_errors():
            try:
                self._pool.open(wait=True, timeout=self._acquire_timeout)
                self._migrate()
            except BaseException:
                self._pool.close(timeout=1.0)
                self._pool = self._make_pool()  # a closed pool cannot open again; the store can
                raise

    def _migrate(self) -> None:
        with self._connection() as conn, conn.transaction():
            lock_key = zlib.crc32((self._schema or "").encode()) - 2**31  # a signed int4
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (MIGRATION_LOCK, lock_key))
            if self._schema is not None:
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema))
                )
            migrate(conn, POSTGRES)

    def _close_sync(self) -> None:
        with self._open_lock:  # after an abandoned open, if it still runs: it may open a pool
            # Workers still connecting get a moment; the close does not wait on a silent server.
            self._pool.close(timeout=1.0)
            self._appender.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A checked, pooled connection, with PostgreSQL's failures mapped; abandonable."""
        with (
            _mapped_errors(),
            self._pool.connection() as conn,
            self._holding(partial(_shut_down, conn)),
        ):
            yield conn

    def _history_sync(self, fn: Callable[[Any, HistorySql], T]) -> T:
        with self._connection() as conn, conn.transaction():
            return fn(conn, POSTGRES_HISTORY)

    async def _append_log(self, node_id: str, batch: list[LogEntry]) -> list[tuple[str, str]]:
        """One round trip, from trio's thread (storage/_shared/_pg_append.py): no thread
        hop, no pool check, no BEGIN/COMMIT on the path of every durable turn."""
        return await self._run_here(partial(self._appender.append, node_id, batch))

    def _ping_sync(self) -> None:
        with self._connection() as conn:
            conn.execute("SELECT 1")

    # -- leases ------------------------------------------------------------------------------

    def _acquire_lease_sync(
        self, actor_type: str, key: str, node_id: str, ttl: float
    ) -> Lease | None:
        params = {"type": actor_type, "key": key, "node": node_id, "ttl": ttl}
        with self._connection() as conn:
            row = conn.execute(_ACQUIRE_LEASE, params).fetchone()
        return None if row is None else Lease(actor_type, key, *row)

    def _renew_lease_sync(self, lease: Lease, ttl: float) -> Lease | None:
        params = {**_lease_params(lease), "ttl": ttl}
        with self._connection() as conn:
            row = conn.execute(_RENEW_LEASE, params).fetchone()
        return None if row is None else Lease(lease.actor_type, lease.key, *row)

    def _release_lease_sync(self, lease: Lease) -> bool:
        with self._connection() as conn:
            return conn.execute(_RELEASE_LEASE, _lease_params(lease)).rowcount == 1

    def _claim_actor_sync(
        self, actor_type: str, key: str, node_id: str, ttl: float
    ) -> Claim | None:
        params = {"type": actor_type, "key": key, "node": node_id, "ttl": ttl}
        with self._connection() as conn, conn.transaction():
            row = conn.execute(_CLAIM_LEASE, params).fetchone()
            if row is None:
                return None
            # A statement of its own, after the lease: it sees every write committed before
            # the lease was taken, and later writes of an earlier owner are refused.
            state = conn.execute(
                f"SELECT {_STATE_COLUMNS} FROM roost_actor_state"
                " WHERE actor_type = %s AND actor_key = %s",
                (actor_type, key),
            ).fetchone()
        return Claim(Lease(actor_type, key, *row), None if state is None else StoredState(*state))

    def _renew_leases_sync(
        self, node_id: str, types: list[str], keys: list[str], fences: list[int], ttl: float
    ) -> set[LeaseKey]:
        params = {"node": node_id, "ttl": ttl, **_batch_params(types, keys, fences)}
        with self._connection() as conn:  # one statement: its own transaction
            return {(t, k, f) for t, k, f in conn.execute(_RENEW_LEASES, params)}

    def _release_leases_sync(
        self, node_id: str, types: list[str], keys: list[str], fences: list[int]
    ) -> int:
        params = {"node": node_id, **_batch_params(types, keys, fences)}
        with self._connection() as conn:
            row = conn.execute(_RELEASE_LEASES, params).fetchone()
        return int(row[0]) if row else 0

    def _lease_owner_sync(self, actor_type: str, key: str) -> LeaseOwner | None:
        with self._connection() as conn:
            row = conn.execute(_LEASE_OWNER, (actor_type, key)).fetchone()
        return None if row is None else LeaseOwner(*row)

    def _max_fence_sync(self) -> int:
        with self._connection() as conn:
            row = conn.execute(_MAX_FENCE).fetchone()
        return int(row[0]) if row else 0

    def _list_leases_sync(
        self, actor_type: str | None, limit: int, after: tuple[str, str] | None
    ) -> list[LeaseInfo]:
        clause, params = _page_clause(actor_type, after)
        query = sql.SQL(
            "SELECT actor_type, actor_key, node_id, fence,"
            " CASE WHEN node_id IS NULL THEN least(0, extract(epoch from expires_at - now()))"
            " ELSE extract(epoch from expires_at - now()) END::float8"
            " FROM roost_actor_lease{} ORDER BY actor_type, actor_key LIMIT %s"
        ).format(clause)
        with self._connection() as conn:
            rows = conn.execute(query, (*params, limit)).fetchall()
        return [LeaseInfo(*row) for row in rows]

    # -- actor state -------------------------------------------------------------------------

    def _write_batch_sync(self, batch: list[StateWrite]) -> list[WriteOutcome]:
        texts = [state_text(write) for write in batch]  # refuse bad states before writing
        rounds = dedupe_rounds([(write.actor_type, write.key) for write in batch])
        outcomes: list[WriteOutcome | None] = [None] * len(batch)
        with self._connection() as conn, conn.transaction():
            for indexes in rounds:
                params = (
                    _text_array([batch[i].actor_type for i in indexes]),
                    _text_array([batch[i].key for i in indexes]),
                    "{" + ",".join([str(batch[i].fence) for i in indexes]) + "}",
                    _text_array([texts[i] for i in indexes]),
                )
                rows = conn.execute(_WRITE_STATES, params).fetchall()
                written = {(t, k): (v, f) for t, k, v, f in rows}
                stored: dict[tuple[str, str], tuple[int, int]] = {}
                if len(written) < len(indexes):  # some were refused: report who holds the row
                    stale = [
                        i for i in indexes if (batch[i].actor_type, batch[i].key) not in written
                    ]
                    pairs = (
                        _text_array([batch[i].actor_type for i in stale]),
                        _text_array([batch[i].key for i in stale]),
                    )
                    stored = {(t, k): (v, f) for t, k, v, f in conn.execute(_READ_FENCES, pairs)}
                for i in indexes:
                    ident = (batch[i].actor_type, batch[i].key)
                    if ident in written:
                        outcomes[i] = WriteOutcome(*ident, WriteStatus.WRITTEN, *written[ident])
                    else:
                        held = stored[ident]
                        outcomes[i] = WriteOutcome(*ident, WriteStatus.STALE_FENCE, *held)
        return [outcome for outcome in outcomes if outcome is not None]

    def _write_snapshots_sync(self, batch: Snapshots) -> list[WriteOutcome]:
        idents = list(zip(batch.types, batch.keys, strict=True))
        query = _WRITE_SNAPSHOTS_KEEP_ALARMS
        if batch.alarm_texts is not None:
            query = _WRITE_SNAPSHOTS_WITH_ALARMS
        refused: list[int] = []  # indexes into the batch
        with self._connection() as conn:
            if len(set(idents)) == len(idents):  # the usual batch: one statement, one round trip
                params = _snapshot_params(batch, range(len(idents)))
                where = {ident: i for i, ident in enumerate(idents)}
                refused.extend(where[t, k] for t, k in conn.execute(query, params))
            else:  # an upsert touches a row once per statement: a key twice goes in rounds
                with conn.transaction():
                    for indexes in dedupe_rounds(idents):
                        params = _snapshot_params(batch, indexes)
                        where = {idents[i]: i for i in indexes}
                        refused.extend(where[t, k] for t, k in conn.execute(query, params))
            if not refused:
                return []
            # Read by a statement of its own: the ones above saw the tables as they were when
            # they began, without the write of a newer owner that they waited for and lost to.
            pairs = {idents[i] for i in refused}
            arrays = (_text_array([t for t, _ in pairs]), _text_array([k for _, k in pairs]))
            held = {(t, k): (v, f) for t, k, v, f in conn.execute(_READ_FENCES, arrays)}
        return [
            WriteOutcome(*idents[i], WriteStatus.STALE_FENCE, *held[idents[i]])
            for i in sorted(refused)
        ]

    def _delete_states_sync(
        self, types: list[str], keys: list[str], fences: list[int]
    ) -> list[WriteOutcome]:
        with self._connection() as conn:
            params = _batch_params(types, keys, fences)
            with conn.transaction():
                conn.execute(_DELETE_STATES, params)
                conn.execute(_DELETE_HISTORY, params)
            # A statement of its own (like write_snapshots'): it sees a newer owner's write
            # that the delete waited for and lost to.
            arrays = (_text_array(types), _text_array(keys))
            held = {(t, k): (v, f) for t, k, v, f in conn.execute(_READ_FENCES, arrays)}
        outcomes = []
        for actor_type, key, fence in zip(types, keys, fences, strict=True):
            version, on_record = held[actor_type, key]
            if on_record > fence:
                outcomes.append(
                    WriteOutcome(actor_type, key, WriteStatus.STALE_FENCE, version, on_record)
                )
        return outcomes

    def _retire_states_sync(self, idle_for: float, limit: int) -> int:
        with self._connection() as conn, conn.transaction():
            params = {"idle": idle_for, "limit": limit}
            candidates = [(t, k) for t, k in conn.execute(_RETIRE_CANDIDATES, params)]
            if not candidates:
                return 0
            arrays = (
                _text_array([t for t, _ in candidates]),
                _text_array([k for _, k in candidates]),
            )
            held = {(t, k) for t, k, holding in conn.execute(_RETIRE_HELD, arrays) if holding}
            gone = [ident for ident in candidates if ident not in held]
            if gone:
                arrays = (_text_array([t for t, _ in gone]), _text_array([k for _, k in gone]))
                conn.execute(_RETIRE, arrays)
        return len(gone)

    def _due_alarms_sync(self, limit: int) -> list[tuple[str, str]]:
        with self._connection() as conn:
            rows = conn.execute(_DUE_ALARMS, (limit,)).fetchall()
        return [(t, k) for t, k in rows]

    def _read_state_sync(self, actor_type: str, key: str) -> StoredState | None:
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {_STATE_COLUMNS} FROM roost_actor_state"
                " WHERE actor_type = %s AND actor_key = %s",
                (actor_type, key),
            ).fetchone()
        return None if row is None else StoredState(*row)

    def _list_states_sync(
        self, actor_type: str | None, limit: int, after: tuple[str, str] | None
    ) -> list[StoredState]:
        clause, params = _page_clause(actor_type, after)
        query = sql.SQL(
            f"SELECT {_STATE_COLUMNS} FROM roost_actor_state{{}}"
            " ORDER BY actor_type, actor_key LIMIT %s"
        ).format(clause)
        with self._connection() as conn:
            rows = conn.execute(query, (*params, limit)).fetchall()
        return [StoredState(*row) for row in rows]

    # -- nodes -------------------------------------------------------------------------------

    def _register_node_sync(self, node: NodeInfo) -> NodeInfo:
        with self._connection() as conn:
            row = conn.execute(
                "WITH n AS ("
                " INSERT INTO roost_node"
                " (node_id, address, started_at, heartbeat_at, version, protocol, cluster)"
                " VALUES (%s, %s, now(), now(), %s, %s, %s)"
                " ON CONFLICT (node_id) DO UPDATE SET address = EXCLUDED.address,"
                " started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at,"
                " version = EXCLUDED.version, protocol = EXCLUDED.protocol,"
                " cluster = EXCLUDED.cluster"
                " RETURNING *)"
                f" SELECT {_NODE_COLUMNS} FROM n",
                (node.node_id, node.address, node.version, node.protocol, node.cluster),
            ).fetchone()
        if row is None:  # pragma: no cover - an upsert always returns its row
            raise StorageError("register_node returned no row")
        return NodeInfo(*row)

    def _heartbeat_node_sync(self, node_id: str) -> bool:
        with self._connection() as conn:
            cursor = conn.execute(
                "UPDATE roost_node SET heartbeat_at = now() WHERE node_id = %s", (node_id,)
            )
            return cursor.rowcount == 1

    def _unregister_node_sync(self, node_id: str) -> bool:
        with self._connection() as conn:
            return (
                conn.execute("DELETE FROM roost_node WHERE node_id = %s", (node_id,)).rowcount == 1
            )

    def _list_nodes_sync(self, within: float | None) -> list[NodeInfo]:
        query = f"SELECT {_NODE_COLUMNS} FROM roost_node n"
        params: tuple[float, ...] = ()
        if within is not None:
            query += " WHERE n.heartbeat_at > now() - make_interval(secs => %s)"
            params = (within,)
        with self._connection() as conn:
            rows = conn.execute(query + " ORDER BY n.node_id", params).fetchall()
        return [NodeInfo(*row) for row in rows]


def _text_array(values: list[str]) -> str:
    """A PostgreSQL text[] literal, sent as one bound parameter.

    psycopg adapts a Python list element by element, which costs about 4 microseconds each
    (18 ms for a batch of 1,000 writes, more than the server needs to store them); building
    the literal with str methods costs a tenth of that. Inside double quotes only backslash and
    double quote need escaping, and the literal stays a parameter, never SQL text (G9).
    """
    if not values:
        return "{}"
    return '{"' + '","'.join([v.replace("\\", "\\\\").replace('"', '\\"') for v in values]) + '"}'


def _nullable_array(values: list[str | None]) -> str:
    """A text[] literal like :func:`_text_array`, with None as an SQL NULL element."""
    if not values:
        return "{}"
    return (
        "{"
        + ",".join(
            "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for v in values
        )
        + "}"
    )


def _int_array(values: list[int]) -> str:
    """An int8[] literal (ints print as digits only)."""
    return "{" + ",".join([str(v) for v in values]) + "}"


def _batch_params(types: list[str], keys: list[str], fences: list[int]) -> dict[str, object]:
    """The parameters of ``_BATCH``: a batch of leases as three arrays."""
    return {"types": _text_array(types), "keys": _text_array(keys), "fences": _int_array(fences)}


def _snapshot_params(batch: Snapshots, indexes: range | list[int]) -> dict[str, object]:
    """The parameters of ``_WRITE_SNAPSHOTS`` for the writes at ``indexes`` of ``batch``."""
    whole = isinstance(indexes, range)

    def pick(values: list[Any]) -> list[Any]:
        return values if whole else [values[i] for i in indexes]

    count = len(indexes)
    alarm_ats: list[float | None] = [None] * count
    alarm_texts: list[str | None] = [None] * count
    if batch.alarm_texts is not None and batch.alarm_ats is not None:
        alarm_ats, alarm_texts = pick(batch.alarm_ats), pick(batch.alarm_texts)
    return {
        "types": _text_array(pick(batch.types)),
        "keys": _text_array(pick(batch.keys)),
        "fences": _int_array(pick(batch.fences)),
        "states": _text_array(pick(batch.texts)),
        "alarm_ats": "{" + ",".join(["NULL" if a is None else repr(a) for a in alarm_ats]) + "}",
        "alarms": _nullable_array(alarm_texts),
    }


def _page_clause(
    actor_type: str | None, after: tuple[str, str] | None
) -> tuple[sql.Composable, list[object]]:
    """The WHERE clause and parameters of a paged listing in (actor_type, key) order."""
    where: list[sql.Composable] = []
    params: list[object] = []
    if actor_type is not None:
        where.append(sql.SQL("actor_type = %s"))
        params.append(actor_type)
    if after is not None:
        where.append(sql.SQL("(actor_type, actor_key) > (%s, %s)"))
        params.extend(after)
    clause = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
    return clause, params


def _lease_params(lease: Lease) -> dict[str, object]:
    return {"type": lease.actor_type, "key": lease.key, "node": lease.node_id, "fence": lease.fence}


def check_url(url: object) -> None:
    """Refuse a PostgreSQL URL that cannot work, before anything connects.

    Accepts what libpq parses (``postgresql://`` and ``postgres://`` URLs, ``key=value``
    strings) whose ports are numbers from 1 to 65535. The message never quotes the URL, which
    may hold a password.

    Raises:
        ConfigError: with one line saying what is wrong.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigError("the PostgreSQL shared store needs a postgresql:// URL")
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error as exc:
        reason = re.sub(r'"[^"]*"', "...", str(exc).strip().splitlines()[0] if str(exc) else "")
        raise ConfigError(f"malformed PostgreSQL URL for the shared store: {reason}") from None
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise ConfigError(
                "malformed PostgreSQL URL for the shared store: the port must be a number"
                " from 1 to 65535"
            )


def _shut_down(conn: psycopg.Connection[Any]) -> None:
    """Make every blocked read or write on ``conn``'s socket fail now, from any thread.

    shutdown(2), not close(2): the descriptor stays valid (and not reused) until the thread
    that owns the connection closes it.
    """
    try:
        fd = conn.pgconn.socket
    except psycopg.Error:
        return  # closed already
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected (any more): nothing to cut


@contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn "the database cannot be reached now" into :class:`StoreUnavailable`."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"PostgreSQL shared store unavailable: {exc}") from exc
