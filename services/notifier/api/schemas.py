"""Request and response bodies of the notifier API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from shared.schemas import ApiModel, ApiResponse, CursorPage, Period

MessageStatus = Literal[
    "queued",
    "sending",
    "deferred",
    "sent",
    "delivered",
    "failed",
    "bounced",
    "suppressed",
    "unknown",
]
# The list's `status` filter: a status, or `refused` for every message refused for a reason no
# retry can change, whatever its status (`suppressed` or `failed`).
MessageFilter = Literal[MessageStatus, "refused"]
SuppressionChannel = Literal["sms", "voice", "email", "all"]


class Message(ApiResponse):
    id: uuid.UUID
    idempotency_key: str
    task_id: uuid.UUID | None
    campaign_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    channel: Literal["sms", "voice", "email"]
    recipient: str
    subject: str | None
    body: str
    status: MessageStatus
    reason: str | None
    refused: bool = Field(
        description="Refused for a reason no retry can change (a suppressed or opted-out "
        "recipient, an invalid number, no consent, Regulation F's weekly call cap)"
    )
    provider_id: str | None
    simulated: bool
    attempts: int
    send_after: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime


class MessagePage(CursorPage):
    items: list[Message]


class ChannelCounts(ApiResponse):
    channel: Literal["sms", "voice", "email"]
    total: int
    by_status: dict[MessageStatus, int] = Field(description="Every status, 0 when none")
    refused: int = Field(description="How many were refused (see `refused` on a message)")


class MessageSummary(Period):
    channels: list[ChannelCounts] = Field(description="Every channel, in the same order")


class SuppressionIn(ApiModel):
    channel: SuppressionChannel
    recipient: Annotated[str, Field(min_length=3, max_length=320)]
    reason: Literal["do_not_call", "opt_out", "bounce", "manual"] = "manual"
    note: Annotated[str, Field(max_length=500)] | None = None


class Suppression(ApiResponse):
    id: uuid.UUID
    channel: SuppressionChannel
    recipient: str
    reason: str
    note: str | None
    created_at: datetime


class SuppressionList(ApiResponse):
    items: list[Suppression]
    total: int


class SuppressionRemoval(ApiResponse):
    id: uuid.UUID
    channel: SuppressionChannel
    recipient: str
    reason: str = Field(description="The suppression's own reason (`opt_out`, `bounce`, ...)")
    note: str | None
    suppressed_at: datetime
    removed_reason: str = Field(description="Why it was removed, as the person removing it said")
    removed_by: uuid.UUID = Field(description="The user who removed it")
    created_at: datetime = Field(description="When it was removed")


class SuppressionRemovalList(ApiResponse):
    items: list[SuppressionRemoval]
    total: int


class SuppressionCheck(ApiResponse):
    recipient: str
    suppressed: bool
    channels: list[str]


class ConsentIn(ApiModel):
    recipient: Annotated[str, Field(min_length=3, max_length=32)]
    source: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="Where the consent was given (form, call recording, ...)"
    )


class Consent(ApiResponse):
    recipient: str
    granted_at: datetime
    source: str | None


class ConsentList(ApiResponse):
    items: list[Consent]
    total: int
