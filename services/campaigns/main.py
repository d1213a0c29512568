"""The campaigns service's app."""

from __future__ import annotations

from fastapi import FastAPI

from services.campaigns import scheduler
from services.campaigns.api import (
    campaigns,
    clock,
    customers,
    payments,
    portal,
    replies,
    webhooks,
)
from services.campaigns.handlers import SUBSCRIPTIONS
from services.campaigns.settings import CampaignsSettings, campaigns_settings
from shared.resources import Resources
from shared.service import ServiceSpec, create_app


async def _scheduler(found: Resources) -> None:
    await scheduler.run_forever(found.pool, campaigns_settings())


SPEC = ServiceSpec(
    name="campaigns",
    title="Remit campaigns service",
    description="Customers, payment records, campaigns of escalation steps and their scheduler.",
    settings=CampaignsSettings,
    routers=(
        customers.router,
        payments.router,
        campaigns.router,
        replies.router,
        clock.router,
    ),
    # The portal has its own limit per address; the provider's webhooks are signed.
    unlimited_routers=(portal.router, webhooks.router),
    subscriptions=SUBSCRIPTIONS,
    background=(_scheduler,),
    caches_reads=True,
)


def create() -> FastAPI:
    return create_app(SPEC)
