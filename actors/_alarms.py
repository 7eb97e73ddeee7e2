"""Named alarms of one actor, stored in its own SQLite inside the current turn (G5).

Setting or deleting an alarm is part of the turn: it commits or rolls back with everything
else the turn wrote. The node's scheduler (runtime/) learns about the change when the turn
commits and wakes the actor at the alarm's time, activating it if it was evicted.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from roost.storage import ActorStorage

#: Defaults like Durable Objects: the first retry 2 s after a failure, then 4, 8, ... s; after
#: 6 retries the alarm is quarantined instead of being retried forever.
DEFAULT_MAX_RETRIES = 6
DEFAULT_RETRY_DELAY = 2.0
#: An alarm's payload must serialise to at most this many bytes of JSON.
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_NAME_LENGTH = 256
#: Alarm names starting with this belong to the runtime (presence expiry, for example).
RESERVED_PREFIX = "roost."

_SCHEMA = """
CREATE TABLE IF NOT EXISTS _roost_alarms (
    name TEXT PRIMARY KEY,
    scheduled_at REAL NOT NULL,   -- the time the actor asked for (unix seconds)
    due_at REAL NOT NULL,         -- when it fires next: scheduled_at, or a retry's time
    payload TEXT NOT NULL,        -- JSON
    attempt INTEGER NOT NULL DEFAULT 0,  -- failed attempts so far
    max_retries INTEGER NOT NULL,
    retry_delay REAL NOT NULL,
    quarantined INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0  -- bumped by every set(), to tell re-sets apart
) WITHOUT ROWID
"""
_COLUMNS = (
    "name, scheduled_at, due_at, payload, attempt, max_retries, retry_delay, quarantined,"
    " generation"
)


@attrs.frozen(kw_only=True)
class Alarm:
    """One alarm as the actor sees it.

    Attributes:
        name: unique per actor.
        scheduled_at: the unix time the alarm was set for.
        due_at: when it fires next (later than scheduled_at while retrying).
        payload: the JSON-able value given to ``set``.
        attempt: 1 for the first try, 2 for the first retry, ... (in ``on_alarm``); in
            ``list``/``get`` the number of failed attempts so far.
        quarantined: it failed ``max_retries + 1`` times and will not fire again until set anew.
    """

    name: str
    scheduled_at: float
    due_at: float
    payload: Any = None
    attempt: int = 0
    max_retries: int = DEFAULT_MAX_RETRIES
    retry_delay: float = DEFAULT_RETRY_DELAY
    quarantined: bool = False
    generation: int = 0


class AlarmChanges:
    """What a turn did to alarms, for the scheduler: name -> due time, or None if deleted."""

    __slots__ = ("changed",)

    def __init__(self) -> None:
        self.changed: dict[str, float | None] = {}


class Alarms:
    """``self.alarms`` of an actor: ``set``, ``get``, ``delete``, ``list``.

    Args:
        storage: the actor's storage (the alarms table lives in its SQLite file).
        now: the node's clock in unix seconds (trio's clock underneath, so tests can jump).
        changes: where the current turn records what it changed.
    """

    def __init__(
        self, storage: ActorStorage, now: Callable[[], float], changes: AlarmChanges
    ) -> None:
        self._storage = storage
        self._now = now
        self._changes = changes

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection = self._storage.db.conn
        return conn

    def set(
        self,
        name: str,
        *,
        at: float | None = None,
        after: float | None = None,
        payload: Any = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_delay: float = DEFAULT_RETRY_DELAY,
    ) -> Alarm:
        """Set (or replace) the alarm ``name`` for unix time ``at`` or ``after`` seconds.

        Raises:
            ValueError: neither or both of ``at``/``after``, a bad name, time, limit or
                payload (not JSON-able or over MAX_PAYLOAD_BYTES).
        """
        _check_user_name(name)
        return self._set_internal(name, at, after, payload, max_retries, retry_delay)

    def _set_internal(
        self,
        name: str,
        at: float | None,
        after: float | None = None,
        payload: Any = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_delay: float = DEFAULT_RETRY_DELAY,
    ) -> Alarm:
        """``set`` without the name check: the runtime's own alarms use reserved names."""
        if (at is None) == (after is None):
            raise ValueError("give exactly one of at= (unix seconds) or after= (seconds)")
        when = self._now() + after if after is not None else at
        assert when is not None
        if not math.isfinite(when):
            raise ValueError("alarm time must be finite")
        if max_retries < 0 or not retry_delay > 0:
            raise ValueError("max_retries must be >= 0 and retry_delay > 0")
        encoded = json.dumps(payload, separators=(",", ":"))
        if len(encoded.encode()) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"alarm payload over {MAX_PAYLOAD_BYTES} bytes of JSON")
        conn = self._conn()
        conn.execute(_SCHEMA)
        row = conn.execute("SELECT generation FROM _roost_alarms WHERE name = ?", [name]).fetchone()
        generation = (row[0] + 1) if row else 0
        conn.execute(
            f"INSERT OR REPLACE INTO _roost_alarms ({_COLUMNS}) VALUES (?, ?, ?, ?, 0, ?, ?, 0, ?)",
            [name, when, when, encoded, max_retries, retry_delay, generation],
        )
        self._changes.changed[name] = when
        return Alarm(
            name=name,
            scheduled_at=when,
            due_at=when,
            payload=json.loads(encoded),
            max_retries=max_retries,
            retry_delay=retry_delay,
            generation=generation,
        )

    def get(self, name: str) -> Alarm | None:
        """The alarm called ``name`` (quarantined ones included), or None."""
        if not self._has_table():
            return None
        row = (
            self._conn()
            .execute(f"SELECT {_COLUMNS} FROM _roost_alarms WHERE name = ?", [name])
            .fetchone()
        )
        return _alarm(row) if row else None

    def delete(self, name: str) -> bool:
        """Delete the alarm ``name``; True if there was one."""
        _refuse_reserved(name)
        return self._delete_internal(name)

    def _delete_internal(self, name: str) -> bool:
        if not self._has_table():
            return False
        cursor = self._conn().execute("DELETE FROM _roost_alarms WHERE name = ?", [name])
        if cursor.rowcount:
            self._changes.changed[name] = None
        return bool(cursor.rowcount)

    def list(self) -> list[Alarm]:
        """Every alarm of this actor, soonest first (quarantined ones included)."""
        if not self._has_table():
            return []
        rows = (
            self._conn()
            .execute(f"SELECT {_COLUMNS} FROM _roost_alarms ORDER BY due_at, name")
            .fetchall()
        )
        return [_alarm(row) for row in rows]

    def _has_table(self) -> bool:
        return (
            self._conn()
            .execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_roost_alarms'")
            .fetchone()
            is not None
        )

    # -- used by the runtime when an alarm fires ----------------------------------------------

    def _record_failure(self, alarm: Alarm, now: float) -> Alarm | None:
        """After a failed attempt: schedule the retry, or quarantine. Returns the new state."""
        current = self.get(alarm.name)
        if current is None or current.generation != alarm.generation:
            return current  # deleted or set anew meanwhile: nothing to retry
        failures = current.attempt + 1
        if failures > current.max_retries:
            self._conn().execute(
                "UPDATE _roost_alarms SET attempt = ?, quarantined = 1 WHERE name = ?",
                [failures, alarm.name],
            )
            self._changes.changed[alarm.name] = None
            return attrs.evolve(current, attempt=failures, quarantined=True)
        due = now + current.retry_delay * 2 ** (failures - 1)
        self._conn().execute(
            "UPDATE _roost_alarms SET attempt = ?, due_at = ? WHERE name = ?",
            [failures, due, alarm.name],
        )
        self._changes.changed[alarm.name] = due
        return attrs.evolve(current, attempt=failures, due_at=due)

    def _complete_internal(self, name: str) -> None:
        """A runtime alarm fired: remove it (its handler re-arms it when still needed).

        The scheduler is told even when no row was deleted (the row went with a kill -9, a
        manual delete or an import): otherwise its index entry would stay due (G5).
        """
        self._delete_internal(name)
        self._changes.changed[name] = None

    def _complete(self, alarm: Alarm) -> None:
        """After a successful attempt: the alarm is done unless the handler set it anew (a
        new generation). Two statements, not a read then a delete: this runs for every
        alarm that fires."""
        if not self._has_table():  # the handler dropped every table (storage.delete_all)
            return
        cursor = self._conn().execute(
            "DELETE FROM _roost_alarms WHERE name = ? AND generation = ?",
            [alarm.name, alarm.generation],
        )
        if cursor.rowcount:
            self._changes.changed[alarm.name] = None


def _check_user_name(name: object) -> None:
    """Raise ValueError for a name an actor may not set (bad, or reserved for the runtime)."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LENGTH:
        raise ValueError(f"alarm names are strings of 1 to {MAX_NAME_LENGTH} characters")
    _refuse_reserved(name)


def _refuse_reserved(name: str) -> None:
    if name.startswith(RESERVED_PREFIX):
        raise ValueError(f"alarm names starting with {RESERVED_PREFIX!r} are roost's own")


def _alarm(row: tuple[Any, ...]) -> Alarm:
    name, scheduled_at, due_at, payload, attempt, max_retries, retry_delay, quarantined, gen = row
    return Alarm(
        name=name,
        scheduled_at=scheduled_at,
        due_at=due_at,
        payload=json.loads(payload),
        attempt=attempt,
        max_retries=max_retries,
        retry_delay=retry_delay,
        quarantined=bool(quarantined),
        generation=gen,
    )
