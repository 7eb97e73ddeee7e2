"""Storage: one SQLite file per actor (atomic turns, a KV, a bounded handle pool), and the
shared transactional store every actor's snapshot is synced to (SQLite or PostgreSQL).

Public names are re-exported here; the modules behind them are private.
"""

from __future__ import annotations

from ._actor_storage import ActorStorage
from ._checkpoints import Checkpointer
from ._codec import MAX_VALUE_DEPTH
from ._connection import SYNCHRONOUS_MODES
from ._file_fence import read_file_fence, remove_actor_file
from ._kv import KV
from ._lock import DataDirLock, DataDirLocked
from ._paths import actor_db_path, validate_actor_type
from ._pool import HandlePool, PoolStatistics
from ._shared import (
    Claim,
    EncodedState,
    Lease,
    LeaseInfo,
    LeaseOwner,
    NodeInfo,
    PostgresSharedStore,
    SharedStore,
    SQLiteSharedStore,
    StateWrite,
    StoredState,
    WriteOutcome,
    WriteStatus,
    open_shared_store,
)

__all__ = [
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
]
