"""What ``roost nodes`` and ``roost actors list --store`` read: the cluster as the shared
store records it (issue 14).

Plain blocking code for a short-lived command, read-only like :mod:`roost._tools` (an SQLite
store is opened with ``mode=ro``, a PostgreSQL one in a ``READ ONLY`` transaction). It reads
the tables with SQL rather than through :class:`~roost.storage.SharedStore`, whose opening
creates and migrates the schema: a tool must not upgrade a store under a running older
server. Ages and expiry are measured by the database's clock, as the nodes decide them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import psycopg

from roost import _tools
from roost._errors import StorageError
from roost.storage import validate_actor_type

__all__ = ["NodeRow", "OwnedActor", "list_nodes", "list_owned_actors"]

#: The schema version that added ``roost_node.version``, ``.protocol`` and ``.cluster``.
_CLUSTER_SCHEMA = 2


@attrs.frozen
class NodeRow:
    """One registered node. ``live``: its heartbeat is younger than the lease TTL."""

    node_id: str
    address: str
    version: str
    protocol: int
    cluster: str
    started_at: float  # unix seconds, database clock
    heartbeat_age: float  # seconds, database clock
    actors: int  # unexpired leases it holds
    live: bool


@attrs.frozen
class OwnedActor:
    """One actor the store knows (synced or leased), with its owner, if any, and fence."""

    actor_type: str
    key: str
    owner: str | None  # the node holding an unexpired lease
    fence: int  # the highest fence on record (lease or state)
    version: int | None  # the stored state's version; None if it never synced
    synced_at: float | None  # unix seconds of the last accepted write


# With {now}: the database's clock as unix seconds ("?" in SQLite: this machine's clock, which
# is the SQLite store's clock) and {new} the columns of schema version 2 (or their defaults).
_NODES = """
SELECT n.node_id, n.address, {new}, {epoch_started}, greatest_zero({now} - {epoch_beat}),
       (SELECT count(*) FROM roost_actor_lease l
        WHERE l.node_id = n.node_id AND {epoch_expires} > {now})
FROM roost_node n ORDER BY n.node_id
"""
_ACTORS = """
WITH ids AS (
    SELECT actor_type, actor_key FROM roost_actor_state{where}
    UNION SELECT actor_type, actor_key FROM roost_actor_lease{where}
)
SELECT i.actor_type, i.actor_key,
       CASE WHEN l.node_id IS NOT NULL AND {epoch_expires} > {now} THEN l.node_id END,
       {greatest}(coalesce(l.fence, 0), coalesce(s.fence, 0)), s.version, {epoch_updated}
FROM ids i
LEFT JOIN roost_actor_state s ON s.actor_type = i.actor_type AND s.actor_key = i.actor_key
LEFT JOIN roost_actor_lease l ON l.actor_type = i.actor_type AND l.actor_key = i.actor_key
ORDER BY i.actor_type, i.actor_key
"""
_SQLITE = {
    "now": ":now",
    "epoch_started": "n.started_at",
    "epoch_beat": "n.heartbeat_at",
    "epoch_expires": "l.expires_at",
    "epoch_updated": "s.updated_at",
    "greatest": "max",
    "where": " WHERE actor_type = :type",
}
_POSTGRES = {
    "now": "extract(epoch from now())::float8",
    "epoch_started": "extract(epoch from n.started_at)::float8",
    "epoch_beat": "extract(epoch from n.heartbeat_at)::float8",
    "epoch_expires": "extract(epoch from l.expires_at)::float8",
    "epoch_updated": "extract(epoch from s.updated_at)::float8",
    "greatest": "greatest",
    "where": " WHERE actor_type = %(type)s",
}
_NEW_COLUMNS = "n.version, n.protocol, n.cluster"
_OLD_DEFAULTS = "'', 0, ''"


def list_nodes(
    location: Path | str, *, lease_ttl: float, dead_for: float | None = None
) -> list[NodeRow]:
    """Every registered node, in ``node_id`` order, live or not.

    Args:
        location: The shared store (see :func:`roost._tools.store_location`).
        lease_ttl: A node whose heartbeat is older than this is dead.
        dead_for: Leave out nodes silent for longer than this many seconds; None keeps all.

    Raises:
        StorageError: the store cannot be read.
    """
    with _reading(location) as read:
        new = _NEW_COLUMNS if read.schema_version() >= _CLUSTER_SCHEMA else _OLD_DEFAULTS
        rows = read(_NODES, new=new)
    nodes = [
        NodeRow(node, address, version, protocol, cluster, started, age, actors, age < lease_ttl)
        for node, address, version, protocol, cluster, started, age, actors in rows
    ]
    return [n for n in nodes if dead_for is None or n.heartbeat_age <= dead_for]


def list_owned_actors(location: Path | str, actor_type: str | None = None) -> list[OwnedActor]:
    """Every actor with a stored state or a lease row, in (type, key) order.

    Raises:
        ConfigError: for an invalid ``actor_type``.
        StorageError: the store cannot be read.
    """
    if actor_type is not None:
        validate_actor_type(actor_type)
    with _reading(location) as read:
        rows = read(_ACTORS, actor_type=actor_type)
    return [OwnedActor(*row) for row in rows]


class _Reader:
    """One read-only connection to the store: called with a query template and parameters,
    it fills the template in for the store's dialect and returns the rows."""

    def __init__(self, conn: Any, *, sqlite: bool) -> None:
        self._conn = conn
        self._sqlite = sqlite

    def schema_version(self) -> int:
        row = self._conn.execute("SELECT max(version) FROM roost_schema").fetchone()
        return int(row[0] or 0)

    def __call__(
        self, template: str, *, new: str = "", actor_type: str | None = None
    ) -> list[tuple[Any, ...]]:
        dialect = dict(_SQLITE if self._sqlite else _POSTGRES)
        if actor_type is None:
            dialect["where"] = ""
        query = template.format(new=new, **dialect)
        if not self._sqlite:
            query = query.replace("greatest_zero(", "greatest(0, ")
        rows = self._conn.execute(query, {"type": actor_type, "now": time.time()}).fetchall()
        return [tuple(row) for row in rows]


@contextmanager
def _reading(location: Path | str) -> Iterator[_Reader]:
    """A :class:`_Reader` on the store, with every database error as a StorageError."""
    with _tools.sql_errors():
        if isinstance(location, Path):
            if not location.is_file():
                raise StorageError(
                    f"no shared store at {location}: a roost server creates it "
                    "(check --data-dir or --store)"
                )
            with _tools.open_sqlite(location, write=False) as conn:
                conn.create_function("greatest_zero", 1, _greatest_zero, deterministic=True)
                yield _Reader(conn, sqlite=True)
        else:
            with psycopg.connect(location, connect_timeout=_tools.CONNECT_TIMEOUT) as pg:
                pg.read_only = True  # BEGIN READ ONLY: nothing here writes
                yield _Reader(pg, sqlite=False)


def _greatest_zero(value: float | None) -> float | None:
    return None if value is None else max(0.0, value)
