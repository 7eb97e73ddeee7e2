"""The lock an actor's turns take (G2): trio.Lock's fairness without its bookkeeping.

Every message that reaches an actor takes and releases its slot's lock, so the lock is on the
receive path of every message (issue 16). ``trio.Lock`` costs ~0.7 µs per uncontended
acquire and release on this machine: it asks for the current task twice and registers the
owner as a *parking-lot breaker* (so waiters fail if the owner exits while holding it). A
turn always releases in a ``finally``, so that insurance buys nothing here, and
:class:`TurnLock` keeps only what the turns rely on: FIFO hand-off to the next waiter (a
turn that waits is never overtaken by one that arrives later), ``acquire_nowait`` raising
``WouldBlock`` while anyone holds or waits, ``acquire`` as a trio checkpoint, and
``async with``.
"""

from __future__ import annotations

import trio
from trio.lowlevel import ParkingLot, enable_ki_protection

__all__ = ["TurnLock"]


class TurnLock:
    """A FIFO lock for one actor's turns; release hands it straight to the oldest waiter."""

    __slots__ = ("_held", "_lot")

    def __init__(self) -> None:
        self._held = False
        # Waiters, oldest first; made by the first turn that waits (most locks never see
        # one, and a hibernated actor keeps its lock: 56 bytes instead of 290, issue 16).
        self._lot: ParkingLot | None = None

    def locked(self) -> bool:
        """Whether a turn holds the lock (or it was handed to a waiter not yet running)."""
        return self._held

    @enable_ki_protection
    def acquire_nowait(self) -> None:
        """Take the lock now.

        Raises:
            trio.WouldBlock: it is held, or others wait for it (they go first).
        """
        if self._held or self._lot:
            raise trio.WouldBlock
        self._held = True

    @enable_ki_protection
    async def acquire(self) -> None:
        """Take the lock, waiting behind earlier waiters; a checkpoint either way."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._held or self._lot:
            if self._lot is None:
                self._lot = ParkingLot()
            await self._lot.park()  # release() handed the lock over: it is ours
        else:
            self._held = True
            await trio.lowlevel.cancel_shielded_checkpoint()

    @enable_ki_protection
    def release(self) -> None:
        """Give the lock to the oldest waiter, or free it.

        Raises:
            RuntimeError: it is not held (a bug in the caller).
        """
        if not self._held:
            raise RuntimeError("release of a TurnLock that is not held")
        if self._lot:
            self._lot.unpark(count=1)  # stays held: the woken waiter owns it now
        else:
            self._held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()
