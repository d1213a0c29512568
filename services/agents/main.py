"""The agents service's app."""

from __future__ import annotations

from fastapi import FastAPI

from services.agents import workers
from services.agents.api import agents, tasks
from services.agents.brain import shared_brain
from services.agents.handlers import SUBSCRIPTIONS
from services.agents.settings import AgentsSettings, agents_settings
from shared.resources import Resources
from shared.service import ServiceSpec, create_app


async def _work(found: Resources) -> None:
    await workers.run_forever(found.pool, agents_settings(), shared_brain())


def _ai_health(_: Resources) -> dict[str, str]:
    return {"openai": shared_brain().status}


SPEC = ServiceSpec(
    name="agents",
    title="Remit agents service",
    description="AI and human agents, and the task queue of escalation steps they execute.",
    settings=AgentsSettings,
    routers=(tasks.router, agents.router),
    subscriptions=SUBSCRIPTIONS,
    background=(_work,),
    health_notes=_ai_health,
)


def create() -> FastAPI:
    return create_app(SPEC)
