"""The send loop: queued messages pass the guards, then go out once each.

A message is marked `sending` (committed) before the provider is called, so a crash can never
make it go out twice: a message left `sending` is reported failed ("outcome unknown"), not
resent. Each is marked just before its own provider call, not with its batch, so a crash leaves
at most the one message in flight `sending`; the rest of the batch is still `queued`.
Deferred messages wait for their `send_after`.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from opentelemetry import trace

from services.notifier.domain.guards import Facts, Policy, check
from services.notifier.providers import Providers, SendError
from services.notifier.stores import messages
from shared.clock import clock
from shared.db import DATABASE_ERRORS, Connection
from shared.ratelimit import RateLimiter
from shared.settings import Settings
from shared.tracing import continued

logger = logging.getLogger(__name__)


def policy(settings: Settings) -> Policy:
    return Policy(
        opens=settings.contact_window_start,
        closes=settings.contact_window_end,
        max_calls_per_week=settings.max_calls_per_debt_per_week,
        weekdays=settings.contact_weekdays,
        holidays=settings.contact_holiday_dates,
    )


async def _prepare(
    connection: Connection, settings: Settings
) -> list[tuple[asyncpg.Record, str | None]]:
    """Run the guards over ready messages; returns those cleared to send, each with its
    normalised recipient (still `queued`: `_claim` marks each one as it goes out)."""
    cleared = []
    now = clock.now()
    for message in await messages.take_ready(connection, 20, now):
        with continued(
            "message.guard", message["request_id"], message["traceparent"], trace.SpanKind.INTERNAL
        ):
            recipient = message["recipient"]
            consent, calls, conversation = await messages.voice_facts(
                connection, recipient, message["payment_id"], now
            )
            verdict = check(
                Facts(
                    channel=message["channel"],
                    recipient=recipient,
                    timezone=message["timezone"],
                    now=now,
                    suppression=await messages.suppression_reason(
                        connection, message["channel"], recipient
                    ),
                    voice_consent=consent,
                    calls_last_7_days=calls,
                    last_conversation_at=conversation,
                ),
                policy(settings),
            )
            if verdict.action == "send":
                cleared.append((message, verdict.recipient))
            elif verdict.action == "defer":
                await messages.set_state(
                    connection,
                    message["id"],
                    "deferred",
                    reason=verdict.reason,
                    send_after=verdict.send_after,
                )
            else:
                status = "suppressed" if verdict.action == "suppress" else "failed"
                await messages.set_state(connection, message["id"], status, reason=verdict.reason)
                await messages.publish(
                    connection,
                    "message.failed",
                    message,
                    status=status,
                    reason=verdict.reason,
                    retryable=False,
                )
    return cleared


async def _rate(limiter: RateLimiter, settings: Settings, channel: str) -> None:
    rate = {"sms": settings.sms_rate_per_second, "voice": settings.voice_rate_per_second}.get(
        channel, settings.email_rate_per_second
    )
    sender = (
        settings.smtp_from if channel == "email" else (settings.twilio_from_number or "simulator")
    )
    while True:
        verdict = await limiter.hit(rate, f"send-{channel}", sender)
        if verdict is None or verdict.allowed:
            return
        await asyncio.sleep(0.05)


async def send_ready(
    pool: asyncpg.Pool, settings: Settings, providers: Providers, limiter: RateLimiter
) -> int:
    async with pool.acquire() as connection, connection.transaction():
        cleared = await _prepare(connection, settings)
    for message, recipient in cleared:
        with continued(
            "message.send", message["request_id"], message["traceparent"], trace.SpanKind.CLIENT
        ):
            await _rate(limiter, settings, message["channel"])
            fresh = await messages.claim_for_sending(pool, message["id"], recipient)
            if fresh is None:
                continue
            try:
                sent = await providers.send(
                    fresh["channel"], fresh["recipient"], fresh["subject"], fresh["body"]
                )
            except Exception as failure:
                # Anything else (a network error on the way to Twilio, say) fails this message
                # alone; the rest of the batch still goes out.
                error = (
                    failure
                    if isinstance(failure, SendError)
                    else SendError(f"provider error: {failure!r}", retryable=True)
                )
                async with pool.acquire() as connection, connection.transaction():
                    status = "bounced" if error.bounced else "failed"
                    await messages.set_state(connection, fresh["id"], status, reason=error.reason)
                    if error.bounced:
                        await messages.suppress(
                            connection, "email", fresh["recipient"], "bounce", error.reason
                        )
                    await messages.publish(
                        connection,
                        "message.failed",
                        fresh,
                        status=status,
                        reason=error.reason,
                        retryable=error.retryable,
                    )
                logger.warning(
                    "send failed", extra={"message_id": str(fresh["id"]), "reason": error.reason}
                )
                continue
            async with pool.acquire() as connection, connection.transaction():
                await messages.mark_sent(connection, fresh["id"], sent.provider_id, sent.simulated)
                await messages.publish(
                    connection,
                    "message.sent",
                    fresh,
                    providerId=sent.provider_id,
                    simulated=sent.simulated,
                )
    return len(cleared)


async def settle_interrupted(pool: asyncpg.Pool) -> None:
    """Messages left `sending` by a crash: report, never resend (a duplicate is worse)."""
    async with pool.acquire() as connection, connection.transaction():
        rows = await connection.fetch(
            f"SELECT {messages.COLUMNS} FROM messages t WHERE t.status = 'sending' "
            "AND t.updated_at < now() - interval '10 minutes' FOR UPDATE SKIP LOCKED"
        )
        for row in rows:
            reason = "outcome unknown after an interruption; not resent to avoid a duplicate"
            await messages.set_state(connection, row["id"], "failed", reason=reason)
            await messages.publish(
                connection, "message.failed", row, status="failed", reason=reason, retryable=False
            )


async def run_forever(pool: asyncpg.Pool, settings: Settings, limiter: RateLimiter) -> None:
    providers = Providers(settings)
    try:
        while True:
            try:
                await settle_interrupted(pool)
                sent = await send_ready(pool, settings, providers, limiter)
            except DATABASE_ERRORS as error:
                logger.warning("send loop failed; will retry", extra={"error": repr(error)})
                sent = 0
            if not sent:
                await asyncio.sleep(0.2)
    finally:
        await providers.close()
