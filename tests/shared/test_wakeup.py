"""A loop waiting on a `Wakeup` stops when it is cancelled, even when a notification arrives
in the same instant: the service's stop cancels its relay while commits still notify it, and a
swallowed cancellation left the stop waiting until the process was killed."""

from __future__ import annotations

import asyncio

from shared.wakeup import Wakeup


async def test_a_cancel_that_meets_a_notification_still_stops_the_loop() -> None:
    wakeup = Wakeup(pool=None, channel="unused")  # type: ignore[arg-type]  # no LISTEN here
    waits = 0

    async def loop() -> None:
        nonlocal waits
        while True:
            waits += 1
            await wakeup.wait(30)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)  # the loop waits
    wakeup.set()  # a commit's notification, and in the same instant the stop
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert done, f"the loop went on waiting after its cancellation (turns: {waits})"
    assert task.cancelled()
