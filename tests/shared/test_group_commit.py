"""Group commit: callers that arrive while a write is under way go together in the next one;
each gets its own result, or the error of the write its item was in."""

from __future__ import annotations

import asyncio

import pytest

from shared.group_commit import GroupCommit


class _Store:
    """Writes take 10 ms each; item -1 makes its whole write fail."""

    def __init__(self) -> None:
        self.writes: list[list[int]] = []

    async def write(self, items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        if -1 in items:
            raise RuntimeError("write refused")
        self.writes.append(items)
        return [item * 10 for item in items]


async def test_one_caller_alone_is_written_at_once():
    store = _Store()
    assert await GroupCommit(store.write).submit(1) == 10
    assert store.writes == [[1]]


async def test_callers_waiting_together_share_writes():
    store = _Store()
    group = GroupCommit(store.write, most=3)

    results = await asyncio.gather(*(group.submit(n) for n in range(8)))

    assert results == [n * 10 for n in range(8)]
    # All arrived before the first write began: three at most a write, in order.
    assert store.writes == [[0, 1, 2], [3, 4, 5], [6, 7]]


async def test_callers_released_one_turn_after_another_share_a_write():
    """A round of sends given their permits through a lock: each caller goes on one loop turn
    after the one before it, and the round is still written in one group."""
    store = _Store()
    group = GroupCommit(store.write)
    permits = asyncio.Lock()

    async def send(n: int) -> int:
        async with permits:
            pass
        return await group.submit(n)

    async with permits:
        callers = [asyncio.create_task(send(n)) for n in range(64)]
        await asyncio.sleep(0)  # all of them wait for the lock
    results = await asyncio.gather(*callers)

    assert results == [n * 10 for n in range(64)]
    assert store.writes == [list(range(64))]


async def test_a_failed_write_fails_its_group_only():
    store = _Store()
    group = GroupCommit(store.write)
    first = asyncio.create_task(group.submit(1))
    await asyncio.sleep(0.005)  # the first write is under way
    later = [asyncio.create_task(group.submit(n)) for n in (2, -1, 3)]

    assert await first == 10
    for task in later:
        with pytest.raises(RuntimeError, match="write refused"):
            await task
    assert await group.submit(4) == 40  # the next group is written as usual


async def test_a_caller_cancelled_while_waiting_still_has_its_item_written():
    store = _Store()
    group = GroupCommit(store.write)
    waiting = asyncio.create_task(group.submit(5))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0.05)
    assert store.writes == [[5]]
