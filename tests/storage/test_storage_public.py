"""The public surface of roost.storage."""

from __future__ import annotations

import roost.storage

PUBLIC = {
    "KV",
    "MAX_VALUE_DEPTH",
    "SYNCHRONOUS_MODES",
    "ActorStorage",
    "Checkpointer",
    "Claim",
    "DataDirLock",
    "DataDirLocked",
    "EncodedState",
    "HandlePool",
    "Lease",
    "LeaseInfo",
    "LeaseOwner",
    "NodeInfo",
    "PoolStatistics",
    "PostgresSharedStore",
    "SQLiteSharedStore",
    "SharedStore",
    "StateWrite",
    "StoredState",
    "WriteOutcome",
    "WriteStatus",
    "actor_db_path",
    "open_shared_store",
    "read_file_fence",
    "remove_actor_file",
    "validate_actor_type",
}


def test_public_names() -> None:
    assert set(roost.storage.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(roost.storage, name) is not None


def test_nothing_else_public() -> None:
    exposed = {
        name
        for name, value in vars(roost.storage).items()
        if not name.startswith("_") and not isinstance(value, type(roost.storage))
    }
    assert exposed - {"annotations"} == PUBLIC


def test_public_objects_say_where_they_belong() -> None:
    for name in PUBLIC:
        value = getattr(roost.storage, name)
        if hasattr(value, "__module__"):
            assert value.__module__.startswith("roost.storage")
