"""Schema creation and migration, the store's lifecycle, and choosing a backend."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
import trio
from psycopg import sql

from roost._errors import ConfigError, StorageError
from roost.storage._shared import (
    PostgresSharedStore,
    SQLiteSharedStore,
    StateWrite,
    StoreUnavailable,
    open_shared_store,
)
from roost.storage._shared._schema import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS
from tests.shared_store.conftest import MakeStore

TABLES = {
    "roost_schema": {"version"},
    "roost_actor_state": {
        "actor_type",
        "actor_key",
        "version",
        "fence",
        "state",
        "updated_at",
        "alarm_at",
        "alarms",
    },
    "roost_actor_lease": {"actor_type", "actor_key", "node_id", "fence", "expires_at"},
    "roost_node": {
        "node_id",
        "address",
        "started_at",
        "heartbeat_at",
        "version",
        "protocol",
        "cluster",
    },
    "roost_actor_log": {"actor_type", "actor_key", "seq", "fence", "at", "entry"},
    "roost_actor_file": {"actor_type", "actor_key", "seq", "fence", "at", "image"},
}


def sqlite_columns(path: Path) -> dict[str, set[str]]:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: {r[1] for r in conn.execute(f"PRAGMA table_info({n})")} for n in names}


def sqlite_versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM roost_schema")]


def pg_columns(url: str, schema: str) -> dict[str, set[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = %s",
            (schema,),
        ).fetchall()
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    return columns


def pg_execute(url: str, schema: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        cursor = conn.execute(query)
        return cursor.fetchall() if cursor.description else []


async def test_sqlite_schema_created_on_open(tmp_path: Path) -> None:
    with trio.fail_after(10):
        path = tmp_path / "sub" / "shared.sqlite"
        async with SQLiteSharedStore(path):
            pass
        assert sqlite_columns(path) == TABLES
        assert sqlite_versions(path) == [len(SQLITE_MIGRATIONS)]


async def test_postgres_schema_created_on_open(pg_url: str, pg_schema: str) -> None:
    with trio.fail_after(10):
        async with PostgresSharedStore(pg_url, schema=pg_schema):
            pass
        assert pg_columns(pg_url, pg_schema) == TABLES
        rows = pg_execute(pg_url, pg_schema, "SELECT version FROM roost_schema")
        assert rows == [(len(POSTGRES_MIGRATIONS),)]
        types = pg_execute(
            pg_url,
            pg_schema,
            "SELECT column_name, data_type FROM information_schema.columns"
            f" WHERE table_schema = '{pg_schema}' AND table_name = 'roost_actor_state'",
        )
        assert dict(types) == {  # type: ignore[arg-type]
            "actor_type": "text",
            "actor_key": "text",
            "version": "bigint",
            "fence": "bigint",
            "state": "jsonb",
            "updated_at": "timestamp with time zone",
            "alarm_at": "timestamp with time zone",
            "alarms": "jsonb",
        }


async def test_second_open_keeps_schema_and_rows(make_store: MakeStore) -> None:
    with trio.fail_after(10):
        async with make_store() as first:
            await first.write_states([StateWrite("chat", "a", 1, {"n": 1})])
        async with make_store() as second:
            stored = await second.read_state("chat", "a")
        assert stored is not None
        assert (stored.version, stored.state) == (1, {"n": 1})


async def test_concurrent_opens_migrate_once(make_store: MakeStore) -> None:
    with trio.fail_after(20):
        stores = [make_store() for _ in range(4)]
        async with trio.open_nursery() as nursery:
            for each in stores:
                nursery.start_soon(each.open)
        outcomes = []
        for i, each in enumerate(stores):
            outcomes += await each.write_states([StateWrite("chat", f"k{i}", 1, i)])
            await each.aclose()
        assert all(outcome.written for outcome in outcomes)


async def test_sqlite_concurrent_opens_keep_one_version_row(tmp_path: Path) -> None:
    with trio.fail_after(20):
        path = tmp_path / "shared.sqlite"
        stores = [SQLiteSharedStore(path) for _ in range(4)]
        async with trio.open_nursery() as nursery:
            for each in stores:
                nursery.start_soon(each.open)
        for each in stores:
            await each.aclose()
        assert sqlite_versions(path) == [len(SQLITE_MIGRATIONS)]


async def test_postgres_concurrent_opens_keep_one_version_row(pg_url: str, pg_schema: str) -> None:
    with trio.fail_after(20):
        stores = [PostgresSharedStore(pg_url, schema=pg_schema) for _ in range(4)]
        async with trio.open_nursery() as nursery:
            for each in stores:
                nursery.start_soon(each.open)
        for each in stores:
            await each.aclose()
        rows = pg_execute(pg_url, pg_schema, "SELECT version FROM roost_schema")
        assert rows == [(len(POSTGRES_MIGRATIONS),)]


async def test_lost_version_row_is_repaired(tmp_path: Path) -> None:
    with trio.fail_after(10):
        path = tmp_path / "shared.sqlite"
        async with SQLiteSharedStore(path) as store:
            await store.write_states([StateWrite("chat", "a", 1, "kept")])
        with sqlite3.connect(path) as conn:
            conn.execute("DELETE FROM roost_schema")
        async with SQLiteSharedStore(path) as store:
            stored = await store.read_state("chat", "a")
        assert stored is not None and stored.state == "kept"
        assert sqlite_versions(path) == [len(SQLITE_MIGRATIONS)]


async def test_sqlite_newer_schema_is_refused(tmp_path: Path) -> None:
    with trio.fail_after(10):
        path = tmp_path / "shared.sqlite"
        async with SQLiteSharedStore(path):
            pass
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE roost_schema SET version = 999")
        with pytest.raises(StorageError, match="newer"):
            await SQLiteSharedStore(path).open()


async def test_postgres_newer_schema_is_refused(pg_url: str, pg_schema: str) -> None:
    with trio.fail_after(10):
        async with PostgresSharedStore(pg_url, schema=pg_schema):
            pass
        pg_execute(pg_url, pg_schema, "UPDATE roost_schema SET version = 999")
        store = PostgresSharedStore(pg_url, schema=pg_schema)
        with pytest.raises(StorageError, match="newer"):
            await store.open()
        await store.aclose()


async def test_postgres_unreachable_on_open_can_retry() -> None:
    with trio.fail_after(20):
        store = PostgresSharedStore(
            "postgresql://postgres@127.0.0.1:1/test", connect_timeout=2, acquire_timeout=0.5
        )
        for _ in range(2):  # a failed open leaves the store openable
            with pytest.raises(StoreUnavailable):
                await store.open()
        await store.aclose()


async def test_lifecycle_errors(make_store: MakeStore) -> None:
    with trio.fail_after(10):
        store = make_store()
        with pytest.raises(StorageError, match="new, not open"):
            await store.read_state("chat", "a")
        await store.open()
        with pytest.raises(StorageError, match="already open"):
            await store.open()
        await store.aclose()
        await store.aclose()  # idempotent
        with pytest.raises(StorageError, match="closed, not open"):
            await store.list_states(limit=1)
        with pytest.raises(StorageError, match="already closed"):
            await store.open()


def test_factory_picks_backend(tmp_path: Path) -> None:
    default = open_shared_store(None, data_dir=tmp_path)
    assert isinstance(default, SQLiteSharedStore)
    assert default.path == tmp_path / "shared.sqlite"
    at_path = open_shared_store(str(tmp_path / "x.sqlite"), data_dir=tmp_path)
    assert isinstance(at_path, SQLiteSharedStore) and at_path.path == tmp_path / "x.sqlite"
    for url in ("postgresql://u:secret@db/roost", "postgres://db/roost", "POSTGRESQL://db/r"):
        store = open_shared_store(url, data_dir=tmp_path)
        assert isinstance(store, PostgresSharedStore)
        assert "secret" not in repr(store)
    for bad in ("mysql://db/roost", "postgresq://db", ""):
        with pytest.raises(ConfigError):
            open_shared_store(bad, data_dir=tmp_path)


def test_bad_settings_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        SQLiteSharedStore(tmp_path / "s.sqlite", synchronous="OFF")
    with pytest.raises(ConfigError):
        SQLiteSharedStore(tmp_path / "s.sqlite", busy_timeout=-1)
    with pytest.raises(ConfigError):
        PostgresSharedStore("postgresql://db/x", min_size=5, max_size=4)
    with pytest.raises(ConfigError):
        PostgresSharedStore("postgresql://db/x", acquire_timeout=0)
