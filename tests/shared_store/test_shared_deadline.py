"""A database that accepts but never answers: every store call ends at its client-side deadline
(``call_timeout``), its thread is let go, and the store works again once the database answers.

Real time: the point is worker threads blocked in psycopg on a silent socket, which no mock
clock can advance. Deadlines are short (1 s), so each test waits a few seconds at most.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path

import pytest
import trio
from psycopg.conninfo import make_conninfo

from roost._errors import ConfigError
from roost.storage._shared import (
    PostgresSharedStore,
    SharedStore,
    SQLiteSharedStore,
    StateWrite,
    StoreUnavailable,
    open_shared_store,
)
from tests.shared_store.proxy import CuttableProxy
from tests.shared_store.test_shared_outage import eventually

DEADLINE = 1.0
MARGIN = 1.5  # scheduling slack on a busy 2-core machine


@pytest.fixture
async def proxy(pg_url: str) -> AsyncIterator[CuttableProxy]:
    proxy = CuttableProxy.in_front_of(pg_url)
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.serve)
        yield proxy
        proxy.restore()  # let held connections finish before the proxy goes
        nursery.cancel_scope.cancel()


def through(pg_url: str, proxy: CuttableProxy) -> str:
    return make_conninfo(pg_url, host="127.0.0.1", port=str(proxy.port))


async def ends_within(seconds: float, call: Callable[[], Awaitable[object]]) -> BaseException:
    """Run ``call``; it must fail, and within ``seconds``. Returns the error."""
    start = trio.current_time()
    with pytest.raises(StoreUnavailable) as raised:
        await call()
    assert trio.current_time() - start < seconds
    return raised.value


async def threads_end(store: SharedStore) -> None:
    """Wait until no worker thread runs a store call (abandoned ones included)."""
    while True:  # threads report nothing to wait on: poll (the caller's fail_after bounds it)
        if not store.health().threads_busy:
            return
        await trio.sleep(0.02)


async def test_hung_postgres_fails_every_call_at_its_deadline_and_recovers(
    pg_url: str, pg_schema: str, proxy: CuttableProxy
) -> None:
    with trio.fail_after(30):
        store = PostgresSharedStore(
            through(pg_url, proxy), schema=pg_schema, max_size=2, call_timeout=DEADLINE
        )
        async with store:
            await store.write_states([StateWrite("chat", "a", 1, {"n": 1})])
            assert store.health().reachable is True

            proxy.hang()
            error = await ends_within(DEADLINE + MARGIN, lambda: store.read_state("chat", "a"))
            assert "timed out after 1 s" in str(error)
            health = store.health()
            assert health.reachable is False and "timed out" in (health.error or "")
            # More calls than the pool has connections: each one still ends at its deadline
            # (the abandoned threads do not hold the later ones up).
            failed: list[str] = []

            async def one(i: int) -> None:
                try:
                    await store.write_states([StateWrite("chat", f"k{i}", 1, {"i": i})])
                except StoreUnavailable:
                    failed.append(f"k{i}")

            start = trio.current_time()
            async with trio.open_nursery() as nursery:
                for i in range(5):
                    nursery.start_soon(one, i)
            assert len(failed) == 5
            assert trio.current_time() - start < DEADLINE + MARGIN
            await threads_end(store)  # the cut sockets ended the blocked threads

            proxy.restore()
            await eventually(lambda: store.write_states([StateWrite("chat", "a", 1, {"n": 2})]))
            stored = await store.read_state("chat", "a")
            assert stored is not None and stored.state == {"n": 2}
            assert store.health().reachable is True


async def test_cancelled_call_lets_its_thread_go(
    pg_url: str, pg_schema: str, proxy: CuttableProxy
) -> None:
    """A caller cancelled from outside (a shutdown, a client gone) is not held by the thread,
    and the thread does not stay blocked either."""
    with trio.fail_after(30):
        store = PostgresSharedStore(
            through(pg_url, proxy), schema=pg_schema, max_size=1, call_timeout=60
        )
        async with store:
            await store.read_state("chat", "a")
            proxy.hang()
            start = trio.current_time()
            with trio.move_on_after(0.3) as scope:
                await store.read_state("chat", "a")
            assert scope.cancelled_caught and trio.current_time() - start < 0.3 + MARGIN
            await threads_end(store)
            proxy.restore()
            assert await eventually(lambda: store.read_state("chat", "a")) is None


async def test_open_against_a_silent_server_fails_at_the_deadline(tmp_path: Path) -> None:
    """A listener that accepts and never says a word: open fails in time, close is prompt."""
    with trio.fail_after(20):
        held: list[trio.SocketStream] = []

        async def silent(stream: trio.SocketStream) -> None:
            async with stream:  # closed when the test ends: no socket left to the collector
                held.append(stream)
                await trio.sleep_forever()

        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            store = PostgresSharedStore(
                f"postgresql://roost@127.0.0.1:{port}/db", call_timeout=DEADLINE
            )
            await ends_within(DEADLINE + MARGIN, store.open)
            assert held  # it did try, and was left hanging
            start = trio.current_time()
            await store.aclose()
            assert trio.current_time() - start < DEADLINE + MARGIN
            nursery.cancel_scope.cancel()


async def test_aclose_does_not_wait_for_a_hung_call(
    pg_url: str, pg_schema: str, proxy: CuttableProxy
) -> None:
    with trio.fail_after(30):
        store = PostgresSharedStore(through(pg_url, proxy), schema=pg_schema, call_timeout=60)
        await store.open()
        proxy.hang()
        outcome: list[BaseException] = []

        async def hung_call() -> None:
            try:
                await store.read_state("chat", "a")
            except StoreUnavailable as exc:
                outcome.append(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(hung_call)
            await trio.sleep(0.3)  # the call is blocked on the silent socket now
            start = trio.current_time()
            await store.aclose()
            assert trio.current_time() - start < 2 * MARGIN
        assert len(outcome) == 1  # the abandoned call failed instead of hanging on
        await threads_end(store)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://[::1/db",  # unclosed IPv6 bracket
        "postgresql://u:secret pw@h/db",  # an unescaped space
        "postgresql://u:secret@h:notaport/db",
        "postgresql://u:secret@h:70000/db",
        "postgresql://h/db?bogus=secret",  # an option libpq does not know
        "postgresql://%zzsecret@h/db",
        "postgres:/u:secret@h/db",  # one slash: not a file name either
        "postgresql:secret",
        "mysql://u:secret@h/db",
    ],
)
def test_malformed_store_url_is_refused_before_anything_opens(url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with pytest.raises(ConfigError) as raised:
        open_shared_store(url, data_dir=data)
    message = str(raised.value)
    assert "\n" not in message and "secret" not in message  # one line, no password
    assert not data.exists()  # nothing opened, nothing created


def test_well_formed_store_urls_are_accepted(tmp_path: Path) -> None:
    for url in (
        "postgresql://",
        "postgres://u:p@db.example:5433/roost?sslmode=require",
        "postgresql://u@h1:5432,h2:5433/db",
        "POSTGRESQL://h/db",
    ):
        assert isinstance(open_shared_store(url, data_dir=tmp_path), PostgresSharedStore)


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan"), "5", True])
def test_call_timeout_must_be_positive(timeout: object, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        open_shared_store(None, data_dir=tmp_path, call_timeout=timeout)  # type: ignore[arg-type]


async def test_deadline_is_real_time_under_a_mock_clock(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """The deadline bounds a real thread, so it runs on real time: an autojump clock that
    leaps while the thread works (every task is idle then) must not time calls out."""

    async def ticking() -> None:  # somewhere for the clock to leap to, again and again
        for _ in range(10**9):
            await trio.sleep(0.05)

    with trio.fail_after(100_000):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticking)
            store = open_shared_store(None, data_dir=tmp_path, call_timeout=DEADLINE)
            async with store:
                start = trio.current_time()
                for i in range(200):
                    await store.write_states([StateWrite("chat", f"k{i}", 1, {"i": i})])
                assert trio.current_time() - start > DEADLINE  # the clock did leap meanwhile
                assert store.health().reachable is True
            nursery.cancel_scope.cancel()


async def test_sqlite_locked_past_the_deadline_frees_its_connection(tmp_path: Path) -> None:
    """SQLite's lock wait cannot be interrupted, so it is bounded by the deadline too: the
    abandoned call's thread ends while the lock is still held (the store's one connection is
    free again), and its write is not applied behind the caller's back later."""
    with trio.fail_after(30):
        path = tmp_path / "shared.sqlite"
        store = SQLiteSharedStore(path, busy_timeout=30, call_timeout=DEADLINE)
        async with store:
            await store.write_states([StateWrite("chat", "a", 1, {"n": 1})])
            other = sqlite3.connect(path, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
                await ends_within(
                    DEADLINE + MARGIN,
                    lambda: store.write_states([StateWrite("chat", "a", 1, {"n": 2})]),
                )
                with trio.fail_after(MARGIN):
                    await threads_end(store)
                other.execute("ROLLBACK")
            finally:
                other.close()
            await store.write_states([StateWrite("chat", "a", 1, {"n": 3})])
            stored = await store.read_state("chat", "a")
            assert stored is not None and (stored.version, stored.state) == (2, {"n": 3})
