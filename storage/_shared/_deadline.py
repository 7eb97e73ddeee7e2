"""Real-time deadlines for store calls, fired by one watchdog thread per store.

A store call's deadline bounds a real thread blocked on a real socket, so it is measured in
real time (``time.monotonic``), not on trio's clock: under a test's mock clock (autojump), a
trio deadline would fire while the thread is still doing its few milliseconds of work, and a
node's tests would see timeouts that never happen in production.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Watchdog"]

log = logging.getLogger("roost.storage")

#: How long the watchdog thread lingers without deadlines before it ends (a new one starts
#: with the next call), so an idle store holds no thread.
_IDLE_EXIT = 5.0


class Timer:
    """An armed deadline; :meth:`Watchdog.disarm` it when the call ends in time."""

    __slots__ = ("at", "fire")

    def __init__(self, at: float, fire: Callable[[], None]) -> None:
        self.at = at
        self.fire: Callable[[], None] | None = fire


class Watchdog:
    """Runs callbacks at real-time deadlines, in a daemon thread started when needed.

    Callbacks run in the watchdog thread and must be quick and thread-safe (they cut a socket
    and ask trio to cancel a scope). A disarmed timer stays in the heap until its time, which
    keeps arm and disarm O(log n) and O(1).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()
        self._running = False

    def arm(self, seconds: float, fire: Callable[[], None]) -> Timer:
        """Call ``fire`` in ``seconds`` of real time, unless disarmed before."""
        timer = Timer(time.monotonic() + seconds, fire)
        with self._cond:
            heapq.heappush(self._heap, (timer.at, next(self._order), timer))
            if not self._running:
                self._running = True
                thread = threading.Thread(target=self._run, name="roost-deadlines", daemon=True)
                thread.start()
            elif self._heap[0][2] is timer:
                self._cond.notify()  # earlier than what the thread sleeps towards
        return timer

    @staticmethod
    def disarm(timer: Timer) -> None:
        timer.fire = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        _, _, timer = heapq.heappop(self._heap)
                        break
                    if not self._heap:
                        if not self._cond.wait(_IDLE_EXIT) and not self._heap:
                            self._running = False
                            return
                        continue
                    self._cond.wait(self._heap[0][0] - now)
            fire = timer.fire
            timer.fire = None
            if fire is not None:
                try:
                    fire()
                except Exception:  # a bug in one callback must not stop every deadline
                    log.exception("store deadline callback failed")
