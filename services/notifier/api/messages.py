"""HTTP routes for messages and the suppression list."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.notifier.api.schemas import (
    Consent,
    ConsentIn,
    Message,
    MessageFilter,
    MessagePage,
    Suppression,
    SuppressionCheck,
    SuppressionIn,
    SuppressionList,
)
from services.notifier.domain.guards import normalise_phone
from services.notifier.stores import consents, messages, suppressions
from shared.errors import ApiError
from shared.resources import Deps
from shared.security import Principal, require

router = APIRouter(tags=["messages"])
Reader = Annotated[Principal, require("messages:read")]
Writer = Annotated[Principal, require("suppressions:write")]


def _normalised(recipient: str) -> str:
    """Phones in E.164, emails lower-cased: the forms the guards compare."""
    if "@" in recipient:
        return recipient.strip().lower()
    phone = normalise_phone(recipient)
    if phone is None:
        raise ApiError(400, "Validation error", '"recipient" is not a valid phone number or email')
    return phone


@router.get("/messages", response_model=MessagePage)
async def list_messages(
    deps: Deps,
    _: Reader,
    campaign_id: Annotated[uuid.UUID | None, Query(alias="campaignId")] = None,
    status: MessageFilter | None = None,
    channel: Annotated[str | None, Query(pattern="^(sms|voice|email)$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> MessagePage:
    page = await messages.page(deps.pool, campaign_id, status, channel, limit, cursor)
    return MessagePage.of(page, limit, Message.model_validate)


@router.get("/messages/{message_id}", response_model=Message)
async def get_message(message_id: uuid.UUID, deps: Deps, _: Reader) -> Message:
    row = await messages.get(deps.pool, message_id)
    if row is None:
        raise ApiError(404, "Not Found", f"Message {message_id} does not exist")
    return Message.model_validate(dict(row))


@router.post("/suppressions", response_model=Suppression, status_code=201)
async def add_suppression(body: SuppressionIn, deps: Deps, _: Writer) -> Suppression:
    recipient = _normalised(body.recipient)
    await messages.suppress(deps.pool, body.channel, recipient, body.reason, body.note)
    row = await suppressions.get(deps.pool, body.channel, recipient)
    assert row is not None
    return Suppression.model_validate(dict(row))


@router.get("/suppressions", response_model=SuppressionList)
async def list_suppressions(
    deps: Deps, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> SuppressionList:
    rows, total = await suppressions.newest(deps.pool, limit)
    return SuppressionList(items=[Suppression.model_validate(dict(r)) for r in rows], total=total)


@router.get("/suppressions/check", response_model=SuppressionCheck)
async def check_suppression(
    deps: Deps, _: Reader, recipient: Annotated[str, Query(min_length=3, max_length=320)]
) -> SuppressionCheck:
    normalised = _normalised(recipient)
    channels = await suppressions.channels_of(deps.pool, normalised)
    return SuppressionCheck(recipient=normalised, suppressed=bool(channels), channels=channels)


@router.delete("/suppressions/{suppression_id}", status_code=204)
async def remove_suppression(suppression_id: uuid.UUID, deps: Deps, _: Writer) -> Response:
    if not await suppressions.remove(deps.pool, suppression_id):
        raise ApiError(404, "Not Found", f"Suppression {suppression_id} does not exist")
    return Response(status_code=204)


@router.post("/consents", response_model=Consent, status_code=201)
async def record_consent(body: ConsentIn, deps: Deps, _: Writer) -> Consent:
    """Record a recipient's consent to AI-voice calls (TCPA); calls without it are refused."""
    recipient = _normalised(body.recipient)
    row = await consents.record(deps.pool, recipient, body.source)
    return Consent.model_validate(dict(row))


@router.delete("/consents/{recipient}", status_code=204)
async def withdraw_consent(recipient: str, deps: Deps, _: Writer) -> Response:
    if not await consents.withdraw(deps.pool, _normalised(recipient)):
        raise ApiError(404, "Not Found", f"No consent recorded for {recipient}")
    return Response(status_code=204)
