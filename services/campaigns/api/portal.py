"""The debtor's portal, as the API serves it: what a valid link's holder may see of the debt
it names. Public: the signed link is the only credential, so each address is rate limited."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Path, Request
from pydantic import Field

from services.campaigns.api.schemas import MoneyOut
from services.campaigns.domain.pay_links import link_id_of
from services.campaigns.settings import campaigns_settings
from services.campaigns.stores import customers, pay_links, payments
from shared.clock import clock
from shared.errors import ApiError
from shared.openapi import error_responses
from shared.ratelimit import client_ip, enforce
from shared.resources import Deps
from shared.schemas import ApiResponse

router = APIRouter(tags=["portal"])
Token = Annotated[str, Path(max_length=64, description="The token of the link in a message")]
NOT_VALID = "This link is not valid; open the link in your latest message from us"
ENDED = "This link has expired; open the link in your latest message from us, or contact us"


class Itemization(ApiResponse):
    """What collectors must tell: the debt at the itemization date, and what changed since."""

    as_of: date = Field(description="The itemization date: the invoice's due date")
    amount_then: MoneyOut
    interest_since: MoneyOut
    fees_since: MoneyOut
    payments_since: MoneyOut
    amount_now: MoneyOut


class PortalDebt(ApiResponse):
    creditor: str
    company_name: str
    contact_name: str
    invoice_number: str
    currency: str
    amount: MoneyOut
    amount_paid: MoneyOut
    outstanding: MoneyOut
    due_date: date
    status: str
    itemization: Itemization
    link_expires_at: datetime


async def live_link(deps: Deps, request: Request, token: str) -> asyncpg.Record:
    """The link the token names, counted against its caller's address: 404 when it was never
    issued (altered, made up), 410 when it expired or was revoked."""
    settings = campaigns_settings()
    enforce(
        request,
        [
            await deps.limiter.hit(
                settings.portal_rate_limit_per_ip, "portal-ip", client_ip(request)
            )
        ],
    )
    link_id = link_id_of(await pay_links.signing_key(deps.pool), token)
    link = await pay_links.opened(deps.pool, link_id) if link_id is not None else None
    if link is None:
        raise ApiError(404, "Not Found", NOT_VALID)
    if link["revoked_at"] is not None or link["expires_at"] <= clock.now():
        raise ApiError(410, "Gone", ENDED)
    return link


@router.get("/portal/{token}", response_model=PortalDebt, responses=error_responses(404, 410, 429))
async def portal_debt(token: Token, deps: Deps, request: Request) -> PortalDebt:
    """What is owed on the payment record the link names, with the itemization collectors
    must give."""
    link = await live_link(deps, request, token)
    payment = await payments.get(deps.pool, link["payment_id"])
    customer = await customers.get(deps.pool, link["customer_id"])
    assert payment is not None and customer is not None  # a link's records are never deleted
    zero = Decimal("0.00")
    return PortalDebt(
        creditor=campaigns_settings().creditor_name,
        company_name=customer["company_name"],
        contact_name=customer["contact_name"],
        invoice_number=payment["invoice_number"],
        currency=payment["currency"].strip(),
        amount=payment["amount"],
        amount_paid=payment["amount_paid"],
        outstanding=payment["outstanding"],
        due_date=payment["due_date"],
        status=payment["status"],
        itemization=Itemization(
            as_of=payment["due_date"],
            amount_then=payment["amount"],
            interest_since=zero,
            fees_since=zero,
            payments_since=payment["amount_paid"],
            amount_now=payment["outstanding"],
        ),
        link_expires_at=link["expires_at"],
    )
