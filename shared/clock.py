"""The platform's clock: wall time, plus an offset an admin may move forward.

With CLOCK_CONTROL on (test and demo stacks only, like Stripe's test clocks) the offset lives
in Redis and every service re-reads it every CLOCK_POLL_S, so a campaign's day-long delays,
a promise to pay on Friday or the customer's next morning can be reached in seconds. It only
moves forward: schedules already written must never find themselves in the future again.
With CLOCK_CONTROL off the offset is never read and the clock is the wall clock.

Scheduling decisions (due steps, deferred messages, paused-until dates) read this clock.
Liveness (heartbeats, stuck tasks, leases, token expiry) keeps to physical time.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

OFFSET_KEY = "remit:clock:offset_seconds"
CLOCK_POLL_S = 0.1


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def today_in(self, timezone: str | None) -> date:
        """Today where a person in `timezone` lives (UTC's today without one, or for a zone
        this host does not know): "Friday" said on their Thursday evening is the next day,
        whatever the date in UTC."""
        now = self.now()
        try:
            return now.astimezone(ZoneInfo(timezone)).date() if timezone else now.date()
        except (ZoneInfoNotFoundError, ValueError):
            return now.date()

    def set_offset(self, seconds: float) -> None:
        # Never backwards, even if Redis lost the key: written schedules stay in the past.
        self.offset = max(self.offset, timedelta(seconds=seconds))

    async def follow(self, redis: Redis) -> None:
        """Keep this process's offset in step with the platform's."""
        while True:
            try:
                stored = await redis.get(OFFSET_KEY)
            except RedisError as error:
                logger.warning(
                    "clock offset unreadable; keeping the last", extra={"error": repr(error)}
                )
            else:
                if stored is not None:
                    self.set_offset(float(stored))
            await asyncio.sleep(CLOCK_POLL_S)

    async def advance(self, redis: Redis, by: timedelta) -> datetime:
        self.set_offset(await redis.incrbyfloat(OFFSET_KEY, by.total_seconds()))
        return self.now()


clock = Clock()
