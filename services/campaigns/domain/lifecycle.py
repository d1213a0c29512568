"""The campaign state machine:
draft → scheduled → active ⇄ paused → completed | cancelled | failed."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Action(StrEnum):
    START = "start"
    ACTIVATE = "activate"  # a scheduled campaign's start time arrived
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    COMPLETE = "complete"
    FAIL = "fail"


_ALLOWED: dict[Action, frozenset[Status]] = {
    Action.START: frozenset({Status.DRAFT}),
    Action.ACTIVATE: frozenset({Status.SCHEDULED}),
    Action.PAUSE: frozenset({Status.SCHEDULED, Status.ACTIVE}),
    Action.RESUME: frozenset({Status.PAUSED}),
    Action.CANCEL: frozenset({Status.DRAFT, Status.SCHEDULED, Status.ACTIVE, Status.PAUSED}),
    Action.COMPLETE: frozenset({Status.SCHEDULED, Status.ACTIVE, Status.PAUSED}),
    Action.FAIL: frozenset({Status.ACTIVE, Status.PAUSED}),
}
_TARGET: dict[Action, Status] = {
    Action.ACTIVATE: Status.ACTIVE,
    Action.PAUSE: Status.PAUSED,
    Action.RESUME: Status.ACTIVE,
    Action.CANCEL: Status.CANCELLED,
    Action.COMPLETE: Status.COMPLETED,
    Action.FAIL: Status.FAILED,
}
RUNNING = frozenset({Status.SCHEDULED, Status.ACTIVE, Status.PAUSED})


class IllegalTransitionError(Exception):
    def __init__(self, current: Status, action: Action) -> None:
        super().__init__(f"Campaign is {current.value}; it cannot {action.value}")
        self.current = current
        self.action = action


def transition(current: Status, action: Action, *, starts_later: bool = False) -> Status:
    """The state `action` leads to from `current`, or IllegalTransitionError."""
    if current not in _ALLOWED[action]:
        raise IllegalTransitionError(current, action)
    if action in (Action.START, Action.RESUME) and starts_later:
        return Status.SCHEDULED  # e.g. paused before its start time came
    if action is Action.START:
        return Status.ACTIVE
    return _TARGET[action]
