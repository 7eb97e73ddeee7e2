"""Awareness bookkeeping for the Yjs actor: whose cursor is where, and for how long.

The merge rule is y-protocols': an entry replaces what is known of its client when its clock
is newer, or when it has the same clock and says the client is gone. What this adds is who
*owns* each client (the connection that first sent it, and only that one may change it), so
a closing connection's clients can be announced as gone, and when each was last renewed, on
the actor's clock, so clients whose provider stopped renewing them time out.

The table is plain data so that it can live in ``conn.state``: an actor that hibernates drops
this object and rebuilds it from its connections when it wakes.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from roost.protocol.yjs import AwarenessEntry


@attrs.define
class _Known:
    clock: int
    state: str  # JSON text; "null" once the client is gone
    owner: str  # connection id
    seen: float  # actor clock, seconds


class AwarenessTable:
    """Every client's latest awareness state, its owner and when it was last renewed."""

    def __init__(self) -> None:
        self._clients: dict[int, _Known] = {}

    def apply(
        self, owner: str, entries: Iterable[AwarenessEntry], now: float
    ) -> list[AwarenessEntry]:
        """Merge ``entries`` sent by connection ``owner``; return those that changed anything.

        Entries for clients another connection owns are ignored, so no connection can move
        or remove someone else's cursor.

        Renewals (a newer clock with the same state) count as changes: peers need them too,
        or their own copies of the state time out.
        """
        changed = []
        for entry in entries:
            known = self._clients.get(entry.client)
            current = known.clock if known is not None else 0
            live = known is not None and known.state != "null"
            if known is None and entry.removed:
                continue  # gone before we ever saw it: nothing to announce or keep
            if known is not None and known.owner != owner:
                continue  # another connection's client: nobody may speak for it
            if entry.clock > current or (entry.clock == current and entry.removed and live):
                self._clients[entry.client] = _Known(entry.clock, entry.state, owner, now)
                changed.append(entry)
        return changed

    def count(self, owner: str) -> int:
        """How many clients ``owner`` holds (live or timed out)."""
        return sum(1 for k in self._clients.values() if k.owner == owner)

    def remove_owner(self, owner: str) -> list[AwarenessEntry]:
        """Forget every client owned by ``owner``; return the announcements of the live ones."""
        clients = [c for c, k in self._clients.items() if k.owner == owner]
        gone = self._remove(clients)
        for client in clients:
            del self._clients[client]
        return gone

    def expire(self, now: float, timeout: float) -> list[AwarenessEntry]:
        """Mark gone every live client not renewed for ``timeout`` seconds."""
        return self._remove(c for c, k in self._clients.items() if now - k.seen >= timeout)

    def _remove(self, clients: Iterable[int]) -> list[AwarenessEntry]:
        gone = []
        for client in list(clients):
            known = self._clients[client]
            if known.state != "null":
                known.state = "null"
                gone.append(AwarenessEntry(client, known.clock, "null"))
        return gone

    def live(self) -> list[AwarenessEntry]:
        """Every client with a state, for a connection that just joined."""
        return [
            AwarenessEntry(c, k.clock, k.state)
            for c, k in self._clients.items()
            if k.state != "null"
        ]

    def owned(self, owner: str) -> dict[str, list[object]]:
        """What ``owner`` holds, JSON-able for ``conn.state``: ``{id: [clock, state, seen]}``."""
        return {
            str(c): [k.clock, k.state, k.seen] for c, k in self._clients.items() if k.owner == owner
        }

    def restore(self, owner: str, owned: dict[str, list[object]]) -> None:
        """Take back what :meth:`owned` returned for ``owner`` (after hibernation)."""
        for client, (clock, state, seen) in owned.items():
            assert isinstance(clock, int) and isinstance(state, str)
            assert isinstance(seen, int | float)
            self._clients[int(client)] = _Known(clock, state, owner, float(seen))

    def next_expiry(self, timeout: float) -> float | None:
        """When the oldest live client times out, or None without live clients."""
        seen = [k.seen for k in self._clients.values() if k.state != "null"]
        return min(seen) + timeout if seen else None
