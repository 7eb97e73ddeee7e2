"""Durable output's append to PostgreSQL, driven from trio's own thread.

Every durable turn's output waits for one append (runtime/_durable.py), so its latency is
on the path of every acknowledged write. Measured on the development machine, quiet, one
appender: the bare statement p50 0.40-0.48 ms; through a worker thread with the pool's check
and BEGIN/COMMIT 0.79-0.88 ms; this way 0.66-0.71 ms (BENCHMARKS.md, "Durable output": end
to end the difference is within the noise, PostgreSQL's commit being the floor). Here the statement
goes out on a libpq connection in non-blocking mode (psycopg's documented ``pq`` layer:
``send_query_params``, ``flush``, ``consume_input``, ``get_result``), and trio waits for its
socket like for any other: no thread, no pool.

Its parameters are adapted by psycopg (``Transformer``, binary arrays); the statement is the
store's own (storage/_shared/_history.py), written with ``$n`` placeholders. A connection
whose call failed, timed out or was cancelled is closed (its protocol state is unknown);
the next append opens another (in a worker thread: connecting blocks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import trio
from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer

from ._errors import StoreUnavailable
from ._history import PG_APPEND_MANY, LogEntry, pg_append_params

__all__ = ["TrioAppender"]

#: The append with libpq's placeholders (the five arrays in binary, then the node id).
_QUERY = (
    PG_APPEND_MANY.replace("%b", "{}")
    .replace("%s", "{}")
    .format(*(f"${n}" for n in range(1, 7)))
    .encode()
)
_FORMATS = [PyFormat.BINARY] * 5 + [PyFormat.TEXT]
_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)

Connect = Callable[[], psycopg.Connection[Any]]


class TrioAppender:
    """Appends over up to ``size`` connections at once, each used by one call at a time.

    Args:
        connect: Opens a configured autocommit connection (blocking: run in a thread).
        size: Connections (and appends in flight) at most.
        timeout: Seconds one append may take, connecting included.
    """

    def __init__(self, connect: Connect, *, size: int, timeout: float) -> None:
        self._connect = connect
        self._slots = trio.Semaphore(size)
        self._idle: list[psycopg.Connection[Any]] = []
        self._timeout = timeout
        self._closed = False

    async def append(self, node_id: str, batch: Sequence[LogEntry]) -> list[tuple[str, str]]:
        """The batch in one statement (autocommit: atomic); the refused ``(type, key)``s.

        Raises:
            StoreUnavailable: the database could not be reached in time.
            psycopg.Error: the statement failed otherwise (a bug, not an outage).
        """
        async with self._slots:
            conn = self._idle.pop() if self._idle else None
            reusable = False
            try:
                with trio.fail_after(self._timeout):
                    if conn is None:
                        conn = await trio.to_thread.run_sync(self._open, abandon_on_cancel=True)
                    refused = await _execute(conn, node_id, batch)
                reusable = True
                return refused
            except trio.TooSlowError as exc:
                raise StoreUnavailable(
                    f"shared store call timed out after {self._timeout:g} s"
                ) from exc
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"PostgreSQL shared store unavailable: {exc}") from exc
            finally:
                if conn is not None:
                    if reusable and not self._closed:
                        self._idle.append(conn)
                    else:
                        conn.close()

    def close(self) -> None:
        """Close the idle connections; those in use close when their call ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _open(self) -> psycopg.Connection[Any]:
        conn = self._connect()
        conn.pgconn.nonblocking = 1
        return conn


async def _execute(
    conn: psycopg.Connection[Any], node_id: str, batch: Sequence[LogEntry]
) -> list[tuple[str, str]]:
    pg = conn.pgconn
    adapt = Transformer(conn)
    values = adapt.dump_sequence(pg_append_params(node_id, batch), _FORMATS)
    pg.send_query_params(_QUERY, values, param_types=adapt.types, param_formats=adapt.formats)
    while pg.flush():  # 1: more to send
        await trio.lowlevel.wait_writable(pg.socket)
    last: pq.abc.PGresult | None = None
    while True:
        while pg.is_busy():
            await trio.lowlevel.wait_readable(pg.socket)
            pg.consume_input()
        result = pg.get_result()
        if result is None:
            break
        if result.status not in _OK:
            raise _error(result)
        last = result
    if last is None:
        raise psycopg.OperationalError("the append got no result")
    return [
        (
            bytes(last.get_value(row, 0) or b"").decode(),
            bytes(last.get_value(row, 1) or b"").decode(),
        )
        for row in range(last.ntuples)
    ]


def _error(result: pq.abc.PGresult) -> psycopg.Error:
    """The psycopg exception for a failed result (its class from the SQLSTATE)."""
    state = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
    message = (result.error_message or b"the append failed").decode(errors="replace").strip()
    try:
        cls = errors.lookup(state)
    except KeyError:
        cls = psycopg.OperationalError
    return cls(message)
