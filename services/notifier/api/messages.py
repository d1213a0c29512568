"""HTTP routes for messages and the suppression list."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, get_args

from fastapi import APIRouter, Query, Response

from services.notifier.api.schemas import (
    ChannelCounts,
    Consent,
    ConsentIn,
    ConsentList,
    Message,
    MessageFilter,
    MessagePage,
    MessageStatus,
    MessageSummary,
    Suppression,
    SuppressionCheck,
    SuppressionIn,
    SuppressionList,
    SuppressionRemoval,
    SuppressionRemovalList,
)
from services.notifier.domain.guards import normalise_phone
from services.notifier.stores import consents, messages, suppressions
from shared.errors import ApiError
from shared.periods import Since, Until, period
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


@router.get("/messages/summary", response_model=MessageSummary)
async def summarise_messages(
    deps: Deps,
    _: Reader,
    since: Since = None,
    until: Until = None,
) -> MessageSummary:
    """How many collection messages were sent from `since` up to `until` (by default the last
    24 hours), and how many failed, were refused or changed to another status then, per
    channel: by status, and how many were refused."""
    since, until = period(since, until, timedelta(days=1))
    counted: dict[str, ChannelCounts] = {
        channel: ChannelCounts(
            channel=channel,
            total=0,
            by_status=dict.fromkeys(get_args(MessageStatus), 0),
            refused=0,
        )
        for channel in ("email", "sms", "voice")
    }
    for row in await messages.counts(deps.pool, since, until):
        counts = counted[row["channel"]]
        counts.by_status[row["status"]] = row["messages"]
        counts.total += row["messages"]
        counts.refused += row["refused"]
    return MessageSummary(since=since, until=until, channels=list(counted.values()))


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
    deps: Deps,
    _: Reader,
    q: Annotated[
        str | None,
        Query(max_length=320, description="Part of the recipient (emails are kept lower-cased)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SuppressionList:
    """The suppression list, newest first; `q` finds entries by part of the recipient."""
    rows, total = await suppressions.newest(deps.pool, q.strip().lower() if q else None, limit)
    return SuppressionList(items=[Suppression.model_validate(dict(r)) for r in rows], total=total)


@router.get("/suppressions/check", response_model=SuppressionCheck)
async def check_suppression(
    deps: Deps, _: Reader, recipient: Annotated[str, Query(min_length=3, max_length=320)]
) -> SuppressionCheck:
    normalised = _normalised(recipient)
    channels = await suppressions.channels_of(deps.pool, normalised)
    return SuppressionCheck(recipient=normalised, suppressed=bool(channels), channels=channels)


@router.get("/suppressions/removals", response_model=SuppressionRemovalList)
async def list_removals(
    deps: Deps, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> SuppressionRemovalList:
    """Suppressions removed, newest first: what was suppressed, who removed it and why."""
    rows, total = await suppressions.removals(deps.pool, limit)
    return SuppressionRemovalList(
        items=[SuppressionRemoval.model_validate(dict(r)) for r in rows], total=total
    )


@router.delete("/suppressions/{suppression_id}", status_code=204)
async def remove_suppression(
    suppression_id: uuid.UUID,
    deps: Deps,
    principal: Writer,
    reason: Annotated[
        str,
        Query(
            min_length=3,
            max_length=500,
            description="Why the recipient may be contacted again (kept with the removal)",
        ),
    ],
) -> Response:
    why = reason.strip()
    if len(why) < 3:
        raise ApiError(400, "Validation error", '"reason" must say why, in 3 characters or more')
    if not await suppressions.remove(deps.pool, suppression_id, why, principal.user_id):
        raise ApiError(404, "Not Found", f"Suppression {suppression_id} does not exist")
    return Response(status_code=204)


@router.post("/consents", response_model=Consent, status_code=201)
async def record_consent(body: ConsentIn, deps: Deps, _: Writer) -> Consent:
    """Record a recipient's consent to AI-voice calls (TCPA); calls without it are refused."""
    recipient = _normalised(body.recipient)
    row = await consents.record(deps.pool, recipient, body.source)
    return Consent.model_validate(dict(row))


@router.get("/consents", response_model=ConsentList)
async def list_consents(
    deps: Deps,
    _: Reader,
    recipient: Annotated[str | None, Query(min_length=3, max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ConsentList:
    """Recorded consents to AI-voice calls, newest first; `recipient` finds one number's."""
    rows, total = await consents.newest(
        deps.pool, _normalised(recipient) if recipient else None, limit
    )
    return ConsentList(items=[Consent.model_validate(dict(r)) for r in rows], total=total)


@router.delete("/consents/{recipient}", status_code=204)
async def withdraw_consent(recipient: str, deps: Deps, _: Writer) -> Response:
    if not await consents.withdraw(deps.pool, _normalised(recipient)):
        raise ApiError(404, "Not Found", f"No consent recorded for {recipient}")
    return Response(status_code=204)
