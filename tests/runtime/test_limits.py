"""The handshake gate and per-key budgets (unit level; the server wiring is in tests/e2e)."""

from __future__ import annotations

import pytest
import trio

from roost.runtime._limits import Budget, HandshakeGate


async def test_gate_waits_for_room_and_wakes_when_a_head_finishes() -> None:
    gate = HandshakeGate(2)
    a, b = object(), object()
    gate.enter(a)
    gate.enter(b)
    gate.enter(b)  # idempotent
    assert gate.pending == 2 and not gate.has_room()
    woke = trio.Event()

    async def acceptor() -> None:
        await gate.wait_for_room()
        woke.set()

    with trio.fail_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(acceptor)
            await trio.testing.wait_all_tasks_blocked()
            assert not woke.is_set()
            gate.leave(a)
            gate.leave(a)  # idempotent
            await woke.wait()
    assert gate.pending == 1


async def test_gate_reading_block_counts_while_inside_and_after_a_failed_read() -> None:
    gate = HandshakeGate(1)
    conn = object()
    with gate.reading(conn):
        assert gate.pending == 1 and not gate.has_room()
    assert gate.pending == 0
    with pytest.raises(trio.TooSlowError):
        with gate.reading(conn):
            raise trio.TooSlowError  # a head that timed out: its 408 still holds a socket
    assert gate.pending == 1 and not gate.has_room()
    gate.leave(conn)  # the owner closed the socket
    assert gate.pending == 0 and gate.has_room()


def test_budget_counts_per_key_and_frees_entries() -> None:
    budget: Budget[str] = Budget(2)
    assert budget.try_acquire("a") and budget.try_acquire("a")
    assert not budget.try_acquire("a")
    assert budget.try_acquire("b")
    budget.release("a")
    assert budget.count("a") == 1 and budget.try_acquire("a")
    for _ in range(2):
        budget.release("a")
    budget.release("b")
    assert budget._counts == {}  # no entry outlives its last holder


def test_budget_zero_is_unlimited_and_keeps_nothing() -> None:
    budget: Budget[str] = Budget(0)
    assert all(budget.try_acquire("a") for _ in range(1000))
    budget.release("a")
    assert budget._counts == {}
