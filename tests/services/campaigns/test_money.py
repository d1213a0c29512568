"""Amounts in a currency's smallest unit, and which payment provider takes the portal's
payments."""

from __future__ import annotations

from decimal import Decimal

from pydantic import SecretStr

from services.campaigns.checkout import SimulatedCheckout, StripeCheckout, provider_of
from services.campaigns.domain.money import from_minor, to_minor
from services.campaigns.settings import CampaignsSettings


def test_minor_units_follow_the_currency():
    assert to_minor(Decimal("1250.50"), "EUR") == 125050
    assert to_minor(Decimal("5000"), "jpy") == 5000
    assert to_minor(Decimal("10.00"), "KWD") == 10000  # three decimals
    assert to_minor(Decimal("1250.50"), "JPY") is None  # half a yen cannot be charged
    assert from_minor(125050, "eur") == Decimal("1250.50")
    assert from_minor(10000, "KWD") == Decimal("10.00")
    assert from_minor(5000, "JPY") == Decimal("5000.00")


def _settings(**fields: object) -> CampaignsSettings:
    return CampaignsSettings.model_validate(
        {"database_url": "postgresql://x", "redis_url": "redis://x",
         "kafka_bootstrap_servers": "x:1", **fields}
    )  # fmt: skip


def test_payments_are_taken_online_only_by_a_provider_set_up_for_it():
    assert provider_of(_settings()) is None  # nothing configured: no "pay now"
    assert isinstance(provider_of(_settings(simulated_payments=True)), SimulatedCheckout)
    stripe = provider_of(
        _settings(stripe_secret_key=SecretStr("sk_test_x"), simulated_payments=True)
    )
    assert isinstance(stripe, StripeCheckout)  # a key wins over the simulation
