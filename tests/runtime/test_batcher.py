"""PassBatcher: what tasks schedule within one scheduler pass is handled together, once."""

from __future__ import annotations

import trio
import trio.testing

from roost.runtime._batcher import PassBatcher


async def test_items_of_one_pass_are_handled_in_one_batch_after_the_pass() -> None:
    batcher: PassBatcher[str] = PassBatcher()
    batches: list[list[str]] = []
    current: list[str] = []

    def handle(item: str) -> None:
        current.append(item)

    async def schedule(item: str) -> None:
        batcher.schedule(item)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(batcher.run, handle)
            await trio.testing.wait_all_tasks_blocked()
            for item in ("a", "b", "c"):
                nursery.start_soon(schedule, item)
            assert current == []  # nothing is handled inside the pass that scheduled it
            await trio.testing.wait_all_tasks_blocked()
            batches.append(sorted(current))  # trio runs the pass's tasks in any order
            current.clear()
            batcher.schedule("d")
            await trio.testing.wait_all_tasks_blocked()
            batches.append(current[:])
            nursery.cancel_scope.cancel()
    assert batches == [["a", "b", "c"], ["d"]]


async def test_a_handler_that_schedules_again_lets_others_run() -> None:
    """An item scheduled again by its own handler waits for the next pass: no spinning."""
    batcher: PassBatcher[int] = PassBatcher()
    handled: list[int] = []

    def handle(item: int) -> None:
        handled.append(item)
        if item < 3:
            batcher.schedule(item + 1)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(batcher.run, handle)
            await trio.testing.wait_all_tasks_blocked()
            batcher.schedule(0)
            # The batcher checkpoints between batches, so this task runs between them: after
            # one pass it has handled one batch at most, never the whole chain.
            await trio.lowlevel.checkpoint()
            assert len(handled) <= 1
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    assert handled == [0, 1, 2, 3]
