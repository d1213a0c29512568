"""A period an endpoint counts over (`?since=…&until=…`): ISO times with an offset, `until`
by default now and `since` a default span before it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Query
from pydantic import AwareDatetime

from shared.clock import clock
from shared.errors import ApiError

Since = Annotated[
    AwareDatetime | None, Query(description="Start of the period (included), with an offset")
]
Until = Annotated[
    AwareDatetime | None, Query(description="End of the period (excluded); by default now")
]


def period(
    since: datetime | None, until: datetime | None, span: timedelta
) -> tuple[datetime, datetime]:
    """`[since, until)`, the missing ends filled in; an empty or backwards period is a 400."""
    until = until or clock.now()
    since = since or until - span
    if since >= until:
        raise ApiError(400, "Validation error", '"since" must be before "until"')
    return since, until
