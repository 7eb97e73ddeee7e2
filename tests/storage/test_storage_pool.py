"""HandlePool: at most max_open handles, least recently used idle one out, pinned ones kept."""

from __future__ import annotations

import attrs
import pytest

from roost import ConfigError
from roost.storage import HandlePool, PoolStatistics

from .conftest import MakeStorage


@pytest.mark.parametrize("max_open", [0, -1, True, 1.5, "2"])
def test_max_open_must_be_a_positive_int(max_open: object) -> None:
    with pytest.raises(ConfigError):
        HandlePool(max_open=max_open)  # type: ignore[arg-type]


def test_statistics_are_a_frozen_record() -> None:
    pool = HandlePool(max_open=3)
    stats = pool.statistics()
    assert stats == PoolStatistics(
        open=0, max_open=3, opened_total=0, closed_total=0, evicted_total=0
    )
    assert not stats.over_limit
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.open = 1  # type: ignore[misc]


def test_least_recently_used_idle_handle_is_closed(make_storage: MakeStorage) -> None:
    pool = HandlePool(max_open=2)
    a, b, c = (make_storage(k, pool=pool) for k in "abc")
    a.kv.put("v", "a")
    b.kv.put("v", "b")
    a.kv.get("v")  # a is now more recent than b
    c.kv.put("v", "c")
    assert (a.opened, b.opened, c.opened) == (True, False, True)
    assert pool.statistics() == PoolStatistics(
        open=2, max_open=2, opened_total=3, closed_total=1, evicted_total=1
    )


def test_turns_touch_the_handle(make_storage: MakeStorage) -> None:
    pool = HandlePool(max_open=2)
    a, b, c = (make_storage(k, pool=pool) for k in "abc")
    a.db  # noqa: B018
    b.db  # noqa: B018
    a.begin_turn()
    a.commit_turn()
    c.db  # noqa: B018
    assert (a.opened, b.opened, c.opened) == (True, False, True)


def test_reopen_after_eviction_sees_the_data(make_storage: MakeStorage) -> None:
    pool = HandlePool(max_open=1)
    a, b = make_storage("a", pool=pool), make_storage("b", pool=pool)
    a.begin_turn()
    a.kv.put("v", "a")
    a.db["t"].insert({"x": 1})
    a.commit_turn()
    b.kv.put("v", "b")
    assert not a.opened
    a.begin_turn()
    assert a.kv.get("v") == "a"
    assert a.db["t"].count == 1
    a.kv.put("w", 2)
    a.commit_turn()
    assert not b.opened
    assert b.kv.get("v") == "b"
    assert a.kv.list() == [("v", "a"), ("w", 2)]


def test_handle_in_a_turn_is_never_closed(make_storage: MakeStorage) -> None:
    pool = HandlePool(max_open=2)
    a = make_storage("a", pool=pool)
    a.begin_turn()
    a.kv.put("v", 1)  # a is the least recently used from here on
    others = [make_storage(f"o{i}", pool=pool) for i in range(5)]
    for other in others:
        other.kv.put("v", 2)
    assert a.opened
    assert a.db.conn.in_transaction
    assert pool.statistics().open == 2
    a.commit_turn()
    assert a.kv.get("v") == 1


def test_pool_goes_over_the_limit_only_while_everything_is_pinned(
    make_storage: MakeStorage,
) -> None:
    pool = HandlePool(max_open=2)
    storages = [make_storage(f"s{i}", pool=pool) for i in range(4)]
    for storage in storages:
        storage.begin_turn()
        storage.kv.put("v", 1)
    stats = pool.statistics()
    assert stats.open == 4
    assert stats.over_limit
    assert all(s.opened for s in storages)
    for storage in storages:
        storage.commit_turn()
    stats = pool.statistics()
    assert stats.open == 2
    assert not stats.over_limit
    assert [s.opened for s in storages] == [False, False, True, True]
    for storage in storages:
        assert storage.kv.get("v") == 1


def test_open_transaction_outside_a_turn_pins(make_storage: MakeStorage) -> None:
    pool = HandlePool(max_open=1)
    a, b = make_storage("a", pool=pool), make_storage("b", pool=pool)
    a.db.execute("BEGIN")
    b.db  # noqa: B018
    assert a.opened
    assert pool.statistics().over_limit


def test_explicit_close_unregisters(make_storage: MakeStorage) -> None:
    pool = HandlePool(max_open=4)
    a = make_storage("a", pool=pool)
    a.db  # noqa: B018
    a.close()
    assert pool.statistics() == PoolStatistics(
        open=0, max_open=4, opened_total=1, closed_total=1, evicted_total=0
    )
    a.db  # noqa: B018
    assert pool.statistics().opened_total == 2


def test_close_idle(make_storage: MakeStorage) -> None:
    pool = HandlePool(max_open=8)
    a, b, c = (make_storage(k, pool=pool) for k in "abc")
    for storage in (a, b, c):
        storage.kv.put("v", 1)
    b.begin_turn()
    assert pool.close_idle() == 2
    assert (a.opened, b.opened, c.opened) == (False, True, False)
    b.commit_turn()
    assert pool.close_idle() == 1
    assert pool.statistics().open == 0


def test_many_actors_through_a_small_pool(make_storage: MakeStorage) -> None:
    pool = HandlePool(max_open=3)
    storages = [make_storage(f"actor-{i}", pool=pool) for i in range(20)]
    for round_ in range(3):
        for i, storage in enumerate(storages):
            storage.begin_turn()
            storage.kv.put(f"r{round_}", i)
            storage.commit_turn()
            assert pool.statistics().open <= 3
    for i, storage in enumerate(storages):
        assert storage.kv.list() == [("r0", i), ("r1", i), ("r2", i)]
    stats = pool.statistics()
    assert stats.opened_total - stats.closed_total == stats.open
