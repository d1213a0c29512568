"""The notifier service's app."""

from __future__ import annotations

from fastapi import FastAPI

from services.notifier.handlers import SUBSCRIPTIONS
from shared.service import ServiceSpec, create_app

SPEC = ServiceSpec(
    name="notifier",
    title="Remit notifier service",
    description="SMS, voice and email delivery through Twilio and SMTP, with the suppression list.",
    subscriptions=SUBSCRIPTIONS,
)


def create() -> FastAPI:
    return create_app(SPEC)
