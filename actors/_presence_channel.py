"""``self.presence``: presence over an actor's own connections (the Phoenix Presence model).

The tracker and the heartbeat times live on the actor's *slot*, not on its instance, so they
survive hibernation exactly as the connections do. Every change is sent as a
``presence_diff`` to every other connection; a connection's presences leave when it closes,
or, when the actor class sets ``presence_ttl``, once it has sent no heartbeat for that long.
Expiry is checked with an alarm, so it happens while the actor hibernates too.

Each connection gets presence in its own mode: a raw connection a JSON text frame
``{"type": "presence_diff", ...}``, an envelope connection (roost.v1.cbor / .json) an
``event`` named ``presence_diff`` whose data is that message without ``type``. A raw frame
on an envelope connection would break its protocol and close it with 1003 or 1007.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Protocol

from ._connection import Connection
from ._presence import PresenceDiff, Presences, PresenceTracker

if TYPE_CHECKING:
    from ._alarms import Alarms

#: The runtime's own alarm that expires presences without heartbeats.
EXPIRY_ALARM = "roost.presence"


class PresenceHost(Protocol):
    """What presence needs of its actor's host: a part of :class:`roost.actors.ActorHost`
    (declared here, so this module does not import the actor module that imports it)."""

    @property
    def alarms(self) -> Alarms: ...

    def now(self) -> float: ...

    def mark_dirty(self) -> None: ...

    def emit(
        self,
        name: str,
        data: Any = None,
        *,
        to: Connection | Collection[Connection] | None = None,
        exclude: Collection[Connection] = (),
        tag: str | None = None,
    ) -> None: ...

    def broadcast(
        self, message: str | bytes, exclude: Collection[Connection] = (), tag: str | None = None
    ) -> None: ...


class PresenceStore:
    """What presence keeps per actor slot: the tracker and the last heartbeat per connection."""

    __slots__ = ("last_seen", "tracker")

    def __init__(self) -> None:
        self.tracker = PresenceTracker()
        self.last_seen: dict[str, float] = {}


class Presence:
    """Track who is here; announce joins and leaves to everyone else.

    Args:
        host: the actor's host (for broadcasts, alarms and the clock).
        store: the slot's presence data.
        ttl: seconds without a heartbeat after which a connection's presences leave, or
            None to keep them until the connection closes.
    """

    def __init__(self, host: PresenceHost, store: PresenceStore, ttl: float | None) -> None:
        self._host = host
        self._store = store
        self._ttl = ttl

    def track(self, conn: Connection, key: str, meta: dict[str, Any]) -> PresenceDiff:
        """``conn`` is present under ``key`` with ``meta``; a second call updates the meta."""
        diff = self._store.tracker.track(conn.id, key, meta)
        self.heartbeat(conn)
        self._announce(diff, conn)
        return diff

    def update(self, conn: Connection, key: str, meta: dict[str, Any]) -> PresenceDiff:
        """Replace the meta of ``conn`` under ``key`` (a leave and a join for clients)."""
        diff = self._store.tracker.update(conn.id, key, meta)
        self.heartbeat(conn)
        self._announce(diff, conn)
        return diff

    def untrack(self, conn: Connection, key: str | None = None) -> PresenceDiff:
        """``conn`` leaves ``key`` (every key when None)."""
        return self._leave(conn.id, key, exclude=conn)

    def heartbeat(self, conn: Connection) -> None:
        """``conn`` is still here: its presences stay for another ``ttl`` seconds."""
        if conn.id not in self._store.tracker.connections():
            return
        self._store.last_seen[conn.id] = self._host.now()
        if self._ttl is not None:
            self._arm()

    def state(self) -> Presences:
        """Everyone present: ``{key: {"metas": [meta, ...]}}``."""
        return self._store.tracker.state()

    def state_message(self) -> dict[str, Any]:
        """``{"type": "presence_state", "presences": ...}``, what a joining client gets."""
        return {"type": "presence_state", "presences": self.state()}

    def send_state(self, conn: Connection) -> None:
        """Send :meth:`state_message` to ``conn``: a JSON text frame in raw mode, an event
        ``presence_state`` with data ``{"presences": ...}`` in envelope mode."""
        message = self.state_message()
        if conn.subprotocol is None:
            conn.send(_dumps(message))
        else:
            self._host.emit(message.pop("type"), message, to=conn)

    # -- for the runtime ---------------------------------------------------------------------

    def connection_closed(self, conn: Connection) -> None:
        """A closed connection's presences leave."""
        self._leave(conn.id, None, exclude=None)

    def expire(self) -> None:
        """Let connections without a recent heartbeat leave; re-arm for the next expiry."""
        if self._ttl is None:
            return
        deadline = self._host.now() - self._ttl
        for conn_id, seen in list(self._store.last_seen.items()):
            if seen <= deadline:
                self._leave(conn_id, None, exclude=None)
        self._arm()

    def _leave(self, conn_id: str, key: str | None, exclude: Connection | None) -> PresenceDiff:
        store = self._store
        diff = store.tracker.untrack(conn_id, key)
        if conn_id not in store.tracker.connections():
            store.last_seen.pop(conn_id, None)
        self._announce(diff, exclude)
        return diff

    def _arm(self) -> None:
        """Keep the expiry alarm at the earliest time a presence could expire."""
        assert self._ttl is not None
        last_seen = self._store.last_seen
        alarms = self._host.alarms
        if not last_seen:
            alarms._delete_internal(EXPIRY_ALARM)
            return
        due = min(last_seen.values()) + self._ttl
        current = alarms.get(EXPIRY_ALARM)
        if current is None or current.due_at != due:
            alarms._set_internal(EXPIRY_ALARM, due)

    def _announce(self, diff: PresenceDiff, exclude: Connection | None) -> None:
        if diff.is_empty:
            return
        host = self._host
        host.mark_dirty()  # who is here is part of what a snapshot may report
        excluded = (exclude,) if exclude is not None else ()
        message = diff.as_message()
        host.broadcast(_dumps(message), exclude=excluded)  # raw connections only
        host.emit(message.pop("type"), message, exclude=excluded)  # envelope connections only


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
