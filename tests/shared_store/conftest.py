"""Fixtures for the shared store: real SQLite files and a real PostgreSQL server.

PostgreSQL comes from the ``pg_url`` fixture (tests/conftest.py). Each test gets its own
schema, dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from roost.storage._shared import PostgresSharedStore, SharedStore, SQLiteSharedStore

MakeStore = Callable[..., SharedStore]


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema name for one test; the schema (created by the store) is dropped after."""
    schema = f"roost_t_{uuid.uuid4().hex[:12]}"
    yield schema
    drop_schema(pg_url, schema)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def make_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[MakeStore]:
    """Build unopened stores over one database (one SQLite file, or one PostgreSQL schema);
    every store made is closed at teardown."""
    made: list[SharedStore] = []
    if backend == "postgres":
        url: str = request.getfixturevalue("pg_url")
        schema: str = request.getfixturevalue("pg_schema")

        def make(**kwargs: Any) -> SharedStore:
            store = PostgresSharedStore(url, schema=schema, **kwargs)
            made.append(store)
            return store

    else:

        def make(**kwargs: Any) -> SharedStore:
            store = SQLiteSharedStore(tmp_path / "shared.sqlite", **kwargs)
            made.append(store)
            return store

    yield make
    for store in made:
        await store.aclose()


@pytest.fixture
async def store(make_store: MakeStore) -> AsyncIterator[SharedStore]:
    """One opened store of the parametrized backend."""
    async with make_store() as opened:
        yield opened


@pytest.fixture
def raw_db(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[], AbstractContextManager[tuple[Any, str]]]:
    """Open a plain driver connection to the database ``make_store`` uses, for set-ups and
    checks that go around the store: yields ``(connection, placeholder)``, autocommitting
    (PostgreSQL: its search_path is the test's schema, created if missing)."""
    if backend == "postgres":
        url: str = request.getfixturevalue("pg_url")
        schema: str = request.getfixturevalue("pg_schema")

        @contextmanager
        def connect_pg() -> Iterator[tuple[Any, str]]:
            with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
                conn.execute("SET statement_timeout = 5000")
                name = sql.Identifier(schema)
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
                conn.execute(sql.SQL("SET search_path TO {}").format(name))
                yield conn, "%s"

        return connect_pg

    @contextmanager
    def connect_sqlite() -> Iterator[tuple[Any, str]]:
        conn = sqlite3.connect(tmp_path / "shared.sqlite", timeout=5, isolation_level=None)
        try:
            yield conn, "?"
        finally:
            conn.close()

    return connect_sqlite
