"""Waking a loop when another transaction commits work for it: Postgres `NOTIFY`, delivered at
commit, on a channel the loop listens to; the loop's own poll covers notifications missed
while the listening connection was down."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from shared.db import DATABASE_UNAVAILABLE, Connection

logger = logging.getLogger(__name__)

# The pause before listening again after the connection was lost or could not be had.
RECONNECT_S = 1.0


class Wakeup:
    """A `LISTEN` on `channel` (one pooled connection, reconnected after outages) that cuts a
    loop's wait short, while the loop runs inside `async with`."""

    def __init__(self, pool: asyncpg.Pool, channel: str) -> None:
        self.pool = pool
        self.channel = channel
        self._event = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Wakeup:
        self._listener = asyncio.create_task(self._listen())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    def set(self) -> None:
        self._event.set()

    async def wait(self, within_s: float) -> bool:
        """Wait for a notification (or `set`) for at most `within_s`; True when one came."""
        # Not `wait_for`: on Python 3.11 it swallows a cancellation that meets the event being
        # set, and the service's stop, cancelling its relay as commits notify it, never ended.
        try:
            async with asyncio.timeout(within_s):
                await self._event.wait()
        except TimeoutError:
            return False
        finally:
            self._event.clear()
        return True

    async def _listen(self) -> None:
        """Listen until cancelled; the loop's own poll stands in while it cannot."""
        while True:
            try:
                async with self.pool.acquire() as connection:
                    await self._listen_on(connection)
            except DATABASE_UNAVAILABLE:
                pass  # the database is down: its outage is logged where it matters
            except Exception as error:  # a pool exhausted, a refused LISTEN: keep trying
                logger.warning(
                    "listening for notifications failed; will retry",
                    extra={"channel": self.channel, "error": repr(error)},
                )
            await asyncio.sleep(RECONNECT_S)

    async def _listen_on(self, connection: Connection) -> None:
        closed = asyncio.Event()
        connection.add_termination_listener(lambda _: closed.set())
        await connection.add_listener(self.channel, self._on_notify)
        try:
            await closed.wait()
        finally:
            with contextlib.suppress(*DATABASE_UNAVAILABLE):
                await connection.remove_listener(self.channel, self._on_notify)

    def _on_notify(self, *_: object) -> None:
        self.set()
