"""TurnLock: the slot's lock keeps trio.Lock's guarantees that turns rely on (G2)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from roost.runtime._turn_lock import TurnLock


async def test_waiters_get_the_lock_in_arrival_order_and_newcomers_wait_behind_them(
    autojump_clock: trio.abc.Clock,
) -> None:
    lock = TurnLock()
    order: list[int] = []

    async def turn(i: int) -> None:
        async with lock:
            order.append(i)
            await trio.sleep(1)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            lock.acquire_nowait()
            for i in range(3):
                nursery.start_soon(turn, i)
                await trio.testing.wait_all_tasks_blocked()
            lock.release()  # handed to waiter 0: held throughout
            assert lock.locked()
            with pytest.raises(trio.WouldBlock):
                lock.acquire_nowait()  # waiters 1 and 2 go first
    assert order == [0, 1, 2]
    assert not lock.locked()
    lock.acquire_nowait()
    lock.release()


async def test_a_cancelled_waiter_leaves_the_queue_and_the_lock_works_on(
    autojump_clock: trio.abc.Clock,
) -> None:
    lock = TurnLock()
    got: list[str] = []

    async def wait(name: str, scope: trio.CancelScope | None = None) -> None:
        if scope is None:
            scope = trio.CancelScope()
        with scope:
            await lock.acquire()
            got.append(name)
            lock.release()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            lock.acquire_nowait()
            cancelled = trio.CancelScope()
            nursery.start_soon(wait, "cancelled", cancelled)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(wait, "second")
            await trio.testing.wait_all_tasks_blocked()
            cancelled.cancel()
            await trio.testing.wait_all_tasks_blocked()
            lock.release()
    assert got == ["second"]
    assert not lock.locked()


async def test_acquire_is_a_checkpoint_and_release_without_holding_is_a_bug() -> None:
    lock = TurnLock()
    with trio.fail_after(10):
        with trio.CancelScope() as scope:
            scope.cancel()
            with pytest.raises(trio.Cancelled):
                await lock.acquire()  # cancelled before taking it: not held
        assert not lock.locked()
        await lock.acquire()
        assert lock.locked()
        lock.release()
    with pytest.raises(RuntimeError):
        lock.release()
