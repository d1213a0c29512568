"""Waking a loop when another transaction commits work for it: Postgres `NOTIFY`, delivered at
commit, on a channel the loop listens to; the loop's own poll covers notifications missed
while the listening connection was down."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from shared.db import DATABASE_UNAVAILABLE, Connection


class Wakeup:
    """A `LISTEN` on `channel` (one pooled connection, reconnected after outages) that cuts a
    loop's wait short, while the loop runs inside `async with`."""

    def __init__(self, pool: asyncpg.Pool, channel: str, reconnect_s: float) -> None:
        self.pool = pool
        self.channel = channel
        self.reconnect_s = reconnect_s
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
        try:
            await asyncio.wait_for(self._event.wait(), within_s)
        except TimeoutError:
            return False
        finally:
            self._event.clear()
        return True

    async def _listen(self) -> None:
        while True:
            with contextlib.suppress(*DATABASE_UNAVAILABLE):
                async with self.pool.acquire() as connection:
                    await self._listen_on(connection)
            await asyncio.sleep(self.reconnect_s)

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
