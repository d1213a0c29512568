"""The agents service's app."""

from __future__ import annotations

from fastapi import FastAPI

from services.agents.handlers import SUBSCRIPTIONS
from shared.service import ServiceSpec, create_app

SPEC = ServiceSpec(
    name="agents",
    title="Remit agents service",
    description="AI and human agents, and the task queue of escalation steps they execute.",
    subscriptions=SUBSCRIPTIONS,
)


def create() -> FastAPI:
    return create_app(SPEC)
