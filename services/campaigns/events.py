"""Every event the campaigns service publishes, each built from its contract
(shared/contracts.py) and put in the outbox by `publish`, in the transaction of the change it
tells.

An event is stamped with the request ID and trace current when it is built: callers build it
where the change is made (a step's event in the trace of the request that started its
campaign). The `campaign.*` events are keyed by the campaign, `payment.received` by the payment
record, so each one's events keep their order.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from shared.contracts import (
    CampaignCancelled,
    CampaignCompleted,
    CampaignFailed,
    CampaignPaused,
    CampaignResumed,
    CampaignStarted,
    DebtorResponded,
    InstalmentDue,
    PaymentReceived,
    StepDue,
    StepDueCustomer,
    StepDuePayment,
)
from shared.db import Connection
from shared.events import Envelope, event_of
from shared.outbox import enqueue_many

# A row as asyncpg reads it, or any mapping with the same keys.
Row = asyncpg.Record | Mapping[str, Any]
PRODUCER = "campaigns"
# The payload key each event type is keyed by.
_KEYS = {
    "campaign.started": "campaignId",
    "campaign.paused": "campaignId",
    "campaign.resumed": "campaignId",
    "campaign.completed": "campaignId",
    "campaign.cancelled": "campaignId",
    "campaign.failed": "campaignId",
    "campaign.step_due": "campaignId",
    "payment.received": "paymentId",
    "debtor.responded": "customerId",
    "plan.instalment_due": "paymentId",
}


async def publish(connection: Connection, *events: Envelope) -> None:
    """Put these events in the outbox, in this order, each keyed by its aggregate."""
    await enqueue_many(connection, [(event, event.payload[_KEYS[event.type]]) for event in events])


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _campaign(campaign: Row) -> dict[str, Any]:
    """What every `campaign.*` life-cycle event says of its campaign."""
    return {
        "campaign_id": campaign["id"],
        "customer_id": campaign["customer_id"],
        "payment_id": campaign["payment_id"],
    }


def campaign_started(campaign: Row, started_at: datetime) -> Envelope:
    return event_of(CampaignStarted(**_campaign(campaign), started_at=started_at), PRODUCER)


def campaign_paused(
    campaign: Row, until: datetime | None, reason: str | None, flagged: bool
) -> Envelope:
    return event_of(
        CampaignPaused(**_campaign(campaign), until=until, reason=reason, flagged=flagged),
        PRODUCER,
    )


def campaign_resumed(campaign: Row) -> Envelope:
    return event_of(CampaignResumed(**_campaign(campaign)), PRODUCER)


def campaign_completed(campaign: Row, reason: str) -> Envelope:
    return event_of(CampaignCompleted(**_campaign(campaign), reason=reason), PRODUCER)


def campaign_cancelled(campaign: Row, reason: str) -> Envelope:
    return event_of(CampaignCancelled(**_campaign(campaign), reason=reason), PRODUCER)


def campaign_failed(campaign: Row, reason: str) -> Envelope:
    return event_of(CampaignFailed(**_campaign(campaign), reason=reason), PRODUCER)


def step_due(row: Row, pay_link: str) -> Envelope:
    """A due step run (`stores.schedule`'s row) and the debtor's link: everything the agents
    need to act on it, so they never read our schema."""
    return event_of(
        StepDue(
            campaign_id=row["campaign_id"],
            step_run_id=row["id"],
            step_id=row["step_id"],
            position=row["position"],
            channel=row["channel"],
            tone=row["tone"],
            template=row["template"],
            attempt=row["attempts"] + 1,
            due_at=row["due_at"],
            customer=_customer(row),
            payment=StepDuePayment(
                id=row["payment_id"],
                invoice_number=row["invoice_number"],
                amount=_money(row["amount"]),
                amount_paid=_money(row["amount_paid"]),
                outstanding=_money(row["amount"] - row["amount_paid"]),
                currency=row["currency"].strip(),
                due_date=row["due_date"],
            ),
            pay_link=pay_link,
        ),
        PRODUCER,
    )


def payment_received(
    payment_id: uuid.UUID,
    customer_id: uuid.UUID,
    amount: Decimal,
    currency: str,
    amount_paid: Decimal,
    status: str,
) -> Envelope:
    """Money recorded against a payment record: this receipt's `amount`, the total
    `amount_paid` so far and the record's `status` after it."""
    return event_of(
        PaymentReceived(
            payment_id=payment_id,
            customer_id=customer_id,
            amount=_money(amount),
            currency=currency,
            amount_paid=_money(amount_paid),
            status=status,
        ),
        PRODUCER,
    )


def debtor_responded(responded: DebtorResponded) -> Envelope:
    return event_of(responded, PRODUCER)


def _customer(row: Row) -> StepDueCustomer:
    """The customer's contact details, as a due step's or instalment's row reads them."""
    return StepDueCustomer(
        id=row["customer_id"],
        company_name=row["company_name"],
        contact_name=row["contact_name"],
        email=row["email"],
        phone=row["phone"],
        timezone=row["timezone"],
    )


def instalment_due(row: Row, pay_link: str) -> Envelope:
    """`row`: an instalment as `plans.come_due` reads it."""
    return event_of(
        InstalmentDue(
            instalment_id=row["id"],
            plan_id=row["plan_id"],
            campaign_id=row["campaign_id"],
            number=row["number"],
            due_date=row["due_date"],
            amount=_money(row["amount"]),
            customer=_customer(row),
            payment_id=row["payment_id"],
            invoice_number=row["invoice_number"],
            currency=row["currency"].strip(),
            pay_link=pay_link,
        ),
        PRODUCER,
    )
