"""Event handlers of the agents service."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import asyncpg
from opentelemetry import trace

from services.agents import events
from services.agents.brain import shared_brain
from services.agents.domain.assignment import choose_agents
from services.agents.settings import agents_settings
from services.agents.stores import agents, tasks, user_directory
from services.agents.workers import idempotency_key, message_request
from shared.clock import clock
from shared.consumer import Handling, Subscription
from shared.contracts import (
    CampaignEventPayload,
    DebtorResponded,
    MessageEventPayload,
    MessageFailed,
    ReplyReceived,
    StepDue,
    UserEventPayload,
)
from shared.db import Connection
from shared.events import Envelope


async def remember_user(connection: Connection, event: Envelope) -> None:
    """Keep the user directory in step with auth's `user.*` events.

    Each event type has its own topic, so a deactivation may overtake the creation: the
    newest event (by `occurred_at`) wins, whatever order they arrive in.
    """
    user = event.read(UserEventPayload)
    await user_directory.remember(
        connection, user.user_id, user.email, user.role, user.is_active, event.occurred_at
    )


async def create_tasks(connection: Connection, steps_due: list[Handling]) -> None:
    """One task per due step (and attempt), however often the event arrives; none for a
    campaign that has already ended (its end may overtake the step on another topic).

    A step asked for again (the campaigns service re-drives a step whose result it never
    heard) gets its task's result told again, or its message requested again under the same
    idempotency key (the notifier then tells the message's result again)."""
    new: list[tasks.NewTask] = []
    for handling in steps_due:
        due = handling.event.read(StepDue)
        with handling.within():
            new.append(
                tasks.NewTask(
                    due.campaign_id,
                    due.step_run_id,
                    due.attempt,
                    due.customer.id,
                    due.channel,
                    handling.event.payload,
                )
            )
    await _open_tasks(connection, new, steps_due)


async def _open_tasks(
    connection: Connection, new: list[tasks.NewTask], handlings: list[Handling]
) -> None:
    new = await _start_at_once(connection, new, handlings)
    created = await tasks.insert_many(connection, new)
    for task, made, handling in zip(new, created, handlings, strict=True):
        with handling.within():
            if made is not None:
                await _announce(connection, task, made)
                continue
            known = await tasks.for_step(connection, task.step_run_id, task.attempt)
            if known is not None:
                await _tell_again(connection, known)
    await agents.note_assigned(
        connection,
        {
            task.agent_id
            for task, made in zip(new, created, strict=True)
            if made is not None and task.agent_id is not None
        },
    )


async def _start_at_once(
    connection: Connection, new: list[tasks.NewTask], handlings: list[Handling]
) -> list[tasks.NewTask]:
    """A free agent takes each task in the transaction that opens it, rather than at the
    worker's next pass; an AI agent composing from templates (no OpenAI call to wait for)
    requests its message in that transaction too. The rest wait, pending, for the worker."""
    candidates = await agents.candidates(connection)
    composes_offline = any(agent.kind == "ai" for agent in candidates) and (
        shared_brain().composes_offline
    )
    choices = choose_agents(
        candidates,
        [task.channel for task in new],
        clock.now(),
        ai_hands_over_at_once=composes_offline,
    )
    started: list[tasks.NewTask] = []
    for task, agent, handling in zip(new, choices, handlings, strict=True):
        if agent is None:
            started.append(task)
            continue
        request = None
        if agent.kind == "ai" and composes_offline:
            with handling.within():
                request = await message_request(shared_brain(), task.as_row())
        started.append(replace(task, agent_id=agent.id, message_request=request))
    return started


async def _announce(connection: Connection, task: tasks.NewTask, made: asyncpg.Record) -> None:
    """The events of a task just opened: created, and assigned and its message requested
    when it was started at once."""
    await events.publish(connection, events.task_created(made))
    if task.agent_id is not None:
        await events.publish(connection, events.task_assigned(made, task.agent_id))
    if task.message_request is not None:
        await events.publish(connection, task.message_request)


async def _tell_again(connection: Connection, task: asyncpg.Record) -> None:
    if task["status"] == "completed":
        told = events.task_completed(task, task["outcome"], task["promised_date"])
        await events.publish(connection, told)
    elif task["status"] == "failed":
        failed = events.task_failed(
            task,
            task["last_error"],
            retryable=task["retryable"] is not False,
            outcome_unknown=task["outcome"] == "unknown",
            refused=task["outcome"] == "refused",
        )
        await events.publish(connection, failed)
    elif task["status"] == "in_progress" and task["message_request"] is not None:
        # Requested, result never heard: the same request again, same key (the notifier sends
        # it once, and tells its result again if it has one).
        await events.publish(connection, events.message_requested_again(task["message_request"]))


async def messages_done(connection: Connection, results: list[Handling]) -> None:
    """Sent (or delivered): the step's work is done. A task's first result in the batch
    completes it; a later one (delivered after sent) finds it completed."""
    first: dict[uuid.UUID, tuple[str, Handling]] = {}
    for handling in results:
        task_id = handling.event.read(MessageEventPayload).task_id
        if task_id is None:
            continue  # the notifier's own messages (a password reset, an opt-out confirmation)
        outcome = "delivered" if handling.event.type == "message.delivered" else "sent"
        first.setdefault(task_id, (outcome, handling))
    completed = await tasks.complete_open(
        connection, {task_id: outcome for task_id, (outcome, _) in first.items()}
    )
    for task in completed:
        outcome, handling = first[task["id"]]
        with handling.within():
            await events.publish(connection, events.task_completed(task, outcome))


async def message_failed(connection: Connection, event: Envelope) -> None:
    """Retry the send while tries remain and the failure is retryable; then fail the task.

    A message whose outcome is unknown (it may have gone out) is never retried, here or by
    the step: the task fails with outcome `unknown` and the step is left for a person. A
    message the notifier refused for good fails the task at once with outcome `refused`, and
    the campaign skips the step."""
    failure = event.read(MessageFailed)
    task = await tasks.get(connection, failure.task_id, lock=True) if failure.task_id else None
    if task is None or task["status"] not in tasks.OPEN:
        return
    if failure.idempotency_key != idempotency_key(task):
        return  # the result of an earlier send try, told again: already counted
    reason = failure.reason
    unknown = failure.outcome_unknown
    refused = failure.refused and not unknown
    retryable = failure.retryable and not unknown and not refused
    tries = task["attempts"] + 1
    if retryable and tries < agents_settings().task_max_send_attempts:
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
        outcome="unknown" if unknown else "refused" if refused else None,
    )
    await events.publish(
        connection,
        events.task_failed(
            task, reason, retryable=retryable, outcome_unknown=unknown, refused=refused
        ),
    )


