"""Who gets a task: an online agent that works the channel and is under its limit, the least
loaded first (ties go to the agent idle longest). Pure."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime


@dataclass(frozen=True)
class Candidate:
    id: uuid.UUID
    kind: str
    status: str
    channels: frozenset[str]
    max_concurrent: int
    open_tasks: int
    last_assigned_at: datetime | None


def choose_agent(candidates: Sequence[Candidate], channel: str) -> Candidate | None:
    eligible = [
        agent
        for agent in candidates
        if agent.status == "online"
        # People take the human steps; messages are composed and sent by AI agents.
        and (agent.kind == "human") == (channel == "human")
        and channel in agent.channels
        and agent.open_tasks < agent.max_concurrent
    ]
    if not eligible:
        return None
    return min(
        eligible,
        key=lambda agent: (
            agent.open_tasks / agent.max_concurrent,
            agent.last_assigned_at or datetime.min.replace(tzinfo=UTC),
            str(agent.id),
        ),
    )


def choose_agents(
    candidates: Sequence[Candidate],
    channels: Sequence[str],
    now: datetime,
    *,
    ai_hands_over_at_once: bool = False,
) -> list[Candidate | None]:
    """The agent for each task (by its channel) in turn, each choice counted in the load the
    next one sees; None where no agent can take it now.

    With `ai_hands_over_at_once`, an AI agent composes each task's message and hands it to the
    notifier in the transaction that gives it the task, so the task never holds one of its
    slots (a slot is held only until the message is requested)."""
    load = {agent.id: agent for agent in candidates}
    chosen: list[Candidate | None] = []
    for channel in channels:
        agent = choose_agent(list(load.values()), channel)
        if agent is not None:
            held = 0 if ai_hands_over_at_once and agent.kind == "ai" else 1
            load[agent.id] = replace(
                agent, open_tasks=agent.open_tasks + held, last_assigned_at=now
            )
        chosen.append(agent)
    return chosen
