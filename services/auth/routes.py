"""HTTP routes of the auth service."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from services.auth import users
from services.auth.keys import active_signing_key, public_jwks
from services.auth.passwords import DUMMY_HASH, hash_password, verify_password
from services.auth.schemas import CreateUserRequest, LoginRequest, TokenResponse, User
from services.auth.tokens import issue_access_token
from shared.errors import ApiError
from shared.events import new_event
from shared.outbox import enqueue
from shared.security import CurrentPrincipal, Principal, require
from shared.service import Resources, resources

router = APIRouter()
Deps = Annotated[Resources, Depends(resources)]


@router.post("/auth/login", response_model=TokenResponse, tags=["auth"])
async def login(body: LoginRequest, deps: Deps) -> TokenResponse:
    user = await users.user_by_email(deps.pool, body.email)
    password_ok = verify_password(user["password_hash"] if user else DUMMY_HASH, body.password)
    if user is None:
        raise ApiError(401, "Invalid credentials", "Email or password is incorrect")
    if not password_ok:
        await users.record_failed_login(deps.pool, user["id"])
        raise ApiError(401, "Invalid credentials", "Email or password is incorrect")
    if not user["is_active"]:
        raise ApiError(403, "Account is disabled", "Ask an administrator to reactivate it")
    await users.record_login(deps.pool, user["id"])
    async with deps.pool.acquire() as connection:
        key = await active_signing_key(connection)
    ttl = deps.settings.access_token_ttl
    token = issue_access_token(key, user["id"], user["role"], timedelta(seconds=ttl))
    return TokenResponse(access_token=token, expires_in=ttl)


@router.get("/auth/.well-known/jwks.json", tags=["auth"])
async def jwks(deps: Deps) -> dict[str, Any]:
    async with deps.pool.acquire() as connection:
        await active_signing_key(connection)
        return await public_jwks(connection)


@router.get("/auth/me", response_model=User, tags=["auth"])
async def me(principal: CurrentPrincipal, deps: Deps) -> User:
    return await _existing_user(deps, principal.user_id)


@router.post("/users", response_model=User, status_code=201, tags=["users"])
async def create_user(
    body: CreateUserRequest,
    deps: Deps,
    _: Annotated[Principal, require("users:write")],
) -> User:
    password_hash = hash_password(body.password)
    async with deps.pool.acquire() as connection, connection.transaction():
        user = await users.insert_user(connection, body.email, password_hash, body.role)
        if user is None:
            raise ApiError(409, "Conflict", f"A user with email {body.email} already exists")
        event = new_event("user.created", "auth", users.user_event_payload(user))
        await enqueue(connection, event, key=str(user["id"]))
    return User.model_validate(dict(user))


@router.get("/users/{user_id}", response_model=User, tags=["users"])
async def get_user(
    user_id: uuid.UUID, deps: Deps, _: Annotated[Principal, require("users:read")]
) -> User:
    return await _existing_user(deps, user_id)


async def _existing_user(deps: Resources, user_id: uuid.UUID) -> User:
    user = await users.user_by_id(deps.pool, user_id)
    if user is None:
        raise ApiError(404, "Not Found", f"User {user_id} does not exist")
    return User.model_validate(dict(user))
