"""Once-per-scheduler-pass batching: one node-wide task handles everything scheduled in a pass.

Group commit (an actor's deferred COMMIT) and socket flushing (a peer's queued frames) both
want the same thing: work that many tasks ask for within one trio scheduler pass is done once,
by one task, after they all ran. :class:`PassBatcher` is that task's queue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import trio

T = TypeVar("T")


class PassBatcher(Generic[T]):
    """Items scheduled during a scheduler pass, handled together once it ends.

    The list is bounded by the number of distinct items: callers schedule an item at most
    once until it is handled (each keeps its own "scheduled" flag), so no queue grows
    without bound.
    """

    __slots__ = ("_lot", "_ready")

    def __init__(self) -> None:
        self._ready: list[T] = []
        self._lot = trio.lowlevel.ParkingLot()

    def schedule(self, item: T) -> None:
        """Handle ``item`` at the end of this pass (the caller guarantees it is not queued)."""
        self._ready.append(item)
        if len(self._ready) == 1:
            self._lot.unpark()

    async def run(self, handle: Callable[[T], None]) -> None:
        """Forever: wait for items, then ``handle`` each one of a pass; ``handle`` never awaits.

        A batch that leaves nothing scheduled parks at once (one task switch per pass, not
        two: the flusher runs once per pass of a busy node). Items scheduled while it ran
        wait for a checkpoint first, which lets the tasks that scheduled them (and readers)
        run before the next batch, so a handler that schedules its item again cannot spin.
        """
        while True:
            ready, self._ready = self._ready, []
            for item in ready:
                handle(item)
            if self._ready:
                await trio.lowlevel.checkpoint()
            else:
                await self._lot.park()
