"""HTTP routes of the auth service: sign-in, sessions, keys and password resets."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Request, Response
from starlette.background import BackgroundTask

from services.auth.api.schemas import (
    LoginRequest,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    SigningKeyInfo,
    TokenResponse,
    User,
)
from services.auth.api.users import email_password_link, existing_user
from services.auth.domain.lockout import Outcome, decide
from services.auth.domain.password_policy import password_problem
from services.auth.domain.passwords import DUMMY_HASH, hash_password, verify_password
from services.auth.settings import auth_settings
from services.auth.stores import resets, revocations, sessions, unknown_accounts, users
from services.auth.stores.keys import (
    active_signing_key,
    issue_access_token,
    public_jwks,
    rotate_signing_key,
)
from shared.db import DATABASE_ERRORS, Connection
from shared.errors import ApiError
from shared.openapi import error_responses
from shared.ratelimit import client_ip, enforce
from shared.resources import Deps, Resources
from shared.security import CurrentPrincipal, Principal, require, revoke_access_tokens

logger = logging.getLogger(__name__)

router = APIRouter(tags=["auth"])
INVALID_CREDENTIALS = ApiError(401, "Invalid credentials", "Email or password is incorrect")


async def _issue_tokens(
    deps: Resources, connection: Connection, user_id: uuid.UUID, role: str, refresh: str
) -> TokenResponse:
    key = await active_signing_key(connection)
    ttl = deps.settings.access_token_ttl
    access = issue_access_token(key, user_id, role, timedelta(seconds=ttl))
    return TokenResponse(access_token=access, refresh_token=refresh, expires_in=ttl)


@router.post("/auth/login", response_model=TokenResponse, responses=error_responses(401, 403))
async def login(body: LoginRequest, deps: Deps, request: Request) -> TokenResponse:
    settings = auth_settings()
    enforce(
        request,
        [
            await deps.limiter.hit(
                settings.login_rate_limit_per_ip, "login-ip", client_ip(request)
            ),
            await deps.limiter.hit(
                settings.login_rate_limit_per_account, "login-account", body.email.lower()
            ),
        ],
    )
    user = await users.user_by_email(deps.pool, body.email)
    # Unknown emails pay for a hash check too, so timing does not reveal which accounts exist.
    known_hash = user["password_hash"] if user else DUMMY_HASH
    password_ok = await verify_password(known_hash, body.password)
    now = datetime.now(UTC)
    lockout = timedelta(seconds=settings.lockout_duration)
    if user is None:
        locked_until = await unknown_accounts.record_failure(
            deps.redis, body.email, now, settings.max_failed_logins, lockout
        )
        raise _locked(locked_until) if locked_until else INVALID_CREDENTIALS
    async with deps.pool.acquire() as connection, connection.transaction():
        # Locked and re-read: concurrent guesses on one account are counted one by one.
        current = await users.user_by_email(connection, body.email, lock=True)
        assert current is not None
        decision = decide(
            password_ok=password_ok,
            is_active=current["is_active"],
            failed_attempts=current["failed_login_attempts"],
            locked_until=current["locked_until"],
            now=now,
            max_failed=settings.max_failed_logins,
            lockout=lockout,
        )
        if decision.failed_attempts is not None:
            await users.record_failed_login(
                connection, current["id"], decision.failed_attempts, decision.lock_until
            )
        if decision.outcome is Outcome.SUCCESS:
            await users.record_login(connection, current["id"])
            refresh = await sessions.open_family(
                connection, current["id"], timedelta(seconds=settings.refresh_token_ttl)
            )
            return await _issue_tokens(deps, connection, current["id"], current["role"], refresh)
    if decision.outcome is Outcome.LOCKED:
        raise _locked(decision.lock_until)
    if decision.outcome is Outcome.DISABLED:
        raise ApiError(403, "Account is disabled", "Contact an administrator to reactivate it")
    raise INVALID_CREDENTIALS


def _locked(until: datetime | None) -> ApiError:
    assert until is not None
    return ApiError(
        403, "Account is locked", f"Too many failed logins; try again after {until.isoformat()}"
    )


@router.post("/auth/refresh", response_model=TokenResponse, responses=error_responses(401, 403))
async def refresh(body: RefreshRequest, deps: Deps) -> TokenResponse:
    ttl = timedelta(seconds=auth_settings().refresh_token_ttl)
    async with deps.pool.acquire() as connection:
        async with connection.transaction():
            rotation = await sessions.rotate(
                connection,
                body.refresh_token,
                ttl,
                timedelta(seconds=auth_settings().session_max_age),
            )
        if rotation.refused is sessions.Refusal.EXPIRED:
            raise ApiError(401, "Token expired", "Refresh token has expired; log in again")
        if rotation.refused is sessions.Refusal.REUSED:
            raise ApiError(
                401, "Invalid token", "Refresh token was already used; the session is revoked"
            )
        if rotation.refused is not None or rotation.user_id is None:
            raise ApiError(401, "Invalid token", "Refresh token is not valid; log in again")
        user = await users.user_by_id(connection, rotation.user_id)
        if user is None or not user["is_active"]:
            raise ApiError(403, "Account is disabled", "Contact an administrator to reactivate it")
        assert rotation.refresh_token is not None
        return await _issue_tokens(
            deps, connection, user["id"], user["role"], rotation.refresh_token
        )


@router.post("/auth/logout", status_code=204)
async def logout(body: RefreshRequest, deps: Deps) -> Response:
    """Ends the session the refresh token belongs to (all its tokens)."""
    async with deps.pool.acquire() as connection:
        family = await sessions.family_of(connection, body.refresh_token)
        if family is not None:
            await sessions.revoke_family(connection, family, "logout")
    return Response(status_code=204)


@router.get("/auth/me", response_model=User, responses=error_responses(404))
async def me(principal: CurrentPrincipal, deps: Deps) -> User:
    return await existing_user(deps, principal.user_id)


@router.get("/auth/.well-known/jwks.json")
async def jwks(deps: Deps) -> dict[str, object]:
    """The public keys that verify access tokens (current and recently retired)."""
    async with deps.pool.acquire() as connection:
        await active_signing_key(connection)
        return await public_jwks(connection, deps.settings.access_token_ttl)


@router.post("/auth/keys/rotate", response_model=SigningKeyInfo, status_code=201)
async def rotate_keys(
    deps: Deps, _: Annotated[Principal, require("keys:rotate")]
) -> SigningKeyInfo:
    """Start signing with a new key; tokens signed with the old one stay valid until they expire."""
    async with deps.pool.acquire() as connection:
        key = await rotate_signing_key(connection)
    return SigningKeyInfo(kid=key.kid)


@router.post("/auth/password-reset", status_code=202, response_class=Response)
async def request_password_reset(
    body: PasswordResetRequest, deps: Deps, request: Request
) -> Response:
    """Always 202, known email or not; an active account gets an emailed single-use link."""
    enforce(
        request,
        [
            await deps.limiter.hit(
                auth_settings().login_rate_limit_per_ip, "reset-ip", client_ip(request)
            ),
            await deps.limiter.hit(
                auth_settings().login_rate_limit_per_account, "reset-account", body.email.lower()
            ),
        ],
    )
    # The answer goes out before the account is even looked up: it takes the same path and
    # time whether or not the email has an account.
    return Response(
        status_code=202,
        background=BackgroundTask(_send_reset_link, deps, body.email),
    )


async def _send_reset_link(deps: Resources, email: str) -> None:
    """An active account gets an emailed single-use link; any other email, nothing. Runs
    after the answer, still within the request (its ID and trace)."""
    try:
        user = await users.user_by_email(deps.pool, email)
        if user is None or not user["is_active"]:
            return
        async with deps.pool.acquire() as connection, connection.transaction():
            await email_password_link(connection, deps, user, invitation=False)
    except DATABASE_ERRORS as error:
        # The answer has gone; the user asks again.
        logger.warning("password reset not recorded", extra={"error": repr(error)})


@router.post("/auth/password-reset/confirm", status_code=204)
async def confirm_password_reset(body: PasswordResetConfirm, deps: Deps) -> Response:
    """Sets the new password and ends every session of the account."""
    password_hash = await hash_password(body.new_password)
    async with deps.pool.acquire() as connection, connection.transaction():
        user_id = await resets.consume_reset(connection, body.token)
        if user_id is None:
            raise ApiError(400, "Invalid token", "The reset link is invalid, used or expired")
        account = await users.user_by_id(connection, user_id)
        problem = password_problem(body.new_password, account["email"] if account else None)
        if problem:  # the link stays usable: this transaction is rolled back
            raise ApiError(400, "Validation error", problem.replace('"password"', '"newPassword"'))
        await users.set_password(connection, user_id, password_hash)
        await sessions.revoke_all_sessions(connection, user_id, "password reset")
        await revocations.record(connection, user_id)
    await revoke_access_tokens(deps.redis, user_id, deps.settings.access_token_ttl)
    return Response(status_code=204)
