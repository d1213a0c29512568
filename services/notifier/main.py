"""The notifier service's app."""

from __future__ import annotations

from fastapi import FastAPI

from services.notifier import sender
from services.notifier.api import messages, webhooks
from services.notifier.handlers import SUBSCRIPTIONS
from services.notifier.settings import NotifierSettings, notifier_settings
from shared.ratelimit import RateLimiter
from shared.resources import Resources
from shared.service import ServiceSpec, create_app


async def _send(found: Resources) -> None:
    # Provider rates are per second: a limiter of their own, beside the 15-minute API limits.
    per_second = RateLimiter(found.redis, 1)
    await sender.run_forever(found.pool, notifier_settings(), per_second)


SPEC = ServiceSpec(
    name="notifier",
    title="Remit notifier service",
    description="SMS, voice and email through Twilio and SMTP, with the suppression list.",
    settings=NotifierSettings,
    routers=(messages.router,),
    unlimited_routers=(webhooks.router,),
    subscriptions=SUBSCRIPTIONS,
    background=(_send,),
)


def create() -> FastAPI:
    return create_app(SPEC)
