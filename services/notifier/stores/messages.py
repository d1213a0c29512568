"""The `notifier.messages` store and the facts the guards need."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from services.notifier.domain.outgoing import Outgoing
from shared.clock import clock
from shared.context import request_id_var
from shared.db import Connection, Executor, update_by_id
from shared.paging import Page, keyset_page
from shared.tracing import current_traceparent

COLUMNS = (
    "t.id, t.idempotency_key, t.task_id, t.campaign_id, t.customer_id, t.payment_id, t.channel, "
    "t.recipient, t.timezone, t.subject, t.body, t.status, t.reason, t.provider_id, t.simulated, "
    "t.attempts, t.send_after, t.sent_at, t.delivered_at, t.created_at, t.updated_at, "
    "t.request_id, t.traceparent, t.retryable, t.kind, t.html, t.refused"
)


@dataclass(frozen=True)
class Queued:
    """A message to queue, in the request and trace current when made."""

    outgoing: Outgoing
    request_id: str | None = field(default_factory=request_id_var.get)
    traceparent: str | None = field(default_factory=current_traceparent)


async def queue(connection: Connection, outgoing: Outgoing) -> bool:
    """Record a send request; False when its idempotency key was seen before."""
    return (await queue_many(connection, [Queued(outgoing)]))[0]


async def queue_many(connection: Connection, queued: list[Queued]) -> list[bool]:
    """Record send requests in one statement; for each, False when its idempotency key was
    seen before (earlier, or by an earlier one of these)."""
    sent = [item.outgoing for item in queued]
    ids = [uuid.uuid4() for _ in queued]
    rows = await connection.fetch(
        "INSERT INTO messages (id, idempotency_key, task_id, campaign_id, customer_id, payment_id, "
        "channel, recipient, timezone, subject, body, request_id, traceparent, kind, html) "
        "SELECT q.id, q.idempotency_key, q.task_id, q.campaign_id, q.customer_id, q.payment_id, "
        "q.channel, q.recipient, q.timezone, q.subject, q.body, q.request_id, q.traceparent, "
        "q.kind, q.html FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::uuid[], "
        "$6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], "
        "$13::text[], $14::text[], $15::text[]) WITH ORDINALITY AS q(id, idempotency_key, "
        "task_id, campaign_id, customer_id, payment_id, channel, recipient, timezone, subject, "
        "body, request_id, traceparent, kind, html, ord) ORDER BY q.ord "
        "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        ids,
        [outgoing.idempotency_key for outgoing in sent],
        [outgoing.task_id for outgoing in sent],
        [outgoing.campaign_id for outgoing in sent],
        [outgoing.customer_id for outgoing in sent],
        [outgoing.payment_id for outgoing in sent],
        [outgoing.channel for outgoing in sent],
        [recipient_key(outgoing.to) for outgoing in sent],
        [outgoing.timezone or "UTC" for outgoing in sent],
        [outgoing.subject for outgoing in sent],
        [outgoing.body for outgoing in sent],
        [item.request_id for item in queued],
        [item.traceparent for item in queued],
        [outgoing.kind for outgoing in sent],
        [outgoing.html for outgoing in sent],
    )
    inserted = {row["id"] for row in rows}
    return [message_id in inserted for message_id in ids]


async def by_key(executor: Executor, idempotency_key: str) -> asyncpg.Record | None:
    record: asyncpg.Record | None = await executor.fetchrow(
        f"SELECT {COLUMNS} FROM messages t WHERE t.idempotency_key = $1", idempotency_key
    )
    return record


def recipient_key(recipient: str) -> str:
    """Email addresses compare case-insensitively; phones are normalised by the guards."""
    return recipient.strip().lower() if "@" in recipient else recipient.strip()


async def take_ready(
    connection: Connection, limit: int, now: datetime, channels: Sequence[str]
) -> list[asyncpg.Record]:
    return list(
        await connection.fetch(
            f"SELECT {COLUMNS} FROM messages t WHERE t.status IN ('queued', 'deferred') "
            "AND t.channel = ANY($3::text[]) AND t.send_after <= $2 "
            "ORDER BY t.send_after LIMIT $1 FOR UPDATE SKIP LOCKED",
            limit,
            now,
            list(channels),
        )
    )


async def claim_for_sending(
    pool: asyncpg.Pool, cleared: list[tuple[uuid.UUID, str | None]]
) -> list[asyncpg.Record | None]:
    """Mark cleared messages `sending` (each with its normalised recipient, if any), committed,
    right before their provider calls; None for one no longer waiting (another replica claimed
    it meanwhile)."""
    rows = await pool.fetch(
        "UPDATE messages t SET status = 'sending', attempts = t.attempts + 1, "
        "recipient = coalesce(c.recipient, t.recipient), updated_at = now() "
        "FROM unnest($1::uuid[], $2::text[]) AS c(id, recipient) "
        f"WHERE t.id = c.id AND t.status IN ('queued', 'deferred') RETURNING {COLUMNS}",
        [message_id for message_id, _ in cleared],
        [recipient for _, recipient in cleared],
    )
    claimed = {row["id"]: row for row in rows}
    return [claimed.get(message_id) for message_id, _ in cleared]


async def suppressions_of(executor: Executor, recipients: list[str]) -> dict[tuple[str, str], str]:
    """The suppression list's entries for these recipients, by (channel, recipient): the
    oldest reason of each."""
    rows = await executor.fetch(
        "SELECT channel, recipient, reason FROM suppressions WHERE recipient = ANY($1::text[]) "
        "ORDER BY created_at DESC",
        recipients,
    )
    return {(row["channel"], row["recipient"]): row["reason"] for row in rows}


def suppression_from(
    entries: dict[tuple[str, str], str], channel: str, recipient: str
) -> str | None:
    """The reason `recipient` may not be reached on `channel` (its own entry or `all`)."""
    return entries.get((channel, recipient)) or entries.get(("all", recipient))


async def voice_facts(
    executor: Executor, recipient: str, payment_id: uuid.UUID | None, now: datetime
) -> tuple[bool, int, datetime | None]:
    consent = bool(
        await executor.fetchval("SELECT 1 FROM voice_consents WHERE recipient = $1", recipient)
    )
    calls = int(
        await executor.fetchval(
            "SELECT count(*) FROM messages WHERE payment_id = $1 AND channel = 'voice' "
            "AND sent_at > $2::timestamptz - interval '7 days'",
            payment_id,
            now,
        )
    )
    last: datetime | None = await executor.fetchval(
        "SELECT max(held_at) FROM conversations WHERE payment_id = $1", payment_id
    )
    return consent, calls, last


async def set_state(
    connection: Connection, message_id: uuid.UUID, status: str, **fields: Any
) -> None:
    await update_by_id(connection, "messages", message_id, {"status": status, **fields})


async def mark_sent(connection: Connection, sent: list[tuple[uuid.UUID, str | None, bool]]) -> None:
    """Providers took these messages, `(id, provider_id, simulated)`, sent by the platform
    clock. Account email's text holds a single-use link (a password reset): not kept."""
    await connection.execute(
        "UPDATE messages t SET status = 'sent', provider_id = s.provider_id, "
        "simulated = s.simulated, sent_at = $4, updated_at = now(), "
        "body = CASE WHEN t.kind = 'account' AND t.channel = 'email' "
        "THEN '(account email: text not kept)' ELSE t.body END, "
        "html = CASE WHEN t.kind = 'account' THEN NULL ELSE t.html END "
        "FROM unnest($1::uuid[], $2::text[], $3::bool[]) AS s(id, provider_id, simulated) "
        "WHERE t.id = s.id",
        [message_id for message_id, _, _ in sent],
        [provider_id for _, provider_id, _ in sent],
        [simulated for _, _, simulated in sent],
        clock.now(),
    )


