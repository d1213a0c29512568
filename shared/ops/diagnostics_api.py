"""`/api/v1/diagnostics`: the operators' checks, dead letters, cache clearing and request traces,
for admins.

Served by the auth service (services/auth/main.py); the same functions back `remit diagnose`,
`remit dlq` and `remit cache clear`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Path, Query
from pydantic import Field

from shared import cache_clear
from shared.context import SANE_REQUEST_ID, request_id_var
from shared.errors import ApiError
from shared.kafka import KAFKA_DOWN, raw_publisher
from shared.ops import dead_letters, diagnostics, trace
from shared.resources import Deps, Resources
from shared.schemas import ApiModel
from shared.security import Principal, require
from shared.topics import all_topics

router = APIRouter(prefix="/diagnostics", tags=["diagnostics"])
Reader = Annotated[Principal, require("diagnostics:read")]
Writer = Annotated[Principal, require("diagnostics:write")]


class MessagePosition(ApiModel):
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


class ReplayRequest(ApiModel):
    """Either the messages to replay, by partition and offset, or `all`."""

    messages: list[MessagePosition] | None = Field(default=None, min_length=1, max_length=1000)
    all: bool = False


class CacheClearRequest(ApiModel):
    pattern: str = Field(
        default="*",
        min_length=1,
        max_length=cache_clear.MAX_PATTERN_LENGTH,
        description="Redis glob pattern, e.g. cache:* or cache:campaigns:customer:*",
    )
    include_protected: bool = Field(
        default=False, description="Also delete rate limits, revocations, lock-outs, clock"
    )


def _dead_letter_topic(topic: str) -> str:
    if not dead_letters.is_known(topic):
        raise ApiError(
            404,
            "Not Found",
            f"Dead-letter topic {topic} does not exist; they are named <event type>.dlq, "
            "e.g. user.created.dlq",
        )
    return topic


TopicPath = Annotated[str, Path(max_length=200, description="e.g. user.created.dlq")]


def _kafka_unavailable(error: Exception) -> ApiError:
    return ApiError(503, "Service unavailable", f"Kafka is unavailable: {error!r}")


@router.get("", summary="The platform's health checks (database, pools, Redis, Kafka), as JSON")
async def report(deps: Deps, _: Reader) -> dict[str, Any]:
    operator = deps.settings.operator_database_url
    if operator is None:
        found = await diagnostics.collect(deps.settings, deps.pool, deps.redis)
        return diagnostics.as_json(found)
    # The checks read every service's schema: the operator's login, not this service's own.
    pool = await diagnostics.operator_pool(operator, "diagnostics")
    try:
        found = await diagnostics.collect(deps.settings, pool, deps.redis)
    finally:
        await pool.close()
    return diagnostics.as_json(found)


@router.get("/dead-letters", summary="Messages kept in each dead-letter topic")
async def dead_letter_topics(deps: Deps, _: Reader) -> dict[str, Any]:
    try:
        items, notes = await diagnostics.dead_letter_summary(deps.settings, deps.pool)
    except KAFKA_DOWN as error:
        raise _kafka_unavailable(error) from error
    return {"items": items, "total": sum(item["messages"] for item in items), "notes": notes}


async def _read(deps: Resources, topic: str) -> list[dead_letters.DeadLetter]:
    try:
        return await dead_letters.read(deps.settings, topic)
    except KAFKA_DOWN as error:
        raise _kafka_unavailable(error) from error


@router.get("/dead-letters/{topic}", summary="The messages of one dead-letter topic")
async def list_dead_letters(
    topic: TopicPath,
    deps: Deps,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    letters = await _read(deps, _dead_letter_topic(topic))
    async with deps.pool.acquire() as connection:
        done = await dead_letters.replays(connection, topic)
    page = letters[offset : offset + limit]
    return {
        "items": dead_letters.listed(page, done),
        "total": len(letters),
        "limit": limit,
        "offset": offset,
    }


@router.post("/dead-letters/{topic}/replay", summary="Republish dead letters to their topic")
async def replay_dead_letters(
    topic: TopicPath, body: ReplayRequest, deps: Deps, principal: Writer
) -> dict[str, Any]:
    if (body.messages is None) == (not body.all):
        raise ApiError(
            400, "Validation error", 'Give either "messages" (partition and offset) or "all": true'
        )
    letters = await _read(deps, _dead_letter_topic(topic))
    outcome = dead_letters.ReplayOutcome()
    if body.messages is not None:
        wanted = [(position.partition, position.offset) for position in body.messages]
        letters, outcome = dead_letters.chosen(letters, wanted, topic)

    async with deps.pool.acquire() as connection:
        done = await dead_letters.replay(
            connection,
            letters,
            raw_publisher(deps.broker),
            all_topics(),
            replayed_by=f"user:{principal.user_id}",
            request_id=request_id_var.get(),
        )
    done.skipped = outcome.skipped + done.skipped
    return done.as_json()


@router.post("/cache/clear", summary="Delete Redis keys by pattern (SCAN + UNLINK)")
async def clear_cache(body: CacheClearRequest, deps: Deps, _: Writer) -> dict[str, object]:
    cleared = await cache_clear.clear(
        deps.redis, body.pattern, include_protected=body.include_protected
    )
    return cleared.as_json()


class TraceStep(ApiModel):
    at: datetime
    service: str
    kind: str = Field(description="event out, event in, task or message")
    what: str
    failed: bool


class Trace(ApiModel):
    request_id: str
    steps: list[TraceStep]
    outcome: str


@router.get("/trace/{request_id}", response_model=Trace, summary="One request's timeline")
async def trace_request(
    request_id: Annotated[str, Path(pattern=SANE_REQUEST_ID.pattern)], deps: Deps, _: Reader
) -> Trace:
    """What the request with this `X-Request-ID` led to in every service, from their records:
    the events each published and handled, and the tasks and messages it made; the records
    `remit trace` reads (which also reads the services' log lines, where they are local)."""
    database = deps.settings.operator_database_url or deps.settings.database_url
    try:
        steps = sorted(await trace.from_database(database, request_id))
    except asyncpg.InsufficientPrivilegeError:
        raise ApiError(
            503,
            "Service unavailable",
            "A trace reads every service's schema: give the auth service OPERATOR_DATABASE_URL, "
            "a login that may read them all",
        ) from None
    return Trace(
        request_id=request_id,
        steps=[TraceStep(**vars(step)) for step in steps],
        outcome=trace.outcome(steps),
    )
