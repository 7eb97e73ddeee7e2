"""The shared transactional store: actor state, ownership leases and node membership.

Other services read its tables with SQL (see docs/shared-store.md); roost writes them through
:class:`SharedStore`, backed by an SQLite file (the default) or PostgreSQL.
"""

from __future__ import annotations

from ._api import MAX_LIST_LIMIT, EncodedState, SharedStore, StoreHealth
from ._errors import StoreUnavailable
from ._factory import SHARED_SQLITE_NAME, open_shared_store
from ._postgres import PostgresSharedStore
from ._records import (
    Claim,
    Lease,
    LeaseInfo,
    LeaseOwner,
    NodeInfo,
    StateWrite,
    StoredState,
    WriteOutcome,
    WriteStatus,
    encode_state,
)
from ._sqlite import SQLiteSharedStore

__all__ = [
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
]
