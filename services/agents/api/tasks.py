"""HTTP routes for the task queue: lists, the human work queue, and the stuck-task repair."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from services.agents import events
from services.agents.api.schemas import CompleteIn, ResetReport, Task, TaskPage, TaskStatus
from services.agents.stores import agents, tasks
from shared.errors import ApiError
from shared.openapi import error_responses
from shared.resources import Deps
from shared.security import Principal, require

router = APIRouter(tags=["tasks"])
Reader = Annotated[Principal, require("tasks:read")]
Worker = Annotated[Principal, require("tasks:work")]
Admin = Annotated[Principal, require("tasks:admin")]
# Beyond this, "stuck for longer than" would overflow a Postgres interval (a 500, not a 400).
MAX_OLDER_THAN = 366 * 86400
# Human outcomes that tell the campaign something, as a classified reply would.
_AS_REPLY = {
    "promise_to_pay": "promise_to_pay",
    "dispute": "dispute",
    "paid": "paid",
    "wrong_number": "wrong_person",
}


async def _my_agent_id(deps: Deps, principal: Principal) -> uuid.UUID:
    agent = await agents.by_user(deps.pool, principal.user_id)
    if agent is None:
        raise ApiError(403, "Forbidden", "You are not registered as a human agent")
    return agent["id"]  # type: ignore[no-any-return]


@router.get("/tasks", response_model=TaskPage)
async def list_tasks(
    deps: Deps,
    principal: Reader,
    campaign_id: Annotated[uuid.UUID | None, Query(alias="campaignId")] = None,
    assignee: Annotated[str | None, Query(description='"me" or an agent id')] = None,
    status: TaskStatus | None = None,
    channel: Annotated[str | None, Query(pattern="^(email|sms|voice|human)$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TaskPage:
    agent_id = None
    if assignee == "me":
        agent_id = await _my_agent_id(deps, principal)
    elif assignee is not None:
        try:
            agent_id = uuid.UUID(assignee)
        except ValueError:
            raise ApiError(
                400, "Validation error", '"assignee" must be "me" or an agent id'
            ) from None
    page = await tasks.page(deps.pool, campaign_id, agent_id, status, channel, limit, cursor)
    return TaskPage.of(page, limit, Task.model_validate)


@router.get("/tasks/{task_id}", response_model=Task)
async def get_task(task_id: uuid.UUID, deps: Deps, _: Reader) -> Task:
    row = await tasks.get(deps.pool, task_id)
    if row is None:
        raise ApiError(404, "Not Found", f"Task {task_id} does not exist")
    return Task.model_validate(dict(row))


@router.post("/tasks/{task_id}/claim", response_model=Task, responses=error_responses(409))
async def claim_task(task_id: uuid.UUID, deps: Deps, principal: Worker) -> Task:
    """A human agent takes a pending task, or starts one assigned to them."""
    agent_id = await _my_agent_id(deps, principal)
    async with deps.pool.acquire() as connection, connection.transaction():
        task = await tasks.get(connection, task_id, lock=True)
        if task is None:
            raise ApiError(404, "Not Found", f"Task {task_id} does not exist")
        if task["channel"] != "human":
            raise ApiError(409, "Conflict", "Only human-channel tasks are claimed by people")
        mine = task["assigned_agent_id"] == agent_id
        if not (task["status"] == "pending" or (task["status"] == "assigned" and mine)):
            raise ApiError(409, "Conflict", f"Task is {task['status']}; it cannot be claimed")
        await tasks.set_status(connection, task_id, "in_progress", assigned_agent_id=agent_id)
        if not mine:
            await events.publish(connection, events.task_assigned(task, agent_id))
    return await get_task(task_id, deps, principal)


@router.post("/tasks/{task_id}/complete", response_model=Task, responses=error_responses(409))
async def complete_task(
    task_id: uuid.UUID, body: CompleteIn, deps: Deps, principal: Worker
) -> Task:
    """Record what happened; promises, disputes and payments reach the campaign at once."""
    agent_id = await _my_agent_id(deps, principal)
    async with deps.pool.acquire() as connection, connection.transaction():
        task = await tasks.get(connection, task_id, lock=True)
        if task is None:
            raise ApiError(404, "Not Found", f"Task {task_id} does not exist")
        if task["assigned_agent_id"] != agent_id or task["status"] not in (
            "assigned",
            "in_progress",
        ):
            raise ApiError(409, "Conflict", f"Task is {task['status']} and not yours to complete")
        await tasks.set_status(
            connection, task_id, "completed", outcome=body.outcome,
            promised_date=body.promised_date, note=body.note,
        )  # fmt: skip
        await events.publish(
            connection, events.task_completed(task, body.outcome, body.promised_date)
        )
        if body.outcome in _AS_REPLY:
            reply = events.reply_classified(
                task["customer_id"],
                task["campaign_id"],
                "human",
                body.note,
                _AS_REPLY[body.outcome],
                1.0,
                body.promised_date,
            )
            await events.publish(connection, reply)
    return await get_task(task_id, deps, principal)


@router.post("/tasks/reset-stuck", response_model=ResetReport)
async def reset_stuck_tasks(
    deps: Deps,
    _: Admin,
    older_than: Annotated[
        int | None,
        Query(alias="olderThan", ge=0, le=MAX_OLDER_THAN, description="Seconds (a year at most)"),
    ] = None,
) -> ResetReport:
    """The worker's repair of stuck tasks, now: tasks assigned or in progress for longer than
    TASK_STUCK_AFTER (or `olderThan`) go back to pending and are assigned again."""
    async with deps.pool.acquire() as connection, connection.transaction():
        count = await tasks.reset_stuck(
            connection, deps.settings.task_stuck_after if older_than is None else older_than
        )
    return ResetReport(reset=count)
