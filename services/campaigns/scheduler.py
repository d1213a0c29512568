"""The scheduler: due step runs are claimed with FOR UPDATE SKIP LOCKED and their
`campaign.step_due` events written to the outbox in the same transaction, so any number of
replicas can run it, and a crash between claim and publish leaves the run pending (the claim
rolls back) while a committed claim is published by the relay: each run is emitted once."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from opentelemetry import trace

from services.campaigns import events, operations
from services.campaigns.domain.conditions import skip_reason
from services.campaigns.domain.contact_window import ContactWindow
from services.campaigns.domain.pay_links import token_of
from services.campaigns.events import Row
from services.campaigns.settings import CampaignsSettings
from services.campaigns.stores import campaigns, pay_links, plans, schedule
from shared.clock import clock
from shared.db import DATABASE_ERRORS, Connection
from shared.events import Envelope
from shared.tracing import continued

logger = logging.getLogger(__name__)


async def claim_due_steps(
    connection: Connection, batch_size: int, window: ContactWindow, links: PayLinks, now: datetime
) -> int:
    """Claim up to `batch_size` due runs and emit them (`_emit`); the caller holds the
    transaction. The campaign row is share-locked, skipping campaigns being paused or ended
    right now (they are claimed next pass, or not at all): waiting for them could deadlock
    with that change."""
    rows = await schedule.claim_due(connection, batch_size, now)
    await _emit(connection, rows, window, links, now)
    return len(rows)


async def emit_started(
    connection: Connection,
    campaign_ids: list[uuid.UUID],
    window: ContactWindow,
    links: PayLinks,
    now: datetime,
) -> None:
    """The pending runs due now of campaigns just started (those with a step its conditions
    skip), emitted or skipped (`_emit`) in the transaction that starts them, which holds their
    rows locked: a first step due at once goes without waiting for the scheduler's next pass,
    a round trip that buys it nothing."""
    await _emit(
        connection, await schedule.claim_started(connection, campaign_ids, now), window, links, now
    )


async def _emit(
    connection: Connection,
    rows: list[asyncpg.Record],
    window: ContactWindow,
    links: PayLinks,
    now: datetime,
) -> None:
    """Emit claimed runs. A run whose conditions fail is skipped; one that falls outside the
    customer's contact window (within the hours they prefer) now (e.g. overdue after
    downtime, found at night) waits for the next opening."""
    reachable, later = _by_window(rows, window, now)
    send, skip = [], []
    for row in reachable:
        outstanding = row["amount"] - row["amount_paid"]
        reason = skip_reason(row["conditions"], outstanding, row["last_reply_at"])
        if reason:
            skip.append((row, reason))
        else:
            send.append(row)
    await publish_due(connection, send, links, now)
    if send:
        await schedule.mark_emitted(connection, [row["id"] for row in send])
    if later:
        await schedule.postpone(connection, later)
    for row, reason in skip:
        await campaigns.skip_run(connection, row["id"], reason)
        await operations.complete_if_done(connection, row["campaign_id"], clock.now())


async def publish_due(
    connection: Connection, runs: Sequence[Row], links: PayLinks, now: datetime
) -> None:
    """The `campaign.step_due` events of runs emitted now, each with the debtor's pay link."""
    made = await links.for_rows(connection, runs, now)
    await events.publish(connection, *(_step_due(row, made) for row in runs))


def _by_window(
    rows: list[asyncpg.Record], window: ContactWindow, now: datetime
) -> tuple[list[asyncpg.Record], list[tuple[uuid.UUID, datetime]]]:
    """The rows whose customer may be contacted now (within the hours they prefer), and the
    others' IDs each with the window's next opening."""
    reachable, later = [], []
    for row in rows:
        opening = operations.window_for(window, row).next_allowed(now, row["timezone"])
        if opening > now:
            later.append((row["id"], opening))
        else:
            reachable.append(row)
    return reachable, later


async def link_instalments(
    connection: Connection, batch_size: int, window: ContactWindow, links: PayLinks, now: datetime
) -> int:
    """The debtor is sent the pay link of each plan instalment whose day has come, once, when
    their contact window (within their hours) is open; the caller holds the transaction."""
    rows, later = _by_window(await plans.come_due(connection, batch_size, now), window, now)
    await plans.postpone_links(connection, later)
    made = await links.for_rows(connection, rows, now)
    await events.publish(
        connection, *(events.instalment_due(row, made[row["payment_id"]]) for row in rows)
    )
    await plans.mark_linked(connection, [row["id"] for row in rows])
    return len(rows)


