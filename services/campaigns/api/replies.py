"""HTTP routes for what customers answered, as understood: a customer's, or a campaign's."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from services.campaigns.api.schemas import Reply, ReplyPage
from services.campaigns.stores import campaigns, customers, replies
from shared.errors import ApiError
from shared.resources import Deps
from shared.security import Principal, require

router = APIRouter(tags=["replies"])
Reader = Annotated[Principal, require("campaigns:read")]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=200)]


@router.get("/customers/{customer_id}/replies", response_model=ReplyPage)
async def customer_replies(
    customer_id: uuid.UUID, deps: Deps, _: Reader, limit: Limit = 50, cursor: Cursor = None
) -> ReplyPage:
    """Everything the customer answered (SMS, calls) and the outcomes people recorded, oldest
    first, with what each meant."""
    if await customers.get(deps.pool, customer_id) is None:
        raise ApiError(404, "Not Found", f"Customer {customer_id} does not exist")
    page = await replies.page(deps.pool, customer_id, None, limit, cursor)
    return ReplyPage.of(page, limit, Reply.model_validate)


@router.get("/campaigns/{campaign_id}/replies", response_model=ReplyPage)
async def campaign_replies(
    campaign_id: uuid.UUID, deps: Deps, _: Reader, limit: Limit = 50, cursor: Cursor = None
) -> ReplyPage:
    """The replies tied to this campaign (to its messages, or its tasks' outcomes)."""
    if await campaigns.get(deps.pool, campaign_id) is None:
        raise ApiError(404, "Not Found", f"Campaign {campaign_id} does not exist")
    page = await replies.page(deps.pool, None, campaign_id, limit, cursor)
    return ReplyPage.of(page, limit, Reply.model_validate)
