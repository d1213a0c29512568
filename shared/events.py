"""The event envelope every service publishes and consumes."""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.context import request_id_var
from shared.contracts import PAYLOADS, EventPayload
from shared.tracing import HEADER_TRACEPARENT, current_traceparent

P = TypeVar("P", bound=EventPayload)

HEADER_REQUEST_ID = "x-request-id"
HEADER_EVENT_TYPE = "x-event-type"
# A dead letter carries its error, the consumer that gave up and the topic it came from.
HEADER_DLQ_ERROR = "x-dlq-error"
HEADER_DLQ_CONSUMER = "x-dlq-consumer"
HEADER_DLQ_ORIGINAL_TOPIC = "x-dlq-original-topic"


class Envelope(BaseModel):
    """What travels on every topic; the topic is named after `type`."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: str
    request_id: str | None = None
    traceparent: str | None = None
    payload: dict[str, Any]

    def read(self, contract: builtins.type[P]) -> P:
        """The payload as its contract's model (a payload that breaks it raises)."""
        return contract.model_validate(self.payload)


def kafka_headers(
    event_type: str, request_id: str | None, traceparent: str | None
) -> dict[str, str]:
    """The Kafka headers of an event: its type, and its request ID and trace when it has them."""
    headers = {HEADER_EVENT_TYPE: event_type}
    if request_id:
        headers[HEADER_REQUEST_ID] = request_id
    if traceparent:
        headers[HEADER_TRACEPARENT] = traceparent
    return headers


def new_event(event_type: str, producer: str, payload: dict[str, Any]) -> Envelope:
    """An envelope stamped with the current request ID and trace context. A payload that breaks
    its event type's contract (shared/contracts.py) is refused here, before anyone sends it."""
    contract = PAYLOADS.get(event_type)
    if contract is not None:
        contract.model_validate(payload)
    return Envelope(
        type=event_type,
        producer=producer,
        request_id=request_id_var.get(),
        traceparent=current_traceparent(),
        payload=payload,
    )


def event_of(payload: EventPayload, producer: str) -> Envelope:
    """An envelope for a payload built as its contract's model (so checked when it was built),
    stamped with the current request ID and trace context. The payload travels in its wire
    form: camelCase keys, ids and dates as strings, and only the fields the producer gave (a
    field left out is absent, one given as None is null)."""
    return Envelope(
        type=payload.event_type,
        producer=producer,
        request_id=request_id_var.get(),
        traceparent=current_traceparent(),
        payload=payload.model_dump(mode="json", by_alias=True, exclude_unset=True),
    )


# A consumer dead-letters an event it gave up on to `<topic>.dlq`.
DLQ_SUFFIX = ".dlq"


def dead_letter_topic(topic: str) -> str:
    return f"{topic}{DLQ_SUFFIX}"


def is_dead_letter_topic(topic: str) -> bool:
    return topic.endswith(DLQ_SUFFIX)
