"""Event handlers of the agents service."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from services.agents.brain import shared_brain
from services.agents.stores import tasks
from services.agents.workers import idempotency_key
from shared.clock import clock
from shared.consumer import Subscription
from shared.contracts import (
    CampaignEventPayload,
    MessageEventPayload,
    MessageFailed,
    ReplyReceived,
    StepDue,
    UserEventPayload,
)
from shared.db import Connection
from shared.events import Envelope, new_event
from shared.outbox import enqueue
from shared.settings import get_settings


async def remember_user(connection: Connection, event: Envelope) -> None:
    """Keep the user directory in step with auth's `user.*` events.

    Each event type has its own topic, so a deactivation may overtake the creation: the
    newest event (by `occurred_at`) wins, whatever order they arrive in.
    """
    user = event.read(UserEventPayload)
    await connection.execute(
        "INSERT INTO user_directory (user_id, email, role, is_active, event_at) "
        "VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, role = EXCLUDED.role, "
        "is_active = EXCLUDED.is_active, event_at = EXCLUDED.event_at, updated_at = now() "
        "WHERE user_directory.event_at < EXCLUDED.event_at",
        user.user_id,
        user.email,
        user.role,
        user.is_active,
        event.occurred_at,
    )


async def create_task(connection: Connection, event: Envelope) -> None:
    """One task per due step (and attempt), however often the event arrives; none for a
    campaign that has already ended (its end may overtake the step on another topic).

    A step asked for again (the campaigns service re-drives a step whose result it never
    heard) gets its task's result told again, or its message requested again under the same
    idempotency key (the notifier then tells the message's result again)."""
    due = event.read(StepDue)
    await _open_task(
        connection,
        tasks.NewTask(due.campaign_id, due.step_run_id, due.attempt, due.customer.id, due.channel),
        event.payload,  # kept whole: the agent composes from it
    )


async def _open_task(connection: Connection, new: tasks.NewTask, step: dict[str, Any]) -> None:
    task = await tasks.insert(connection, new, step)
    if task is not None:
        await tasks.publish(connection, "task.created", task)
        return
    known = await tasks.for_step(connection, new.step_run_id, new.attempt)
    if known is not None:
        await _tell_again(connection, known)


async def _tell_again(connection: Connection, task: asyncpg.Record) -> None:
    if task["status"] == "completed":
        promised = task["promised_date"]
        await tasks.publish(
            connection,
            "task.completed",
            task,
            outcome=task["outcome"],
            promisedDate=promised.isoformat() if promised else None,
        )
    elif task["status"] == "failed":
        await tasks.publish(
            connection,
            "task.failed",
            task,
            reason=task["last_error"],
            retryable=task["retryable"] is not False,
            outcomeUnknown=task["outcome"] == "unknown",
        )
    elif task["status"] == "in_progress" and task["message_request"] is not None:
        # Requested, result never heard: the same request again, same key (the notifier sends
        # it once, and tells its result again if it has one).
        await enqueue(
            connection,
            new_event("message.requested", "agents", task["message_request"]),
            str(task["campaign_id"]),
        )


async def message_done(connection: Connection, event: Envelope) -> None:
    """Sent (or delivered): the step's work is done."""
    task_id = event.read(MessageEventPayload).task_id
    if task_id is None:
        return  # the notifier's own email (a password reset)
    outcome = "delivered" if event.type == "message.delivered" else "sent"
    task = await tasks.complete_open(connection, task_id, outcome)
    if task is not None:
        await tasks.publish(connection, "task.completed", task, outcome=outcome)


async def message_failed(connection: Connection, event: Envelope) -> None:
    """Retry the send while tries remain and the failure is retryable; then fail the task.

    A message whose outcome is unknown (it may have gone out) is never retried, here or by
    the step: the task fails with outcome `unknown` and the step is left for a person."""
    failure = event.read(MessageFailed)
    task = await tasks.get(connection, failure.task_id, lock=True) if failure.task_id else None
    if task is None or task["status"] not in tasks.OPEN:
        return
    if failure.idempotency_key != idempotency_key(task):
        return  # the result of an earlier send try, told again: already counted
    reason = failure.reason
    unknown = failure.outcome_unknown
    retryable = failure.retryable and not unknown
    tries = task["attempts"] + 1
    if retryable and tries < get_settings().task_max_send_attempts:
        await tasks.set_status(
            connection,
            task["id"],
            "pending",
            assigned_agent_id=None,
            attempts=tries,
            last_error=reason,
            message_requested_at=None,
        )
        return
    await tasks.set_status(
        connection,
        task["id"],
        "failed",
        attempts=tries,
        last_error=reason,
        retryable=retryable,
        outcome="unknown" if unknown else None,
    )
    await tasks.publish(
        connection,
        "task.failed",
        task,
        reason=reason,
        retryable=retryable,
        outcomeUnknown=unknown,
    )


async def campaign_ended(connection: Connection, event: Envelope) -> None:
    """A campaign that completed or was cancelled leaves no work behind."""
    await connection.execute(
        "WITH ended AS (INSERT INTO ended_campaigns (campaign_id, status) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING) "
        "UPDATE tasks SET status = 'cancelled', updated_at = now() "
        "WHERE campaign_id = $1 AND status IN ('pending', 'assigned', 'in_progress')",
        event.read(CampaignEventPayload).campaign_id,
        event.type.removeprefix("campaign."),
    )


async def understand_reply(connection: Connection, event: Envelope) -> None:
    """Classify the reply for the campaigns service; questions, disputes and doubts go to a
    person (a dispute pauses the campaign until someone looks into it)."""
    reply = event.read(ReplyReceived)
    understood = await shared_brain().understand(reply.text, clock.now().date())
    customer_id, campaign_id = str(reply.customer_id), reply.campaign_id
    classified = {
        "customerId": customer_id,
        "campaignId": str(campaign_id) if campaign_id else None,
        "channel": reply.channel,
        "text": reply.text,
        "intent": understood.intent,
        "confidence": understood.confidence,
        "promisedDate": understood.promised_date.isoformat() if understood.promised_date else None,
    }
    await enqueue(connection, new_event("reply.classified", "agents", classified), customer_id)
    needs_person = understood.intent in ("question", "dispute") or (
        understood.confidence < get_settings().reply_min_confidence
    )
    if needs_person and campaign_id:
        run = uuid.uuid5(uuid.NAMESPACE_URL, f"reply:{event.event_id}")
        step = {
            "campaignId": str(campaign_id),
            "stepRunId": str(run),
            "attempt": 1,
            "channel": "human",
            "reply": classified,
            "customer": {"id": customer_id},
        }
        await _open_task(
            connection, tasks.NewTask(campaign_id, run, 1, reply.customer_id, "human"), step
        )


SUBSCRIPTIONS = (
    Subscription("user.created", "remember-user", remember_user),
    Subscription("user.updated", "remember-user", remember_user),
    Subscription("user.deactivated", "remember-user", remember_user),
    Subscription("campaign.step_due", "create-task", create_task),
    Subscription("message.sent", "message-done", message_done),
    Subscription("message.delivered", "message-done", message_done),
    Subscription("message.failed", "message-failed", message_failed),
    Subscription("campaign.completed", "campaign-ended", campaign_ended),
    Subscription("campaign.cancelled", "campaign-ended", campaign_ended),
    Subscription("campaign.failed", "campaign-ended", campaign_ended),
    Subscription("reply.received", "understand-reply", understand_reply),
)
