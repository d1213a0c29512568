"""HTTP routes for the platform clock: read it, and move it forward where CLOCK_CONTROL is on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from shared.clock import clock
from shared.errors import ApiError
from shared.resources import Deps
from shared.schemas import ApiModel, ApiResponse
from shared.security import Principal, require

router = APIRouter(tags=["clock"])


class ClockOut(ApiResponse):
    now: datetime
    offset_seconds: float
    controllable: bool


class AdvanceIn(ApiModel):
    by: Annotated[
        timedelta,
        Field(
            gt=timedelta(0),
            le=timedelta(days=366),
            description="ISO 8601 duration, e.g. PT10H or P3D",
        ),
    ]


def _reading(controllable: bool) -> ClockOut:
    return ClockOut(
        now=clock.now(),
        offset_seconds=clock.offset.total_seconds(),
        controllable=controllable,
    )


@router.get("/clock", response_model=ClockOut)
async def read_clock(found: Deps, _: Annotated[Principal, require("campaigns:read")]) -> ClockOut:
    return _reading(found.settings.clock_control)


@router.post(
    "/clock/advance",
    response_model=ClockOut,
    responses={409: {"description": "CLOCK_CONTROL is off"}},
)
async def advance_clock(
    body: AdvanceIn, found: Deps, _: Annotated[Principal, require("clock:advance")]
) -> ClockOut:
    """Every service follows within a tenth of a second."""
    if not found.settings.clock_control:
        raise ApiError(
            409,
            "Conflict",
            "The clock can only be moved on a stack started with CLOCK_CONTROL=true",
        )
    await clock.advance(found.redis, body.by)
    return _reading(controllable=True)
