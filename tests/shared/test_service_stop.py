"""A service's stop names the step it waits on when a step takes long, so a stop that hangs
until the process is killed says where in its log."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from shared import service


async def test_a_slow_stop_step_says_which_it_is_while_it_waits(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "STOP_STEP_WARN_S", 0.05)
    caplog.set_level(logging.WARNING, logger="shared.service")
    async with contextlib.AsyncExitStack() as cleanup:
        service._on_stop(cleanup, "relay producer", lambda: asyncio.sleep(0))
        service._on_stop(cleanup, "outbox drain", lambda: asyncio.sleep(0.13))
    waits = [
        (record.step, record.waited_s)  # type: ignore[attr-defined]
        for record in caplog.records
        if record.message == "service stopping: still waiting"
    ]
    assert waits == [("outbox drain", 0.05), ("outbox drain", 0.1)]


async def test_a_stop_step_that_fails_still_fails_the_stop() -> None:
    async def broken() -> None:
        raise RuntimeError("pool already closed")

    with pytest.raises(RuntimeError, match="pool already closed"):
        async with contextlib.AsyncExitStack() as cleanup:
            service._on_stop(cleanup, "database pool", broken)


async def test_a_stop_cancelled_midway_cancels_the_step_it_was_waiting_on() -> None:
    """As when the step ran inline: it does not run on beside the steps after it."""
    step_cancelled = asyncio.Event()

    async def slow_drain() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            step_cancelled.set()
            raise

    async def stop() -> None:
        async with contextlib.AsyncExitStack() as cleanup:
            service._on_stop(cleanup, "outbox drain", slow_drain)

    stopping = asyncio.create_task(stop())
    await asyncio.sleep(0.05)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert step_cancelled.is_set()
