"""Store calls in worker threads, each with a real-time deadline, abandoned when late.

A call runs its blocking function in a trio worker thread. At its deadline (or when its
caller is cancelled) the trio side stops waiting at once and the call is *abandoned*: the
resources its thread registered (a connection's socket) are cut, so the thread fails soon
after instead of waiting forever on a database that never answers.

The deadline bounds a real thread blocked on a real socket, so it is measured in real time
(``time.monotonic``) by one watchdog thread, not on trio's clock: under a test's mock clock
(autojump), a trio deadline would fire while the thread is still doing its few milliseconds of
work, and a node's tests would see timeouts that never happen in production.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar, TypeVarTuple

import trio

from roost._errors import StoreUnavailable

__all__ = ["CallRunner", "Watchdog"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

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


class Abandoned(BaseException):
    """Raised in a worker thread whose call was abandoned before it took a resource.

    A BaseException, like trio's Cancelled: nothing on the way (psycopg_pool's check loop,
    the error mapping) may treat it as a failure to retry; nobody awaits its result.
    """


class Call:
    """One call in a worker thread, which the trio side may abandon at any moment.

    The thread registers each resource it takes with a *cut* (a function, safe to call from
    another thread, that makes the thread's blocking use of that resource fail at once);
    :meth:`abandon` runs the cuts of what is held and refuses anything taken later.
    """

    __slots__ = ("_abandoned", "_cuts", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._abandoned = False
        self._cuts: list[Callable[[], None]] = []

    def check(self) -> None:
        """In the thread: stop here if the call was abandoned."""
        if self._abandoned:
            raise Abandoned

    @contextmanager
    def holding(self, cut: Callable[[], None]) -> Iterator[None]:
        """In the thread: ``cut`` ends the use of a resource while the block runs."""
        with self._lock:
            if self._abandoned:
                raise Abandoned
            self._cuts.append(cut)
        try:
            yield
        finally:
            with self._lock:
                if cut in self._cuts:
                    self._cuts.remove(cut)

    def abandon(self) -> None:
        """On the trio side: nobody waits for this call any more; cut what it holds.

        The cuts run under the lock, so none runs after its block ended (when the resource
        may already serve the next call); each is one quick system call.
        """
        with self._lock:
            self._abandoned = True
            cuts, self._cuts = self._cuts, []
            for cut in cuts:
                cut()


class CallRunner:
    """Runs blocking calls in at most ``max_threads`` worker threads, each within ``timeout``
    seconds of real time (waiting for a thread included).

    Raises (from :meth:`run`):
        StoreUnavailable: the deadline passed (the call was abandoned).
    """

    def __init__(self, *, max_threads: int, timeout: float) -> None:
        self._limiter = trio.CapacityLimiter(max_threads)
        self._timeout = timeout
        self._watchdog = Watchdog()
        self._calls: set[Call] = set()  # in flight, for abandon_all
        self._local = threading.local()  # .call: the Call a worker thread runs

    @property
    def threads_busy(self) -> int:
        """Worker threads running calls now, abandoned ones included until they end."""
        return self._limiter.borrowed_tokens

    async def run(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """``fn(*args)`` in a worker thread; abandoned at the deadline or on cancellation."""
        call = Call()
        local = self._local

        def work() -> T:
            local.call = call
            try:
                call.check()  # abandoned before the thread started: touch nothing
                return fn(*args)
            finally:
                local.call = None

        token = trio.lowlevel.current_trio_token()
        expired = False
        timed_out = f"shared store call timed out after {self._timeout:g} s"
        with trio.CancelScope() as scope:

            def expire() -> None:  # in the watchdog thread, at the deadline
                nonlocal expired
                expired = True  # before the cut: whatever the cut causes counts as late
                call.abandon()
                try:
                    token.run_sync_soon(scope.cancel)
                except trio.RunFinishedError:
                    pass

            self._calls.add(call)
            timer = self._watchdog.arm(self._timeout, expire)
            try:
                result = await trio.to_thread.run_sync(
                    work, limiter=self._limiter, abandon_on_cancel=True
                )
            except Abandoned:
                # The thread saw the abandonment before trio delivered the cancellation.
                raise StoreUnavailable(timed_out if expired else "shared store closed") from None
            except Exception as exc:
                if expired:  # the cut made the thread fail before the cancellation arrived
                    raise StoreUnavailable(timed_out) from exc
                raise
            except BaseException:
                call.abandon()  # cancelled (deadline, caller): let the thread go
                raise
            finally:
                self._watchdog.disarm(timer)
                self._calls.discard(call)
        if scope.cancelled_caught or expired:
            raise StoreUnavailable(timed_out)
        return result

    @contextmanager
    def holding(self, cut: Callable[[], None]) -> Iterator[None]:
        """In a worker thread: if its call is abandoned while the block runs, run ``cut``."""
        call: Call | None = getattr(self._local, "call", None)
        if call is None:  # not one of our calls (a pool's own thread): nobody abandons it
            yield
            return
        with call.holding(cut):
            yield

    def abandon_all(self) -> None:
        """Abandon every call in flight (the store is closing)."""
        for call in list(self._calls):
            call.abandon()
