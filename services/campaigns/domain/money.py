"""Amounts as payment providers count them: in the currency's smallest unit. Pure."""

from __future__ import annotations

from decimal import Decimal

# Currencies without a minor unit, as Stripe lists them: 500 JPY is sent as 500, not 50000.
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
     "XAF", "XOF", "XPF"}
)  # fmt: skip


def to_minor(amount: Decimal, currency: str) -> int:
    scale = 1 if currency.upper() in ZERO_DECIMAL else 100
    return int((amount * scale).to_integral_value())


def from_minor(units: int, currency: str) -> Decimal:
    scale = 1 if currency.upper() in ZERO_DECIMAL else 100
    return (Decimal(units) / scale).quantize(Decimal("0.01"))
