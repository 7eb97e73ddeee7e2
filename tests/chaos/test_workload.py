"""The harness's clients: the final reads wait for every operation still on its way."""

from __future__ import annotations

import trio
import trio.testing

from chaos.history import History
from chaos.workload import Workload


async def test_settled_waits_for_every_operation_in_flight(autojump_clock: trio.abc.Clock) -> None:
    workload = Workload(History(), seed=1)
    done: list[str] = []

    async def operation(name: str, seconds: float) -> None:
        with workload.operation():
            await trio.sleep(seconds)
            done.append(name)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(operation, "slow", 4.3)
            nursery.start_soon(operation, "quick", 0.1)
            await trio.testing.wait_all_tasks_blocked()  # both have started
            await workload.settled()
            # A write delayed by a frozen node lands before anyone reads the final state.
            assert done == ["quick", "slow"]
            assert workload.in_flight == 0
        await workload.settled()  # nothing in flight: at once
