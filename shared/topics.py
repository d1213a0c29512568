"""The event catalogue: every topic the platform uses, created explicitly at start-up.

Topics are named after event types. Tansu (the embedded broker) accepts any name and
auto-creates with its own partition count, so names are checked here and topics are created
before anything subscribes.
"""

from __future__ import annotations

import re

from shared.events import dead_letter_topic

EVENT_TYPES: tuple[str, ...] = (
    "user.created",
    "user.updated",
    "user.deactivated",
    "auth.password_reset_requested",
    "campaign.started",
    "campaign.step_due",
    "campaign.paused",
    "campaign.resumed",
    "campaign.completed",
    "campaign.cancelled",
    "campaign.failed",
    "payment.received",
    "task.created",
    "task.assigned",
    "task.completed",
    "task.failed",
    "message.requested",
    "message.sent",
    "message.delivered",
    "message.failed",
    "reply.received",
    "reply.classified",
)

_VALID_TOPIC = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def check_topic_name(topic: str) -> str:
    if not _VALID_TOPIC.fullmatch(topic) or len(topic) > 200:
        raise ValueError(f"invalid topic name {topic!r}: use lower-case dotted words")
    return topic


def all_topics() -> list[str]:
    return [name for event in EVENT_TYPES for name in (event, dead_letter_topic(event))]
