"""HTTP routes for administering users."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query

from services.auth import events
from services.auth.api.schemas import CreateUserRequest, Role, UpdateUserRequest, User, UserPage
from services.auth.domain.admins import takes_an_admin_away
from services.auth.domain.passwords import hash_password
from services.auth.settings import auth_settings
from services.auth.stores import login_limits, resets, revocations, sessions, users
from shared.db import Connection
from shared.errors import ApiError
from shared.openapi import error_responses
from shared.resources import Deps, Resources
from shared.security import Principal, require, revoke_access_tokens

router = APIRouter(tags=["users"])


async def existing_user(deps: Resources, user_id: uuid.UUID) -> User:
    user = await users.user_by_id(deps.pool, user_id)
    if user is None:
        raise ApiError(404, "Not Found", f"User {user_id} does not exist")
    return User.model_validate(dict(user))


@router.get("/users", response_model=UserPage)
async def list_users(
    deps: Deps,
    _: Annotated[Principal, require("users:read")],
    email: Annotated[str | None, Query(max_length=320, description="Part of the email")] = None,
    role: Role | None = None,
    is_active: Annotated[bool | None, Query(alias="isActive")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # Postgres's OFFSET is a bigint
) -> UserPage:
    rows, total = await users.list_users(
        deps.pool, users.UserFilter(email, role, is_active), limit, offset
    )
    return UserPage(
        items=[User.model_validate(row) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.post("/users", response_model=User, status_code=201, responses=error_responses(409))
async def create_user(
    body: CreateUserRequest, deps: Deps, _: Annotated[Principal, require("users:write")]
) -> User:
    """A new user, with the first password given, or else emailed an invitation to choose
    their own (until then their password is one nobody knows)."""
    password_hash = await hash_password(body.password or secrets.token_urlsafe(32))
    async with deps.pool.acquire() as connection, connection.transaction():
        user = await users.insert_user(connection, body.email, password_hash, body.role)
        if user is None:
            raise ApiError(409, "Conflict", f"A user with email {body.email} already exists")
        await events.publish(connection, events.user_created(user))
        if body.password is None:
            await email_password_link(connection, deps, user, invitation=True)
    return User.model_validate(dict(user))


async def email_password_link(
    connection: Connection, deps: Resources, user: asyncpg.Record, *, invitation: bool
) -> None:
    """A single-use link to choose a password, emailed by the notifier: a reset (valid for
    PASSWORD_RESET_TTL) or a new user's invitation (INVITATION_TTL)."""
    settings = auth_settings()
    ttl = timedelta(seconds=settings.invitation_ttl if invitation else settings.password_reset_ttl)
    token = await resets.create_reset(connection, user["id"], ttl)
    url = f"{deps.settings.public_url}/api/v1/auth/reset-password?token={token}"
    requested = events.password_reset_requested(
        user, url, datetime.now(UTC) + ttl, invitation=invitation
    )
    await events.publish(connection, requested)


@router.get("/users/{user_id}", response_model=User)
async def get_user(
    user_id: uuid.UUID, deps: Deps, _: Annotated[Principal, require("users:read")]
) -> User:
    return await existing_user(deps, user_id)


@router.patch("/users/{user_id}", response_model=User, responses=error_responses(409))
async def update_user(
    user_id: uuid.UUID,
    body: UpdateUserRequest,
    deps: Deps,
    _: Annotated[Principal, require("users:write")],
) -> User:
    """Change a role or (de)activate; deactivation ends the user's sessions at once. A change
    to what the user already is changes nothing and tells no one."""
    async with deps.pool.acquire() as connection, connection.transaction():
        # Locked while compared: of two identical PATCHes at once, the second sees the first's
        # result, and only one event says what changed.
        before = await users.user_by_id(connection, user_id, lock=True)
        if before is None:
            raise ApiError(404, "Not Found", f"User {user_id} does not exist")
        if body.role in (None, before["role"]) and body.is_active in (None, before["is_active"]):
            return User.model_validate(dict(before))
        await _keep_an_admin(connection, before, body)
        user = await users.update_user(connection, user_id, body.role, body.is_active)
        assert user is not None
        deactivated = before["is_active"] and not user["is_active"]
        if deactivated:
            await sessions.revoke_all_sessions(connection, user_id, "deactivated")
        told = events.user_deactivated(user) if deactivated else events.user_updated(user)
        await events.publish(connection, told)
        # Tokens carry the role: old ones must stop working everywhere, not in 15 minutes.
        revoke = deactivated or before["role"] != user["role"]
        if revoke:
            await revocations.record(connection, user_id)
    if revoke:
        await revoke_access_tokens(deps.redis, user_id, deps.settings.access_token_ttl)
    if user["is_active"] and not before["is_active"]:
        await login_limits.lift_or_warn(deps.redis, user["email"])
    return User.model_validate(dict(user))


@router.post("/users/{user_id}/unlock", response_model=User, responses=error_responses(503))
async def unlock_user(
    user_id: uuid.UUID, deps: Deps, _: Annotated[Principal, require("users:write")]
) -> User:
    """End a lock-out now: the failed logins are forgotten and the per-account login limit
    (LOGIN_RATE_LIMIT_PER_ACCOUNT) is cleared, so the user can sign in at once. Unlocking an
    account that is not locked changes nothing. With Redis unreachable the answer is 503
    `Redis is unavailable` (the limit could not be cleared); unlocking again once it is back
    finishes the job."""
    user = await users.unlock(deps.pool, user_id)
    if user is None:
        raise ApiError(404, "Not Found", f"User {user_id} does not exist")
    await login_limits.lift(deps.redis, user["email"])
    return User.model_validate(dict(user))


async def _keep_an_admin(
    connection: Connection, user: asyncpg.Record, change: UpdateUserRequest
) -> None:
    if not takes_an_admin_away(
        role=user["role"],
        is_active=user["is_active"],
        new_role=change.role,
        new_is_active=change.is_active,
    ):
        return
    if not await users.other_active_admins(connection, user["id"]):
        raise ApiError(409, "Conflict", "This is the last active admin; promote another first")
