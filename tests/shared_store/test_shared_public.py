"""The names the shared store offers (re-exported by roost.storage once the lead wires it)."""

from __future__ import annotations

import attrs
import pytest

import roost.storage._shared as shared
from roost._errors import RoostError, StorageError

PUBLIC = {
    "MAX_LIST_LIMIT",
    "SHARED_SQLITE_NAME",
    "Claim",
    "EncodedState",
    "Lease",
    "LeaseInfo",
    "LeaseOwner",
    "NodeInfo",
    "PostgresSharedStore",
    "SQLiteSharedStore",
    "SharedStore",
    "StateWrite",
    "StoreHealth",
    "StoreUnavailable",
    "StoredState",
    "WriteOutcome",
    "WriteStatus",
    "encode_state",
    "open_shared_store",
}


def test_public_names() -> None:
    assert set(shared.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(shared, name) is not None


def test_records_are_frozen() -> None:
    records: list[object] = [
        shared.Lease("chat", "k", "node", 1, 0.0, 1.0),
        shared.StateWrite("chat", "k", 1, {}),
        shared.WriteOutcome("chat", "k", shared.WriteStatus.WRITTEN, 1, 1),
        shared.StoredState("chat", "k", 1, 1, {}, 0.0),
        shared.NodeInfo("node", "addr", 0.0, 0.0, 0.0),
        shared.Claim(shared.Lease("chat", "k", "node", 1, 0.0, 1.0), None),
        shared.LeaseOwner("node", "addr", 1, 1.0),
        shared.LeaseInfo("chat", "k", None, 1, 0.0),
        shared.EncodedState("{}"),
    ]
    for record in records:
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            record.key = "other"  # type: ignore[attr-defined]


def test_store_unavailable_is_a_storage_error() -> None:
    assert issubclass(shared.StoreUnavailable, StorageError)
    assert issubclass(shared.StoreUnavailable, RoostError)
