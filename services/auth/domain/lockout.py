"""Login decisions, free of I/O: credentials, disabled accounts and lock-out after failures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum


class Outcome(Enum):
    SUCCESS = "success"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"
    DISABLED = "disabled"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    failed_attempts: int | None = None  # the new count to store, when it changes
    lock_until: datetime | None = None


def decide(
    *,
    password_ok: bool,
    is_active: bool,
    failed_attempts: int,
    locked_until: datetime | None,
    now: datetime,
    max_failed: int,
    lockout: timedelta,
) -> Decision:
    """What a login attempt on an existing account leads to.

    A locked account refuses even the right password until the lock ends; the failure that
    reaches `max_failed` consecutive failures locks it. Disabled is only revealed to someone
    who knows the password, so it does not tell strangers which accounts exist.
    """
    if locked_until is not None and locked_until > now:
        return Decision(Outcome.LOCKED, lock_until=locked_until)
    if locked_until is not None:
        failed_attempts = 0  # the lock has run out: a fresh start
    if not password_ok:
        failures = failed_attempts + 1
        reached = failures >= max_failed
        return Decision(
            Outcome.LOCKED if reached else Outcome.BAD_CREDENTIALS,
            failed_attempts=failures,
            lock_until=now + lockout if reached else None,
        )
    if not is_active:
        return Decision(Outcome.DISABLED)
    return Decision(Outcome.SUCCESS)
