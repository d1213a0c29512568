"""A period an endpoint counts over (`?since=…&until=…`): ISO times with an offset, `until`
by default now and `since` a default span before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def period(
    since: datetime | None, until: datetime | None, span: timedelta
) -> tuple[datetime, datetime]:
    """`[since, until)`, the missing ends filled in; an empty or backwards period, or one
    outside the years 2000 to 2100, is a 400."""
    outside = ApiError(
        400, "Validation error", '"since" and "until" must be between 2000-01-01 and 2100-01-01'
    )
    try:
        until = (until or clock.now()).astimezone(UTC)
        since = (since or until - span).astimezone(UTC)
    except OverflowError:  # e.g. year 1 with a positive offset
        raise outside from None
    if since >= until:
        raise ApiError(400, "Validation error", '"since" must be before "until"')
    if since < EARLIEST or until > LATEST:
        raise outside
    return since, until