async def miss_instalments(
    connection: Connection, batch_size: int, grace_days: int, window: ContactWindow, now: datetime
) -> int:
    """Plans with an instalment unpaid past its grace days end as missed; their campaigns
    resume. The caller holds the transaction."""
    rows = await plans.missed(connection, batch_size, grace_days, now)
    for row in rows:
        await operations.miss_instalment(connection, row, window, now)
    return len(rows)


async def redrive_stale(
    connection: Connection, older_than_s: int, batch_size: int, links: PayLinks
) -> int:
    """Emit again the runs emitted `older_than_s` ago whose result never came (an event lost
    on the way, a task that ended unheard): the agents tell the task's result again, or ask
    for its message again under the same idempotency key; a task still at work ignores it."""
    rows = await schedule.stale(connection, batch_size, older_than_s)
    if not rows:
        return 0
    made = await links.for_rows(connection, rows, clock.now())
    await events.publish(connection, *(_step_due(row, made) for row in rows))
    await schedule.touch(connection, [row["id"] for row in rows])
    logger.warning("steps emitted again: no result heard", extra={"count": len(rows)})
    return len(rows)


@dataclass(frozen=True)
class PayLinks:
    """How the debtor's links are made: the platform's public address and their lifetime."""

    public_url: str
    ttl: timedelta

    @classmethod
    def of(cls, settings: CampaignsSettings) -> PayLinks:
        return cls(settings.public_url, timedelta(seconds=settings.pay_link_ttl))

    async def for_rows(
        self, connection: Connection, rows: Sequence[Row], now: datetime
    ) -> dict[uuid.UUID, str]:
        """The debtor's link for each due step's payment record (made when it has no live
        one): `payment ID → address`."""
        if not rows:
            return {}
        made = await pay_links.live_for(
            connection, {row["payment_id"]: row["customer_id"] for row in rows}, now, self.ttl
        )
        key = await pay_links.signing_key(connection)
        return {
            payment_id: f"{self.public_url}/pay/{token_of(key, link_id)}"
            for payment_id, link_id in made.items()
        }


def _step_due(row: Row, links: dict[uuid.UUID, str]) -> Envelope:
    """The step's event continues the trace of the request that started its campaign."""
    with continued(
        "campaign.step_due publish",
        row["start_request_id"],
        row["start_traceparent"],
        trace.SpanKind.PRODUCER,
        {"messaging.system": "kafka", "messaging.destination.name": "campaign.step_due"},
    ):
        return events.step_due(row, links[row["payment_id"]])


async def tick(
    pool: asyncpg.Pool, window: ContactWindow, settings: CampaignsSettings, now: datetime
) -> int:
    """One pass: start campaigns whose time has come, wake promised ones, send the links of
    plan instalments falling due and resume the campaigns of missed plans, emit due steps,
    and ask again for the results of steps long unheard."""
    links = PayLinks.of(settings)
    async with pool.acquire() as connection:
        async with connection.transaction():
            await operations.activate_due(connection, now)
        async with connection.transaction():
            await operations.wake_due(connection, window, now)
        async with connection.transaction():
            await link_instalments(connection, settings.scheduler_batch_size, window, links, now)
        async with connection.transaction():
            await miss_instalments(
                connection, settings.scheduler_batch_size, settings.plan_grace_days, window, now
            )
        async with connection.transaction():
            await redrive_stale(
                connection, settings.step_redrive_after_s, settings.scheduler_batch_size, links
            )
        async with connection.transaction():
            return await claim_due_steps(
                connection, settings.scheduler_batch_size, window, links, now
            )


async def run_forever(pool: asyncpg.Pool, settings: CampaignsSettings) -> None:
    """A pass every SCHEDULER_INTERVAL_MS, and at once after a full one. (A step due when its
    campaign starts does not wait for a pass: the start emits it.)"""
    window = operations.contact_window(settings)
    interval = settings.scheduler_interval_ms / 1000
    while True:
        try:
            emitted = await tick(pool, window, settings, clock.now())
        except DATABASE_ERRORS as error:
            logger.warning("scheduler pass failed; will retry", extra={"error": repr(error)})
            emitted = 0
        if emitted < settings.scheduler_batch_size:
            await asyncio.sleep(interval)
