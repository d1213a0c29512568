"""Every event the agents service publishes, each built from its contract (shared/contracts.py)
and put in the outbox by `publish`, in the transaction of the change it tells.

An event is stamped with the request ID and trace current when it is built: callers build it
where the change is made (in the handled event's `within()`, or a task's `continued(...)`).
The `task.*` events and `message.requested` are keyed by the campaign, `reply.classified` by
the customer, so each one's events keep their order.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from enum import Enum
from typing import Any

import asyncpg

from shared.contracts import (
    MessageRequested,
    ReplyClassified,
    TaskAssigned,
    TaskCompleted,
    TaskCreated,
    TaskFailed,
)
from shared.db import Connection
from shared.events import Envelope, event_of
from shared.outbox import enqueue_many

PRODUCER = "agents"
# A task as read from its row, or as it will read once opened (`stores.tasks.NewTask.as_row`).
Task = asyncpg.Record | Mapping[str, Any]
# The payload key each event type is keyed by.
_KEYS = {
    "task.created": "campaignId",
    "task.assigned": "campaignId",
    "task.completed": "campaignId",
    "task.failed": "campaignId",
    "message.requested": "campaignId",
    "reply.classified": "customerId",
}


class Absent(Enum):
    """A field left out of the payload (not sent as null)."""

    ABSENT = "absent"


ABSENT = Absent.ABSENT


async def publish(connection: Connection, *events: Envelope) -> None:
    """Put these events in the outbox, in this order, each keyed by its aggregate."""
    await enqueue_many(connection, [(event, event.payload[_KEYS[event.type]]) for event in events])


def _task(task: Task) -> dict[str, Any]:
    """What every `task.*` event says of its task."""
    return {
        "task_id": task["id"],
        "campaign_id": task["campaign_id"],
        "step_run_id": task["step_run_id"],
        "customer_id": task["customer_id"],
        "channel": task["channel"],
    }


def task_created(task: Task) -> Envelope:
    return event_of(TaskCreated(**_task(task)), PRODUCER)


def task_assigned(task: Task, agent_id: uuid.UUID) -> Envelope:
    return event_of(TaskAssigned(**_task(task), agent_id=agent_id), PRODUCER)


def task_completed(
    task: Task, outcome: str, promised_date: date | Absent | None = ABSENT
) -> Envelope:
    """`promised_date` is sent (possibly null) with a person's outcome and when a result is
    told again; a message's first result leaves it out."""
    if promised_date is ABSENT:
        return event_of(TaskCompleted(**_task(task), outcome=outcome), PRODUCER)
    return event_of(
        TaskCompleted(**_task(task), outcome=outcome, promised_date=promised_date), PRODUCER
    )


def task_failed(
    task: Task, reason: str, *, retryable: bool, outcome_unknown: bool, refused: bool
) -> Envelope:
    return event_of(
        TaskFailed(
            **_task(task),
            reason=reason,
            retryable=retryable,
            outcome_unknown=outcome_unknown,
            refused=refused,
        ),
        PRODUCER,
    )


def message_requested(
    task: Task,
    idempotency_key: str,
    subject: str | None,
    body: str,
    composed_by: str,
) -> Envelope:
    """The message an AI agent composed for the task, to its step's customer."""
    step = task["step"]
    customer = step["customer"]
    channel = task["channel"]
    return event_of(
        MessageRequested(
            idempotency_key=idempotency_key,
            task_id=task["id"],
            campaign_id=task["campaign_id"],
            step_run_id=task["step_run_id"],
            customer_id=customer["id"],
            payment_id=step["payment"]["id"],
            channel=channel,
            to=customer["email"] if channel == "email" else customer["phone"],
            timezone=customer["timezone"],
            subject=subject,
            body=body,
            composed_by=composed_by,
        ),
        PRODUCER,
    )


def message_requested_again(request: Mapping[str, Any]) -> Envelope:
    """A request made before (its payload, as kept with the task), asked for again."""
    return event_of(MessageRequested.model_validate(request), PRODUCER)


def reply_classified(
    customer_id: uuid.UUID,
    campaign_id: uuid.UUID | None,
    channel: str,
    text: str | None,
    intent: str,
    confidence: float,
    promised_date: date | None,
) -> Envelope:
    """What a reply means, or a person's outcome that matters to the customer's campaigns."""
    return event_of(
        ReplyClassified(
            customer_id=customer_id,
            campaign_id=campaign_id,
            channel=channel,
            text=text,
            intent=intent,
            confidence=confidence,
            promised_date=promised_date,
        ),
        PRODUCER,
    )
