"""Group commit: many callers' small writes made together, in one transaction.

Each caller submits its item and waits for its own result. Items that arrive while a write is
under way wait for it, then go in the next write together: an idle system writes each item at
once (a loop turn later), a busy one writes one transaction per burst instead of one per item.
A burst is let finish arriving first: callers released together often go on one loop turn
after another (each takes its turn at a lock), and the write waits until a turn brings no one
new. Nothing is held back on a timer.

Why our own: the notifier's send workers each mark one message before and after its provider
call; asyncpg has no statement batching across tasks, and a library for this would be a queue
and a task anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """`write(items)` returns one result per item, in order; it raises for the whole group."""

    def __init__(
        self, write: Callable[[list[Item]], Awaitable[Sequence[Result]]], most: int = 500
    ) -> None:
        self._write = write
        self._most = most
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """The item's result once its group is written (committed), or the write's error.

        A caller cancelled while it waits does not take its item back: it is written anyway,
        as it would have been had the cancellation come during a write of its own."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await asyncio.shield(future)

    async def _write_all(self) -> None:
        group: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while self._waiting:
                await self._burst_arrived()
                group, self._waiting = self._waiting[: self._most], self._waiting[self._most :]
                try:
                    results = await self._write([item for item, _ in group])
                except Exception as failure:
                    _settle(group, failure)
                    continue
                for (_, future), result in zip(group, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        except asyncio.CancelledError:
            # The process is stopping: nobody is left waiting for a write that never comes.
            stopped, self._waiting = [*group, *self._waiting], []
            _settle(stopped, RuntimeError("stopped before the write was made"))
            raise

    async def _burst_arrived(self) -> None:
        """Wait while each loop turn brings new items (up to a write's worth)."""
        arrived = 0
        while arrived != len(self._waiting) < self._most:
            arrived = len(self._waiting)
            await asyncio.sleep(0)


def _settle(group: list[tuple[Item, asyncio.Future[Result]]], failure: Exception) -> None:
    for _, future in group:
        if not future.done():
            future.set_exception(failure)
            future.exception()  # retrieved: a caller cancelled meanwhile is not warned about