async def campaigns_ended(connection: Connection, ends: list[Handling]) -> None:
    """A campaign that completed or was cancelled leaves no work behind."""
    await tasks.end_campaigns(
        connection,
        {
            handling.event.read(CampaignEventPayload).campaign_id: handling.event.type.removeprefix(
                "campaign."
            )
            for handling in ends
        },
    )


async def understand_reply(connection: Connection, event: Envelope) -> None:
    """Classify the reply for the campaigns service; questions, disputes and doubts go to a
    person (a dispute pauses the campaign until someone looks into it)."""
    reply = event.read(ReplyReceived)
    understood = await shared_brain().understand(reply.text, clock.today_in(reply.timezone))
    campaign_id = reply.campaign_id
    classified = events.reply_classified(
        reply.customer_id,
        campaign_id,
        reply.channel,
        reply.text,
        understood.intent,
        understood.confidence,
        understood.promised_date,
    )
    await events.publish(connection, classified)
    needs_person = understood.intent in ("question", "dispute") or (
        understood.confidence < agents_settings().reply_min_confidence
    )
    if needs_person and campaign_id:
        await _ask_a_person(connection, event, campaign_id, reply.customer_id, classified.payload)


async def debtor_responded(connection: Connection, event: Envelope) -> None:
    """A dispute made on the debtor's portal goes to a person, as a disputed reply does (the
    campaigns service has paused and flagged the campaign already)."""
    responded = event.read(DebtorResponded)
    if responded.intent == "dispute" and responded.campaign_id is not None:
        await _ask_a_person(
            connection, event, responded.campaign_id, responded.customer_id, event.payload
        )


async def _ask_a_person(
    connection: Connection,
    event: Envelope,
    campaign_id: uuid.UUID,
    customer_id: uuid.UUID,
    reply: dict[str, Any],
) -> None:
    """A human task on the campaign about what the customer said (once per event)."""
    run = uuid.uuid5(uuid.NAMESPACE_URL, f"reply:{event.event_id}")
    step = {
        "campaignId": str(campaign_id),
        "stepRunId": str(run),
        "attempt": 1,
        "channel": "human",
        "reply": reply,
        "customer": {"id": str(customer_id)},
    }
    await _open_tasks(
        connection,
        [tasks.NewTask(campaign_id, run, 1, customer_id, "human", step)],
        [Handling(event, trace.get_current_span())],
    )


SUBSCRIPTIONS = (
    Subscription("user.created", "remember-user", remember_user),
    Subscription("user.updated", "remember-user", remember_user),
    Subscription("user.deactivated", "remember-user", remember_user),
    Subscription("campaign.step_due", "create-task", handler_of_many=create_tasks),
    Subscription("message.sent", "message-done", handler_of_many=messages_done),
    Subscription("message.delivered", "message-done", handler_of_many=messages_done),
    Subscription("message.failed", "message-failed", message_failed),
    Subscription("campaign.completed", "campaign-ended", handler_of_many=campaigns_ended),
    Subscription("campaign.cancelled", "campaign-ended", handler_of_many=campaigns_ended),
    Subscription("campaign.failed", "campaign-ended", handler_of_many=campaigns_ended),
    Subscription("reply.received", "understand-reply", understand_reply),
    Subscription("debtor.responded", "portal-dispute-task", debtor_responded),
)
