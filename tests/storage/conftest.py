"""Fixtures for roost.storage tests: real SQLite files under pytest's tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from roost.storage import ActorStorage, HandlePool, actor_db_path

ACTOR_TYPE = "room"

MakeStorage = Callable[..., ActorStorage]


@pytest.fixture
def pool() -> HandlePool:
    return HandlePool(max_open=64)


@pytest.fixture
def make_storage(tmp_path: Path, pool: HandlePool) -> Iterator[MakeStorage]:
    """Build ActorStorage objects for keys under tmp_path; all are closed at teardown."""
    made: list[ActorStorage] = []

    def make(key: str = "k", *, pool: HandlePool = pool, **kwargs: Any) -> ActorStorage:
        path = actor_db_path(tmp_path, ACTOR_TYPE, key)
        storage = ActorStorage(path, actor_type=ACTOR_TYPE, key=key, pool=pool, **kwargs)
        made.append(storage)
        return storage

    yield make
    for storage in made:
        storage.close()
