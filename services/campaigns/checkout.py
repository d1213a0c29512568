"""The payment provider behind the debtor's "pay now": Stripe's hosted checkout when a key is
set, else a simulated provider served by the platform itself (so `make run` shows the whole
loop). Either way, the money is recorded only when the provider confirms it (Stripe's signed
webhook, or the simulated provider's own page)."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from stripe import HTTPXClient, StripeClient, StripeError

from services.campaigns.domain.money import to_minor
from services.campaigns.settings import CampaignsSettings


@dataclass(frozen=True)
class Session:
    id: str
    url: str


class Provider(Protocol):
    name: str

    async def open(
        self, checkout_id: uuid.UUID, amount: Decimal, currency: str, label: str, page: str
    ) -> Session:
        """A hosted checkout for `amount` (named `label` to the payer), returning to the
        debtor's `page` after."""

    async def expire(self, session_id: str) -> None:
        """The hosted checkout can no longer be paid."""


class StripeCheckout:
    name = "stripe"

    def __init__(self, key: str, api_base: str | None) -> None:
        # Within the portal's own request: a short wait and one retry (the idempotency key
        # makes the retry safe), so the debtor hears back before the gateway gives up.
        self.client = StripeClient(
            key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=1,
            http_client=HTTPXClient(timeout=10),
        )

    async def open(
        self, checkout_id: uuid.UUID, amount: Decimal, currency: str, label: str, page: str
    ) -> Session:
        session = await self.client.v1.checkout.sessions.create_async(
            params={
                "mode": "payment",
                "client_reference_id": str(checkout_id),
                "metadata": {"checkout_id": str(checkout_id)},
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": currency.lower(),
                            "unit_amount": _units(amount, currency),
                            "product_data": {"name": label},
                        },
                    }
                ],
                "success_url": f"{page}?paid=1",
                "cancel_url": page,
                # Charged in the invoice's currency, so the webhook's amount is ours to compare.
                "adaptive_pricing": {"enabled": False},
            },
            # One session per checkout, however often the call is retried.
            options={"idempotency_key": f"checkout-{checkout_id}"},
        )
        if not session.url:
            raise StripeError("Stripe answered a checkout session without its address")
        return Session(session.id, session.url)

    async def expire(self, session_id: str) -> None:
        await self.client.v1.checkout.sessions.expire_async(session_id)


class SimulatedCheckout:
    """A provider that needs no account: its "checkout" is a page of the portal whose button
    confirms the payment, as Stripe's webhook would."""

    name = "simulated"

    async def open(
        self, checkout_id: uuid.UUID, amount: Decimal, currency: str, label: str, page: str
    ) -> Session:
        return Session(f"sim_{checkout_id.hex}", f"{page}/checkout/{checkout_id}")

    async def expire(self, session_id: str) -> None:
        """Nothing to tell: the simulated checkout is paid through the link, which is gone."""


def _units(amount: Decimal, currency: str) -> int:
    units = to_minor(amount, currency)
    if units is None:  # the portal checks before opening a checkout
        raise ValueError(f"{amount} {currency} has more decimals than the currency")
    return units


@functools.cache
def _stripe(key: str, api_base: str | None) -> StripeCheckout:
    return StripeCheckout(key, api_base)


def provider_of(settings: CampaignsSettings) -> Provider | None:
    """Stripe when its key is set; the simulated provider only when asked for
    (SIMULATED_PAYMENTS); else none: the portal takes no payments."""
    if settings.stripe_secret_key is not None:
        return _stripe(settings.stripe_secret_key.get_secret_value(), settings.stripe_api_base)
    return SimulatedCheckout() if settings.simulated_payments else None
