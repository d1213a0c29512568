"""HTTP routes for payment records and the money received against them."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from stripe import StripeError

from services.campaigns import operations
from services.campaigns.api.schemas import (
    Collected,
    CollectedInCurrency,
    PayLinksRevoked,
    Payment,
    PaymentIn,
    PaymentPage,
    PaymentPatch,
    PaymentStatus,
    Plan,
    PlanList,
    Receipt,
    ReceiptIn,
    ReceiptList,
)
from services.campaigns.checkout import provider_of
from services.campaigns.domain.lifecycle import Action
from services.campaigns.settings import campaigns_settings
from services.campaigns.stores import (
    campaigns,
    checkouts,
    customers,
    pay_links,
    payments,
    plans,
)
from shared.clock import clock
from shared.errors import ApiError
from shared.openapi import error_responses
from shared.periods import Since, Until, period
from shared.resources import Deps, Resources
from shared.security import Principal, require

router = APIRouter(tags=["payments"])
logger = logging.getLogger(__name__)
Reader = Annotated[Principal, require("payments:read")]
Writer = Annotated[Principal, require("payments:write")]


def _payment(row: Any) -> Payment:
    return Payment.model_validate({**dict(row), "currency": row["currency"].strip()})


@router.post(
    "/payments", response_model=Payment, status_code=201, responses=error_responses(404, 409)
)
async def create_payment(body: PaymentIn, deps: Deps, _: Writer) -> Payment:
    async with deps.pool.acquire() as connection, connection.transaction():
        if await customers.get(connection, body.customer_id) is None:
            raise ApiError(404, "Not Found", f"Customer {body.customer_id} does not exist")
        row = await payments.insert(connection, body.model_dump(by_alias=False))
    if row is None:
        raise ApiError(
            409, "Conflict", f"Invoice {body.invoice_number} is already recorded for this customer"
        )
    return _payment(row)


@router.get("/payments", response_model=PaymentPage)
async def list_payments(
    deps: Deps,
    _: Reader,
    customer_id: Annotated[uuid.UUID | None, Query(alias="customerId")] = None,
    status: PaymentStatus | None = None,
    q: Annotated[str | None, Query(max_length=64, description="Part of the invoice number")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PaymentPage:
    page = await payments.page(deps.pool, customer_id, status, q or None, limit, cursor)
    return PaymentPage.of(page, limit, _payment)


@router.get("/payments/collected", response_model=Collected)
async def money_collected(
    deps: Deps,
    _: Reader,
    since: Since = None,
    until: Until = None,
) -> Collected:
    """Money received (by the receipts' `receivedAt`, less what was refunded) from `since` up
    to `until`, per currency; by default over the last 30 days."""
    since, until = period(since, until, timedelta(days=30))
    rows = await payments.collected(deps.pool, since, until)
    return Collected(
        since=since,
        until=until,
        totals=[
            CollectedInCurrency(
                currency=r["currency"].strip(), amount=r["amount"], receipts=r["receipts"]
            )
            for r in rows
        ],
    )


@router.get("/payments/{payment_id}", response_model=Payment)
async def get_payment(payment_id: uuid.UUID, deps: Deps, _: Reader) -> Payment:
    row = await payments.get(deps.pool, payment_id)
    if row is None:
        raise ApiError(404, "Not Found", f"Payment record {payment_id} does not exist")
    return _payment(row)


@router.patch("/payments/{payment_id}", response_model=Payment, responses=error_responses(409))
async def set_payment_status(
    payment_id: uuid.UUID, body: PaymentPatch, deps: Deps, _: Writer
) -> Payment:
    """Mark a record disputed or written off (or open again); money goes through receipts."""
    async with deps.pool.acquire() as connection, connection.transaction():
        row = await payments.get(connection, payment_id, lock=True)
        if row is None:
            raise ApiError(404, "Not Found", f"Payment record {payment_id} does not exist")
        if row["status"] == "paid":
            raise ApiError(409, "Conflict", "Payment record is paid; its status is final")
        # Money already received keeps a reopened record partially paid.
        status = (
            "partially_paid" if body.status == "open" and row["amount_paid"] > 0 else body.status
        )
        row = await payments.set_status(connection, payment_id, status)
        if body.status == "written_off":
            now = clock.now()
            await plans.end_active(connection, payment_id, "cancelled", now)
            for campaign_id in await campaigns.running_for(connection, payment_id=payment_id):
                await operations.end(
                    connection, campaign_id, Action.CANCEL, "payment written off", now
                )
    return _payment(row)


@router.get("/payments/{payment_id}/receipts", response_model=ReceiptList)
async def list_receipts(payment_id: uuid.UUID, deps: Deps, _: Reader) -> ReceiptList:
    """The money received against the record, oldest first, each naming its source."""
    if await payments.get(deps.pool, payment_id) is None:
        raise ApiError(404, "Not Found", f"Payment record {payment_id} does not exist")
    rows = await payments.receipts_of(deps.pool, payment_id)
    return ReceiptList(items=[Receipt.model_validate(dict(r)) for r in rows], total=len(rows))


@router.get("/payments/{payment_id}/plans", response_model=PlanList)
async def list_plans(payment_id: uuid.UUID, deps: Deps, _: Reader) -> PlanList:
    """The payment plans the debtor set up on their portal, newest first, with their
    instalments."""
    if await payments.get(deps.pool, payment_id) is None:
        raise ApiError(404, "Not Found", f"Payment record {payment_id} does not exist")
    return await _plans(deps, payment_id)


@router.post(
    "/payments/{payment_id}/plans/cancel", response_model=PlanList, responses=error_responses(409)
)
async def cancel_plan(payment_id: uuid.UUID, deps: Deps, _: Writer) -> PlanList:
    """End the record's active payment plan: the campaigns it paused resume from where they
    were (409 when no plan is active)."""
    settings = campaigns_settings()
    async with deps.pool.acquire() as connection, connection.transaction():
        if await payments.get(connection, payment_id, lock=True) is None:
            raise ApiError(404, "Not Found", f"Payment record {payment_id} does not exist")
        if not await plans.end_active(connection, payment_id, "cancelled", clock.now()):
            raise ApiError(409, "Conflict", "This payment record has no active payment plan")
        await operations.resume_after_plan(
            connection, payment_id, operations.contact_window(settings), clock.now()
        )
    return await _plans(deps, payment_id)


async def _plans(deps: Resources, payment_id: uuid.UUID) -> PlanList:
    return PlanList(items=[Plan.of(row) for row in await plans.of_payment(deps.pool, payment_id)])


@router.delete("/payments/{payment_id}/pay-links", response_model=PayLinksRevoked)
async def revoke_pay_links(payment_id: uuid.UUID, deps: Deps, _: Writer) -> PayLinksRevoked:
    """End the debtor's links to this payment record (a message sent to the wrong person, say):
    they answer 410 from now on; the next message carries a new one. The checkouts opened
    through them end too, at the provider as well: a hosted checkout's address is no longer
    payable by whoever holds it."""
    async with deps.pool.acquire() as connection, connection.transaction():
        if await payments.get(connection, payment_id, lock=True) is None:
            raise ApiError(404, "Not Found", f"Payment record {payment_id} does not exist")
        revoked = await pay_links.revoke(connection, payment_id)
        ended = await checkouts.expire_open(connection, payment_id)
    provider = provider_of(campaigns_settings())
    for checkout in ended:
        if provider is None or checkout["provider"] != provider.name:
            continue
        if checkout["provider_session_id"] is None:
            continue
        try:
            await provider.expire(checkout["provider_session_id"])
        except StripeError as error:
            # Stripe's own expiry (24 h) ends it anyway; a payment through it still counts.
            logger.warning(
                "could not expire a checkout at the provider",
                extra={"checkout_id": str(checkout["id"]), "error": repr(error)},
            )
    return PayLinksRevoked(revoked=revoked, checkouts_ended=len(ended))


@router.post(
    "/payments/{payment_id}/receipts",
    response_model=Payment,
    status_code=201,
    responses=error_responses(409),
)
async def record_receipt(payment_id: uuid.UUID, body: ReceiptIn, deps: Deps, _: Writer) -> Payment:
    """Money received: publishes `payment.received`; once fully paid, the payment's running
    campaigns complete and their remaining steps are cancelled, in the same transaction."""
    now = clock.now()
    async with deps.pool.acquire() as connection, connection.transaction():
        row = await operations.receive(
            connection, payment_id, body.amount, body.received_at or now, body.reference, now
        )
    return _payment(row)
