"""``--store`` takes libpq key=value connection strings for PostgreSQL; a path stays SQLite.

A conninfo string once fell through to SQLite and left a file named after it in the working
directory; these tests run from an empty directory and check it stays empty.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from roost._errors import ConfigError
from roost.storage._shared import (
    PostgresSharedStore,
    SQLiteSharedStore,
    StateWrite,
    open_shared_store,
)


@pytest.fixture
def cwd(tmp_path: Path) -> Iterator[Path]:
    """An empty working directory for the test (a stray file would land here)."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(previous)


@pytest.mark.parametrize(
    "conninfo",
    [
        "host=127.0.0.1 dbname=test user=postgres",
        "dbname=roost",
        "  host = db.example port=5433 sslmode=require",
        "service=roost",
        "user=u password=secret host=h",
    ],
)
def test_a_libpq_conninfo_is_postgresql(conninfo: str, cwd: Path) -> None:
    store = open_shared_store(conninfo, data_dir=cwd / "data")
    assert isinstance(store, PostgresSharedStore)
    assert "secret" not in repr(store)
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize(
    "conninfo",
    [
        "host=h password='secret",  # unterminated quote
        "host=h password=secret bogus=1",  # an option libpq does not know
        "host=h port=99999 password=secret",
        "hots=h dbname=d password=secret",  # a typo'd first keyword
        "HOST=h dbname=d password=secret",  # libpq's keywords are lowercase
    ],
)
def test_a_malformed_conninfo_is_a_one_line_config_error(conninfo: str, cwd: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        open_shared_store(conninfo, data_dir=cwd / "data")
    message = str(raised.value)
    assert "\n" not in message and "secret" not in message
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("path", ["shared.sqlite", "a=b.sqlite", "host", "my store.sqlite"])
def test_a_plain_path_stays_sqlite(path: str, cwd: Path) -> None:
    store = open_shared_store(path, data_dir=cwd / "data")
    assert isinstance(store, SQLiteSharedStore) and store.path == Path(path)


async def test_a_conninfo_store_reaches_postgresql(cwd: Path, pg_store_url: str) -> None:
    conninfo = make_conninfo("", **conninfo_to_dict(pg_store_url))  # as key=value pairs
    assert conninfo_to_dict(conninfo) == conninfo_to_dict(pg_store_url)
    assert not conninfo.startswith("postgres")
    with trio.fail_after(20):
        async with open_shared_store(conninfo, data_dir=cwd / "data") as store:
            assert isinstance(store, PostgresSharedStore)
            await store.write_states([StateWrite("chat", "a", 1, {"n": 1})])
            assert (await store.read_state("chat", "a")) is not None
    assert os.listdir(cwd) == []  # after the store closed
