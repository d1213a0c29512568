"""HTTP routes for agents: create, list, change, heartbeat."""

from __future__ import annotations

import uuid
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query

from services.agents.api.schemas import Agent, AgentIn, AgentList, AgentPatch, AgentStatus
from services.agents.stores import agents, tasks, user_directory
from shared.errors import ApiError
from shared.openapi import error_responses
from shared.resources import Deps
from shared.security import CurrentPrincipal, Principal, require

router = APIRouter(tags=["agents"])
Reader = Annotated[Principal, require("agents:read")]
Writer = Annotated[Principal, require("agents:write")]


async def _agent(deps: Deps, agent_id: uuid.UUID) -> Agent:
    row = await agents.get(deps.pool, agent_id)
    if row is None:
        raise ApiError(404, "Not Found", f"Agent {agent_id} does not exist")
    return Agent.model_validate(dict(row))


@router.post("/agents", response_model=Agent, status_code=201, responses=error_responses(409))
async def create_agent(body: AgentIn, deps: Deps, _: Writer) -> Agent:
    async with deps.pool.acquire() as connection:
        if body.user_id is not None and not await user_directory.is_active_user(
            connection, body.user_id
        ):
            raise ApiError(
                400,
                "Validation error",
                f'"userId" {body.user_id} is not an active user '
                "(a user created a moment ago may take a second to be known here)",
            )
        try:
            row = await agents.insert(connection, body.model_dump(by_alias=False))
        except asyncpg.UniqueViolationError:
            raise ApiError(409, "Conflict", f"User {body.user_id} already is an agent") from None
    return Agent.model_validate(dict(row))


@router.get("/agents", response_model=AgentList)
async def list_agents(
    deps: Deps,
    _: Reader,
    kind: Annotated[str | None, Query(pattern="^(ai|human)$")] = None,
    status: AgentStatus | None = None,
) -> AgentList:
    rows = await agents.listing(deps.pool, kind, status)
    return AgentList(items=[Agent.model_validate(dict(row)) for row in rows], total=len(rows))


@router.get("/agents/{agent_id}", response_model=Agent)
async def get_agent(agent_id: uuid.UUID, deps: Deps, _: Reader) -> Agent:
    return await _agent(deps, agent_id)


@router.patch("/agents/{agent_id}", response_model=Agent)
async def update_agent(agent_id: uuid.UUID, body: AgentPatch, deps: Deps, _: Writer) -> Agent:
    """Rename, change channels or limit, or set the status (e.g. `disabled`)."""
    await _agent(deps, agent_id)
    async with deps.pool.acquire() as connection, connection.transaction():
        await agents.update(connection, agent_id, body.model_dump(by_alias=False))
        if body.status in ("offline", "disabled"):
            # An agent leaving does not keep work it has not started.
            await tasks.release_assigned(connection, agent_id)
    return await _agent(deps, agent_id)


@router.post("/agents/{agent_id}/heartbeat", response_model=Agent)
async def heartbeat(agent_id: uuid.UUID, deps: Deps, principal: CurrentPrincipal) -> Agent:
    """A human agent's client calls this while its person works; silence sends them offline."""
    agent = await _agent(deps, agent_id)
    if agent.user_id != principal.user_id and "agents:write" not in principal.permissions:
        raise ApiError(
            403, "Forbidden", "Only the agent themselves or an agents:write role may beat"
        )
    await agents.heartbeat(deps.pool, agent_id)
    return await _agent(deps, agent_id)
