"""Request and response bodies of the agents API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from shared.schemas import ApiModel, ApiResponse, CursorPage

Channel = Literal["email", "sms", "voice", "human"]
AgentStatus = Literal["online", "offline", "busy", "disabled"]
TaskStatus = Literal["pending", "assigned", "in_progress", "completed", "failed", "cancelled"]
Outcome = Literal[
    "reached", "promise_to_pay", "dispute", "paid", "no_answer", "wrong_number", "other"
]


class AgentIn(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    kind: Literal["ai", "human"]
    channels: Annotated[list[Channel], Field(min_length=1, max_length=4)]
    max_concurrent: Annotated[int, Field(ge=1, le=1000)] = 10
    user_id: uuid.UUID | None = Field(default=None, description="The auth user of a human agent")

    @model_validator(mode="after")
    def _kind_rules(self) -> AgentIn:
        if self.kind == "human" and self.user_id is None:
            raise ValueError('"userId" is required for a human agent')
        if self.kind == "ai" and "human" in self.channels:
            raise ValueError("An AI agent cannot work the human channel")
        return self


class AgentPatch(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=120)] | None = None
    status: AgentStatus | None = None
    channels: Annotated[list[Channel], Field(min_length=1, max_length=4)] | None = None
    max_concurrent: Annotated[int, Field(ge=1, le=1000)] | None = None


class Agent(ApiResponse):
    id: uuid.UUID
    name: str
    kind: Literal["ai", "human"]
    status: AgentStatus
    channels: list[Channel]
    max_concurrent: int
    open_tasks: int
    user_id: uuid.UUID | None
    last_heartbeat_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AgentList(ApiResponse):
    items: list[Agent]
    total: int


class Task(ApiResponse):
    id: uuid.UUID
    campaign_id: uuid.UUID
    step_run_id: uuid.UUID
    step_attempt: int
    customer_id: uuid.UUID
    channel: Channel
    status: TaskStatus
    assigned_agent_id: uuid.UUID | None
    attempts: int
    last_error: str | None
    outcome: str | None
    promised_date: date | None
    note: str | None
    step: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class TaskPage(CursorPage):
    items: list[Task]


class CompleteIn(ApiModel):
    outcome: Outcome
    promised_date: date | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _promise_has_date(self) -> CompleteIn:
        if self.outcome == "promise_to_pay" and self.promised_date is None:
            raise ValueError('"promisedDate" is required for a promise to pay')
        return self


class ResetReport(ApiResponse):
    reset: int