async def page(
    executor: Executor,
    campaign_id: uuid.UUID | None,
    status: str | None,
    channel: str | None,
    limit: int,
    cursor: str | None,
) -> Page:
    """A page of collection messages; `status` `refused` lists the refused ones, whatever
    their status (`suppressed` or `failed`)."""
    return await keyset_page(
        executor,
        COLUMNS,
        "messages t",
        "t.kind = 'collection' AND ($1::uuid IS NULL OR t.campaign_id = $1) "
        "AND ($2::text IS NULL OR t.status = $2 OR ($2 = 'refused' AND t.refused)) "
        "AND ($3::text IS NULL OR t.channel = $3)",
        [campaign_id, status, channel],
        limit,
        cursor,
    )


async def counts(executor: Executor, since: datetime, until: datetime) -> list[asyncpg.Record]:
    """How many collection messages were sent in `[since, until)`, or, for those not sent,
    reached their status then; per channel and status, and how many of them were refused."""
    return await executor.fetch(
        "SELECT channel, status, count(*) AS messages, count(*) FILTER (WHERE refused) AS refused "
        "FROM messages WHERE kind = 'collection' "
        "AND coalesce(sent_at, updated_at) >= $1 AND coalesce(sent_at, updated_at) < $2 "
        "GROUP BY channel, status",
        since,
        until,
    )


async def get(executor: Executor, message_id: uuid.UUID) -> asyncpg.Record | None:
    """A collection message; account email (reset links) is never shown through the API."""
    record: asyncpg.Record | None = await executor.fetchrow(
        f"SELECT {COLUMNS} FROM messages t WHERE t.id = $1 AND t.kind = 'collection'",
        message_id,
    )
    return record


async def by_provider_id(
    executor: Executor, provider_id: str | None, *, lock: bool = False
) -> asyncpg.Record | None:
    """The message the provider knows as `provider_id` (a Twilio SID), locked if asked."""
    record: asyncpg.Record | None = await executor.fetchrow(
        f"SELECT {COLUMNS} FROM messages t WHERE t.provider_id = $1"
        + (" FOR UPDATE" if lock else ""),
        provider_id,
    )
    return record


async def last_to(executor: Executor, recipient: str) -> asyncpg.Record | None:
    """The customer, campaign and time zone of the newest collection message to `recipient`."""
    record: asyncpg.Record | None = await executor.fetchrow(
        "SELECT customer_id, campaign_id, timezone FROM messages "
        "WHERE recipient = $1 AND customer_id IS NOT NULL ORDER BY created_at DESC LIMIT 1",
        recipient,
    )
    return record


async def lock_stuck_sending(connection: Connection, older_than_s: float) -> list[asyncpg.Record]:
    """Messages `sending` for longer than `older_than_s`, locked (others' skipped)."""
    rows: list[asyncpg.Record] = await connection.fetch(
        f"SELECT {COLUMNS} FROM messages t WHERE t.status = 'sending' "
        "AND t.updated_at < now() - make_interval(secs => $1) FOR UPDATE SKIP LOCKED",
        older_than_s,
    )
    return rows


async def suppress(
    executor: Executor, channel: str, recipient: str, reason: str, note: str | None = None
) -> None:
    await executor.execute(
        "INSERT INTO suppressions (id, channel, recipient, reason, note) "
        "VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (channel, recipient) DO NOTHING",
        uuid.uuid4(),
        channel,
        recipient_key(recipient),
        reason,
        note,
    )
