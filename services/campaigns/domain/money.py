"""Amounts as payment providers count them: in the currency's smallest unit. Pure."""

from __future__ import annotations

from decimal import Decimal

# Currencies without a minor unit, as Stripe lists them: 500 JPY is sent as 500, not 50000.
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
     "XAF", "XOF", "XPF"}
)  # fmt: skip


# And those with three decimals: 10.000 KWD is sent as 10000.
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def _scale(currency: str) -> int:
    code = currency.upper()
    return 1 if code in ZERO_DECIMAL else 1000 if code in THREE_DECIMAL else 100


def to_minor(amount: Decimal, currency: str) -> int | None:
    """`amount` in the currency's smallest unit; None when it has more decimals than the
    currency (a fraction of a yen), which no provider can charge."""
    units = amount * _scale(currency)
    return int(units) if units == units.to_integral_value() else None


def from_minor(units: int, currency: str) -> Decimal:
    return (Decimal(units) / _scale(currency)).quantize(Decimal("0.01"))
