"""The portal's Stripe checkout through the real `stripe` SDK, against a scripted Stripe over
HTTP: what is asked for (a payment for the outstanding amount in the currency's smallest unit,
one session per checkout however often retried) and a provider that does not answer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from stripe import StripeError

from services.campaigns.checkout import StripeCheckout

pytestmark = pytest.mark.servers


@pytest.fixture
async def fake_stripe() -> AsyncIterator[tuple[str, list[dict[str, Any]], list[int]]]:
    """A Stripe that answers `POST /v1/checkout/sessions` (and their expiry): its address, what it was sent, and
    the status codes it will answer with first (then 200)."""
    seen: list[dict[str, Any]] = []
    failing: list[int] = []

    async def sessions(request: web.Request) -> web.Response:
        form = parse_qs(await request.text())
        seen.append({"headers": dict(request.headers), "form": form})
        if failing:
            return web.json_response(
                {"error": {"type": "api_error", "message": "down"}}, status=failing.pop(0)
            )
        return web.json_response(
            {"id": "cs_test_1", "object": "checkout.session",
             "url": "https://checkout.stripe.com/c/pay/cs_test_1"}
        )  # fmt: skip

    async def expire(request: web.Request) -> web.Response:
        seen.append({"expired": request.match_info["session"]})
        return web.json_response(
            {"id": request.match_info["session"], "object": "checkout.session",
             "status": "expired"}
        )  # fmt: skip

    app = web.Application()
    app.router.add_post("/v1/checkout/sessions", sessions)
    app.router.add_post("/v1/checkout/sessions/{session}/expire", expire)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen, failing
    finally:
        await runner.cleanup()


async def test_a_checkout_asks_stripe_for_the_amount_it_pays(fake_stripe):
    base, seen, _ = fake_stripe
    checkout_id = uuid.uuid4()
    session = await StripeCheckout("sk_test_remit", base).open(
        checkout_id,
        Decimal("1250.50"),
        "EUR",
        "Invoice INV-7, instalment 2",
        "https://remit.example/pay/tok",
    )
    assert (session.id, session.url) == ("cs_test_1", "https://checkout.stripe.com/c/pay/cs_test_1")
    (sent,) = seen
    form, headers = sent["form"], sent["headers"]
    assert headers["Authorization"] == "Bearer sk_test_remit"
    assert headers["Idempotency-Key"] == f"checkout-{checkout_id}"
    assert form["mode"] == ["payment"]
    assert form["line_items[0][price_data][unit_amount]"] == ["125050"]
    assert form["line_items[0][price_data][currency]"] == ["eur"]
    assert form["line_items[0][price_data][product_data][name]"] == ["Invoice INV-7, instalment 2"]
    assert form["metadata[checkout_id]"] == [str(checkout_id)]
    assert form["success_url"] == ["https://remit.example/pay/tok?paid=1"]
    assert form["adaptive_pricing[enabled]"] == ["false"]  # charged in the invoice's currency


async def test_a_zero_decimal_currency_is_sent_whole(fake_stripe):
    base, seen, _ = fake_stripe
    await StripeCheckout("sk_test_remit", base).open(
        uuid.uuid4(), Decimal("5000"), "JPY", "INV-8", "https://remit.example/pay/tok"
    )
    assert seen[0]["form"]["line_items[0][price_data][unit_amount]"] == ["5000"]


async def test_stripe_down_is_retried_once_with_the_same_key_then_raised(fake_stripe):
    base, seen, failing = fake_stripe
    failing.extend([500, 500])
    with pytest.raises(StripeError):
        await StripeCheckout("sk_test_remit", base).open(
            uuid.uuid4(), Decimal("10"), "EUR", "INV-9", "https://remit.example/pay/tok"
        )
    assert len(seen) == 2 and len({s["headers"]["Idempotency-Key"] for s in seen}) == 1


async def test_a_checkout_is_expired_at_stripe(fake_stripe):
    base, seen, _ = fake_stripe
    await StripeCheckout("sk_test_remit", base).expire("cs_test_9")
    assert seen == [{"expired": "cs_test_9"}]
