"""The event catalogue: every topic the platform uses, created explicitly at start-up.

Topics are named after event types. Tansu (the embedded broker) accepts any name and
auto-creates with its own partition count, so names are checked here and topics are created
before anything subscribes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.events import dead_letter_topic
from shared.settings import ServiceName


@dataclass(frozen=True)
class EventSpec:
    producer: ServiceName
    consumers: tuple[ServiceName, ...]
    description: str


_TASK_ENDS = "open tasks of the campaign are cancelled"

# Every event type, who publishes it and which services consume it (a test checks this against
# the services' subscriptions). Served as AsyncAPI at /api/v1/asyncapi.
EVENTS: dict[str, EventSpec] = {
    "user.created": EventSpec(
        "auth", ("agents",), "A user was created (the agents keep a directory of active users)"
    ),
    "user.updated": EventSpec("auth", ("agents",), "A user's role or activity changed"),
    "user.deactivated": EventSpec(
        "auth", ("agents",), "A user was deactivated; their tokens stop working"
    ),
    "auth.password_reset_requested": EventSpec(
        "auth", ("notifier",), "Email this user a single-use password-reset link"
    ),
    "campaign.started": EventSpec(
        "campaigns", (), "A campaign became active and its steps were scheduled"
    ),
    "campaign.step_due": EventSpec(
        "campaigns", ("agents",), "A step fell due: everything an agent needs to act on it"
    ),
    "campaign.paused": EventSpec(
        "campaigns", (), "A campaign was paused (by a person, a promise to pay or a dispute)"
    ),
    "campaign.resumed": EventSpec("campaigns", (), "A paused campaign became active again"),
    "campaign.completed": EventSpec(
        "campaigns", ("agents",), f"Every step ran or the debt was paid; {_TASK_ENDS}"
    ),
    "campaign.cancelled": EventSpec(
        "campaigns", ("agents",), f"A person cancelled the campaign; {_TASK_ENDS}"
    ),
    "campaign.failed": EventSpec("campaigns", ("agents",), f"A step failed for good; {_TASK_ENDS}"),
    "payment.received": EventSpec(
        "campaigns", (), "A receipt was recorded against a payment record"
    ),
    "task.created": EventSpec(
        "agents", (), "A task was made for a due step (or for a reply a person must read)"
    ),
    "task.assigned": EventSpec("agents", (), "A task was given to an AI or human agent"),
    "task.completed": EventSpec(
        "agents", ("campaigns",), "A task was done; its step run completes"
    ),
    "task.failed": EventSpec(
        "agents",
        ("campaigns",),
        "A task failed; the step is retried, fails or (refused) is skipped",
    ),
    "message.requested": EventSpec(
        "agents", ("notifier",), "Send this email, SMS or call (idempotency key: sent at most once)"
    ),
    "message.sent": EventSpec("notifier", ("agents",), "The provider accepted the message"),
    "message.delivered": EventSpec("notifier", ("agents",), "The provider reported delivery"),
    "message.failed": EventSpec(
        "notifier", ("agents",), "The message was refused by a guard or the provider"
    ),
    "reply.received": EventSpec(
        "notifier", ("agents",), "The customer answered (SMS or call input)"
    ),
    "debtor.responded": EventSpec(
        "campaigns",
        ("agents", "notifier"),
        "The debtor promised, disputed or stopped a channel on their portal (a dispute goes to "
        "a person, a stopped channel to the suppression list)",
    ),
    "plan.instalment_due": EventSpec(
        "campaigns",
        ("notifier",),
        "An instalment of a debtor's payment plan falls due today: send its pay link",
    ),
    "reply.classified": EventSpec(
        "agents", ("campaigns",), "What the reply means: promise, dispute, paid, opt-out, ..."
    ),
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENTS)

_VALID_TOPIC = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def check_topic_name(topic: str) -> str:
    if not _VALID_TOPIC.fullmatch(topic) or len(topic) > 200:
        raise ValueError(f"invalid topic name {topic!r}: use lower-case dotted words")
    return topic


def all_topics() -> list[str]:
    return [name for event in EVENT_TYPES for name in (event, dead_letter_topic(event))]


def consumed_topics() -> dict[str, list[str]]:
    """Each consuming service's group and the topics it consumes."""
    groups: dict[str, list[str]] = {}
    for event_type, spec in EVENTS.items():
        for consumer in spec.consumers:
            groups.setdefault(consumer, []).append(event_type)
    return groups
