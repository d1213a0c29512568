"""Notifier: messages sent per second per channel through the whole send path (guards, rate
limit, provider, status and event) with the simulator for SMS and voice and the embedded SMTP
sink for email. Baselines: for email the SMTP send alone; for the simulator, which costs
nothing, one bare write transaction per message (the least a recorded send can cost)."""

from __future__ import annotations

import time
import uuid
from datetime import time as time_of_day
from typing import Literal

from redis.asyncio import Redis

from services.notifier.domain.outgoing import Outgoing
from services.notifier.providers import Providers
from services.notifier.sender import send_ready
from services.notifier.settings import NotifierSettings
from services.notifier.stores import messages
from shared.db import connect, create_pool
from shared.migrations import migrate, service_migrations
from shared.ratelimit import RateLimiter
from tests.bench.report import Row
from tests.scheduler_seed import drop_schema

PER_CHANNEL: dict[Literal["sms", "voice", "email"], int] = {
    "sms": 1_000,
    "voice": 1_000,
    "email": 300,
}
NUMBER = "+80012345678"  # no zone of its own: the UTC customer's hours alone apply


async def measure(settings: NotifierSettings) -> list[Row]:
    # Measure the path, not the safeguards: open hours all day, rates far above the load.
    fast = settings.model_copy(
        update={
            "twilio_account_sid": None,
            "sms_rate_per_second": 1_000_000,
            "voice_rate_per_second": 1_000_000,
            "email_rate_per_second": 1_000_000,
            "contact_window_start": settings.contact_window_start.replace(hour=0, minute=0),
            # The day's last instant: a run in its last minute found every message deferred.
            "contact_window_end": time_of_day.max,
            "max_calls_per_debt_per_week": 1_000_000,
            "contact_days": "mon,tue,wed,thu,fri,sat,sun",
            "contact_holidays": "",
        }
    )
    schema = f"bench_notifier_{uuid.uuid4().hex[:8]}"
    connection = await connect(settings.database_url, schema)
    await migrate(connection, schema, service_migrations("services.notifier"))
    await connection.execute("INSERT INTO voice_consents (recipient) VALUES ($1)", NUMBER)
    await connection.close()
    pool = await create_pool(settings, schema, max_size=4)
    providers = Providers(fast)
    redis = Redis.from_url(settings.redis_url)
    limiter = RateLimiter(redis, 1)
    rows: list[Row] = []
    try:
        for channel, count in PER_CHANNEL.items():
            to = "bench@example.com" if channel == "email" else NUMBER
            started = time.perf_counter()
            if channel == "email":  # the SMTP round trip is the floor
                for _ in range(count):
                    await providers.send(channel, to, "Invoice", "Please pay", uuid.uuid4().hex)
            else:  # the simulator is free: the floor is one small write transaction per send
                for _ in range(count):
                    async with pool.acquire() as tx, tx.transaction():
                        await tx.execute(
                            "UPDATE voice_consents SET source = 'x' WHERE recipient = $1", NUMBER
                        )
            bare = count / (time.perf_counter() - started)
            async with pool.acquire() as tx, tx.transaction():
                for _ in range(count):
                    await messages.queue(tx, Outgoing(
                        idempotency_key=uuid.uuid4().hex, channel=channel, to=to,
                        subject="Invoice", body="Please pay",
                    ))  # fmt: skip
            started = time.perf_counter()
            while await send_ready(pool, fast, providers, limiter):
                pass
            rate = count / (time.perf_counter() - started)
            sent = await pool.fetchval(
                "SELECT count(*) FROM messages WHERE channel = $1 AND status = 'sent'", channel
            )
            assert sent == count, f"{channel}: {sent} of {count} sent"
            where = "embedded SMTP sink" if channel == "email" else "simulator"
            floor = "SMTP send alone" if channel == "email" else "1 write transaction per send"
            rows.append(Row.of(f"{channel}: {floor} (baseline)", bare, "msgs/s", None, where))
            rows.append(
                Row.of(f"{channel}: queued → guards → sent + event", rate, "msgs/s", bare, where)
            )
    finally:
        await redis.aclose()
        await providers.close()
        await pool.close()
        await drop_schema(settings, schema)
    return rows
