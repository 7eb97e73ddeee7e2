"""Per-actor storage: one SQLite file per actor, atomic turns, a KV, a bounded handle pool.

Public names are re-exported here; the modules behind them are private.
"""

from __future__ import annotations

from ._actor_storage import ActorStorage
from ._codec import MAX_VALUE_DEPTH
from ._connection import SYNCHRONOUS_MODES
from ._kv import KV
from ._paths import actor_db_path, validate_actor_type
from ._pool import HandlePool, PoolStatistics

__all__ = [
    "KV",
    "MAX_VALUE_DEPTH",
    "SYNCHRONOUS_MODES",
    "ActorStorage",
    "HandlePool",
    "PoolStatistics",
    "actor_db_path",
    "validate_actor_type",
]
