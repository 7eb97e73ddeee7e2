"""The shared store's schema as ordered migrations, one list per SQL dialect, and the one
runner (:func:`migrate`) that both stores apply them with.

The stored version lives in ``roost_schema (version int)``, one row. Opening a store applies
the migrations after the stored version in one transaction, under a lock that serialises
concurrent openers (``BEGIN IMMEDIATE`` in SQLite, an advisory lock in PostgreSQL), so two
processes starting together migrate once. The transaction and the lock are the store's (they
differ by database); the loop inside them is written once, here. Each statement is also
idempotent on its own (``IF NOT EXISTS``), so a schema created by hand, or a version row
lost, is repaired rather than broken.

Migration *n* (1-based) is ``MIGRATIONS[n - 1]``; published migrations are never edited, only
appended, because other services read these tables.

SQLite has no ``ADD COLUMN IF NOT EXISTS``: its migrations add columns with :class:`AddColumn`
steps, which the runner applies only when the column is missing, so they stay idempotent too.

Types differ by dialect only where SQLite has no equivalent: ``jsonb`` is JSON text, and
``timestamptz`` is REAL seconds since the unix epoch (comparable and cheap to compute with;
``datetime(updated_at, 'unixepoch')`` shows it). Key columns use the "C" collation in
PostgreSQL, so keys sort by their UTF-8 bytes as they do in SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import attrs

from roost._errors import StorageError

from ._history import POSTGRES_HISTORY, SQLITE_HISTORY

__all__ = [
    "POSTGRES",
    "POSTGRES_MIGRATIONS",
    "SQLITE",
    "SQLITE_MIGRATIONS",
    "AddColumn",
    "Dialect",
    "migrate",
    "pending_migrations",
]


@attrs.frozen
class AddColumn:
    """An SQLite step that adds a column unless the table has it already."""

    table: str
    column: str
    definition: str

    @property
    def statement(self) -> str:
        """The ``ALTER TABLE`` that adds the column (names are constants of this module)."""
        return f"ALTER TABLE {self.table} ADD COLUMN {self.column} {self.definition}"


Migration = tuple[str | AddColumn, ...]
HAS_COLUMN = "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?"

CREATE_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS roost_schema (version integer NOT NULL)"
READ_VERSION = "SELECT max(version) FROM roost_schema"
CLEAR_VERSION = "DELETE FROM roost_schema"
WRITE_VERSION = "INSERT INTO roost_schema (version) VALUES ({})"

SQLITE_MIGRATIONS: tuple[Migration, ...] = (
    (
        """
        CREATE TABLE IF NOT EXISTS roost_actor_state (
            actor_type TEXT NOT NULL,
            actor_key TEXT NOT NULL,
            version INTEGER NOT NULL,
            fence INTEGER NOT NULL,
            state TEXT NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (actor_type, actor_key)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS roost_actor_lease (
            actor_type TEXT NOT NULL,
            actor_key TEXT NOT NULL,
            node_id TEXT,
            fence INTEGER NOT NULL,
            expires_at REAL NOT NULL,
            PRIMARY KEY (actor_type, actor_key)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS roost_node (
            node_id TEXT PRIMARY KEY NOT NULL,
            address TEXT NOT NULL,
            started_at REAL NOT NULL,
            heartbeat_at REAL NOT NULL
        )
        """,
    ),
    (  # 2: the cluster (issue 14): node versions, pending alarms in the store, lookups by node
        AddColumn("roost_node", "version", "TEXT NOT NULL DEFAULT ''"),
        AddColumn("roost_node", "protocol", "INTEGER NOT NULL DEFAULT 0"),
        AddColumn("roost_node", "cluster", "TEXT NOT NULL DEFAULT ''"),
        AddColumn("roost_actor_state", "alarm_at", "REAL"),
        AddColumn("roost_actor_state", "alarms", "TEXT"),
        "CREATE INDEX IF NOT EXISTS roost_actor_state_alarm_at ON roost_actor_state (alarm_at)"
        " WHERE alarm_at IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS roost_actor_lease_node ON roost_actor_lease (node_id)",
    ),
    SQLITE_HISTORY.migration(),  # 3: actor files in the store (issue 15): images and a log
)

POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    (
        # fillfactor leaves room on each page so that updates of a row (the common case: one
        # per sync) can stay on its page as HOT updates without touching the index.
        """
        CREATE TABLE IF NOT EXISTS roost_actor_state (
            actor_type text COLLATE "C" NOT NULL,
            actor_key text COLLATE "C" NOT NULL,
            version bigint NOT NULL,
            fence bigint NOT NULL,
            state jsonb NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (actor_type, actor_key)
        ) WITH (fillfactor = 80)
        """,
        """
        CREATE TABLE IF NOT EXISTS roost_actor_lease (
            actor_type text COLLATE "C" NOT NULL,
            actor_key text COLLATE "C" NOT NULL,
            node_id text,
            fence bigint NOT NULL,
            expires_at timestamptz NOT NULL,
            PRIMARY KEY (actor_type, actor_key)
        ) WITH (fillfactor = 80)
        """,
        """
        CREATE TABLE IF NOT EXISTS roost_node (
            node_id text PRIMARY KEY,
            address text NOT NULL,
            started_at timestamptz NOT NULL,
            heartbeat_at timestamptz NOT NULL
        )
        """,
    ),
    (  # 2: the cluster (issue 14): node versions, pending alarms in the store, lookups by node
        "ALTER TABLE roost_node ADD COLUMN IF NOT EXISTS version text NOT NULL DEFAULT ''",
        "ALTER TABLE roost_node ADD COLUMN IF NOT EXISTS protocol integer NOT NULL DEFAULT 0",
        "ALTER TABLE roost_node ADD COLUMN IF NOT EXISTS cluster text NOT NULL DEFAULT ''",
        "ALTER TABLE roost_actor_state ADD COLUMN IF NOT EXISTS alarm_at timestamptz",
        "ALTER TABLE roost_actor_state ADD COLUMN IF NOT EXISTS alarms jsonb",
        "CREATE INDEX IF NOT EXISTS roost_actor_state_alarm_at ON roost_actor_state (alarm_at)"
        " WHERE alarm_at IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS roost_actor_lease_node ON roost_actor_lease (node_id)",
    ),
    POSTGRES_HISTORY.migration(),  # 3: actor files in the store (issue 15): images and a log
)


@attrs.frozen
class Dialect:
    """One database's migrations and its driver's parameter placeholder."""

    migrations: tuple[Migration, ...]
    placeholder: str  # sqlite3 takes "?", psycopg "%s"


SQLITE = Dialect(SQLITE_MIGRATIONS, "?")
POSTGRES = Dialect(POSTGRES_MIGRATIONS, "%s")


class _Rows(Protocol):
    def fetchone(self) -> Any: ...


class Connection(Protocol):
    """What :func:`migrate` needs of a DB-API connection (sqlite3's and psycopg's both fit)."""

    def execute(self, query: str, params: Any = ..., /) -> _Rows: ...


def migrate(conn: Connection, dialect: Dialect) -> int:
    """Bring the schema up to the dialect's last migration; return the version it ends at.

    The caller holds the transaction and the lock that serialise concurrent openers: the
    steps and the new version row commit together or not at all, so a failed step leaves
    the previous version in place and the next open retries it.

    Raises:
        StorageError: if the stored version is newer than this roost knows.
    """
    conn.execute(CREATE_VERSION_TABLE)
    row = conn.execute(READ_VERSION).fetchone()
    steps = pending_migrations(row[0] if row else None, dialect.migrations)
    for _, statements in steps:
        for statement in statements:
            if isinstance(statement, AddColumn):
                row = conn.execute(HAS_COLUMN, (statement.table, statement.column)).fetchone()
                if row and row[0]:
                    continue  # added before (a lost version row): nothing to do
                statement = statement.statement
            conn.execute(statement)
    if not steps:
        return len(dialect.migrations)
    version = steps[-1][0]
    conn.execute(CLEAR_VERSION)  # one row, even after a lost or duplicated one
    conn.execute(WRITE_VERSION.format(dialect.placeholder), (version,))
    return version


def pending_migrations(
    stored: int | None, migrations: Sequence[Migration]
) -> list[tuple[int, Migration]]:
    """The ``(version, statements)`` pairs to apply after the ``stored`` version.

    Raises:
        StorageError: if the stored version is newer than the migrations this roost knows
            (a newer roost migrated the store; running an older one against it is unsafe).
    """
    current = stored or 0
    if current > len(migrations):
        raise StorageError(
            f"shared store schema version {current} is newer than this roost supports "
            f"({len(migrations)}); upgrade roost"
        )
    return [(n, migrations[n - 1]) for n in range(current + 1, len(migrations) + 1)]
