"""What one client, one actor and the half-open crowd may hold on a node.

- :class:`HandshakeGate`: connections that have not finished their request head. At the limit
  the server stops accepting (new connections wait in the kernel's backlog), so thousands of
  slow-loris sockets cost at most ``limit`` descriptors and request heads, not the process's
  file-descriptor table.
- :class:`Budget`: a count per key with a ceiling: WebSocket connections per actor (503
  beyond), and connections plus in-flight requests per client address (429 beyond).

Each holds one entry per live connection at most, so their memory is bounded by what they
limit. Sync methods never block; only :meth:`HandshakeGate.wait_for_room` waits.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

import trio

K = TypeVar("K", bound=Hashable)


class HandshakeGate:
    """Counts connections still sending their request head; the acceptor waits for room.

    A connection is pending from accept until a request head is complete, and again while
    it waits for the next request of a keep-alive cycle, so a client that finishes one head
    and then dribbles the next one is still counted; one whose head failed stays counted
    until its socket is closed. The count may pass the limit by the keep-alive connections
    that come back to waiting; it never grows from new accepts. So the descriptors held by
    connections without a complete head are at most about ``limit``.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pending: set[object] = set()
        self._room = trio.lowlevel.ParkingLot()

    @property
    def pending(self) -> int:
        """How many connections are waiting on their head right now."""
        return len(self._pending)

    def has_room(self) -> bool:
        """Whether one more connection may be accepted now."""
        return len(self._pending) < self.limit

    async def wait_for_room(self) -> None:
        """Return once :meth:`has_room` (immediately if it already does)."""
        while not self.has_room():
            await self._room.park()

    def enter(self, connection: object) -> None:
        """Count ``connection`` as pending (idempotent)."""
        self._pending.add(connection)

    def leave(self, connection: object) -> None:
        """``connection`` finished its head or is gone (idempotent); wake the acceptor."""
        if connection in self._pending:
            self._pending.discard(connection)
            if self.has_room():
                self._room.unpark_all()

    @contextmanager
    def reading(self, connection: object) -> Iterator[None]:
        """Pending while the block reads one request head, and after it if the read fails.

        A block that ends normally (a head arrived, or the peer left between requests)
        leaves the gate. One that raises (a timeout, a head over the limits) stays pending:
        its refusal lingers up to ``close_timeout`` on a descriptor, so the connection keeps
        its slot until its owner closes the socket and calls :meth:`leave`. Otherwise each
        request timeout would admit a new generation while the last one still holds its
        descriptors, and slow-loris sockets would cost a multiple of ``limit``.
        """
        self.enter(connection)
        yield  # no finally: on an exception the slot is the owner's to release
        self.leave(connection)


class Budget(Generic[K]):
    """At most ``limit`` holders per key (0 = unlimited, nothing is counted)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[K, int] = {}

    def count(self, key: K) -> int:
        """How many holders ``key`` has now."""
        return self._counts.get(key, 0)

    def try_acquire(self, key: K) -> bool:
        """Take one unit for ``key``; False (and nothing taken) when it is at the limit."""
        if not self.limit:
            return True
        held = self._counts.get(key, 0)
        if held >= self.limit:
            return False
        self._counts[key] = held + 1
        return True

    def release(self, key: K) -> None:
        """Give back a unit taken by a successful :meth:`try_acquire`."""
        if not self.limit:
            return
        held = self._counts.get(key, 0) - 1
        if held > 0:
            self._counts[key] = held
        else:
            self._counts.pop(key, None)
