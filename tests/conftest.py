"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import trio.testing
from hypothesis import settings
from psycopg import sql

# Hypothesis' per-example deadline measures wall time, which this shared 2-core machine cannot
# promise (a busy neighbour made a 300-example property test flaky); speed is benchmarked in
# bench/, never asserted by tests.
settings.register_profile("roost", deadline=None)
settings.load_profile("roost")

# The suite drives examples/chat.py with ?user=<name>: its demo mode (docs/auth.md). Servers
# started as subprocesses inherit it; tests of its token mode remove it with monkeypatch.
os.environ.setdefault("ROOST_DEMO_AUTH", "1")

PG_URL = os.environ.get("ROOST_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The test PostgreSQL server's URL, once it answered.

    ``ROOST_TEST_POSTGRES`` overrides it (default: postgres on 127.0.0.1:5432, database
    ``test``, trust auth). If no server answers, the test is skipped with a loud reason,
    unless ``ROOST_REQUIRE_POSTGRES=1`` (CI sets it), which makes it fail instead.
    """
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = (
            f"!!! POSTGRESQL NOT REACHABLE at {PG_URL} ({exc}): tests needing it are SKIPPED. "
            "Start a server or set ROOST_TEST_POSTGRES. !!!"
        )
        if os.environ.get("ROOST_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return PG_URL


@pytest.fixture
def pg_store_url(pg_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    schema = f"roost_r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in pg_url else "?"
    yield f"{pg_url}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def threaded_autojump_clock() -> trio.testing.MockClock:
    """A mock clock that jumps only after 50 ms of real idleness.

    pytest-trio runs the test on it (it picks up any Clock fixture). Use it instead of
    ``autojump_clock`` when the server waits on worker threads (the shared store runs its
    database calls in threads): the plain autojump clock would leap to the next deadline while
    a thread is still working, because a task waiting on a thread counts as idle.
    """
    return trio.testing.MockClock(autojump_threshold=0.05)
