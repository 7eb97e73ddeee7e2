"""The one migration runner (``_schema.migrate``), on real SQLite and real PostgreSQL.

The shipped schema has a single migration, so the store tests never see an upgrade; these
tests give the runner two small migrations of their own and open the database directly, in
a transaction the way the stores do. The drivers' own timeouts bound them (sqlite3's busy
timeout, libpq's connect and statement timeouts): they run no trio code.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from roost._errors import StorageError
from roost.storage._shared._schema import (
    POSTGRES,
    POSTGRES_MIGRATIONS,
    SQLITE,
    SQLITE_MIGRATIONS,
    Dialect,
    migrate,
)

FIRST = ("CREATE TABLE IF NOT EXISTS t_one (n integer NOT NULL)",)
SECOND = (
    "CREATE TABLE IF NOT EXISTS t_two (n integer NOT NULL)",
    "INSERT INTO t_two (n) SELECT n FROM t_one",
)
BROKEN = ("CREATE TABLE IF NOT EXISTS t_two (n integer NOT NULL)", "SELECT * FROM no_such_table")


class Db:
    """One real database connection, with the store-like transaction around a migration."""

    def __init__(
        self,
        conn: Any,
        placeholder: str,
        transaction: Callable[[], AbstractContextManager[object]],
    ) -> None:
        self.conn = conn
        self.placeholder = placeholder
        self.transaction = transaction

    def dialect(self, *migrations: tuple[str, ...]) -> Dialect:
        return Dialect(migrations, self.placeholder)

    def migrate(self, *migrations: tuple[str, ...]) -> int:
        with self.transaction():
            return migrate(self.conn, self.dialect(*migrations))

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(query).fetchall())

    def tables(self) -> set[str]:
        names = set()
        for table in ("t_one", "t_two"):
            try:
                with self.transaction():
                    self.conn.execute(f"SELECT 1 FROM {table}")
                names.add(table)
            except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):
                pass
        return names


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    if request.param == "sqlite":
        conn = sqlite3.connect(tmp_path / "m.sqlite", timeout=5, isolation_level=None)

        @contextmanager
        def immediate() -> Iterator[object]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        yield Db(conn, "?", immediate)
        conn.close()
    else:
        url: str = request.getfixturevalue("pg_store_url")
        # The URL's own options set the search_path to the test's fresh schema: keep them.
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as pg:
            pg.execute("SET statement_timeout = 5000")
            (schema,) = pg.execute("SELECT current_schema()").fetchone() or ("",)
            assert schema.startswith("roost_r_"), schema  # never the shared public schema
            yield Db(pg, "%s", pg.transaction)


def test_fresh_database_gets_every_migration(db: Db) -> None:
    assert db.migrate(FIRST, SECOND) == 2
    assert db.rows("SELECT version FROM roost_schema") == [(2,)]
    assert db.tables() == {"t_one", "t_two"}


def test_upgrade_applies_only_the_new_steps_and_keeps_rows(db: Db) -> None:
    assert db.migrate(FIRST) == 1
    db.conn.execute("INSERT INTO t_one (n) VALUES (7)")
    assert db.migrate(FIRST, SECOND) == 2
    # The second step ran once: it copied the row once.
    assert db.rows("SELECT n FROM t_two") == [(7,)]
    assert db.migrate(FIRST, SECOND) == 2  # nothing pending: a no-op
    assert db.rows("SELECT n FROM t_two") == [(7,)]
    assert db.rows("SELECT version FROM roost_schema") == [(2,)]


def test_newer_stored_version_is_refused_and_left_alone(db: Db) -> None:
    db.migrate(FIRST, SECOND)
    with pytest.raises(StorageError, match=r"schema version 2 is newer .* supports \(1\)"):
        db.migrate(FIRST)
    assert db.rows("SELECT version FROM roost_schema") == [(2,)]


def test_failed_step_rolls_back_with_its_version(db: Db) -> None:
    db.migrate(FIRST)
    with pytest.raises((sqlite3.OperationalError, psycopg.errors.UndefinedTable)):
        db.migrate(FIRST, BROKEN)
    # The transaction took the half-applied step with it: still version 1, no t_two.
    assert db.rows("SELECT version FROM roost_schema") == [(1,)]
    assert db.tables() == {"t_one"}
    assert db.migrate(FIRST, SECOND) == 2  # the next open retries and succeeds


def test_duplicate_version_rows_become_one(db: Db) -> None:
    db.migrate(FIRST)
    db.conn.execute("INSERT INTO roost_schema (version) VALUES (1)")
    assert db.migrate(FIRST, SECOND) == 2
    assert db.rows("SELECT version FROM roost_schema") == [(2,)]


def test_both_stores_share_one_schema_history() -> None:
    assert SQLITE.migrations is SQLITE_MIGRATIONS
    assert POSTGRES.migrations is POSTGRES_MIGRATIONS
    # A migration is added to both dialects at once, so the version means the same tables.
    assert len(SQLITE_MIGRATIONS) == len(POSTGRES_MIGRATIONS)
