"""Request and response bodies of the auth API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import EmailStr, Field

from shared.schemas import ApiModel

Role = Literal["admin", "manager", "agent", "viewer"]


class LoginRequest(ApiModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(ApiModel):
    access_token: str
    expires_in: int
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name, not a secret)


class CreateUserRequest(ApiModel):
    email: EmailStr
    password: str = Field(min_length=12, max_length=1024)
    role: Role


class User(ApiModel):
    id: uuid.UUID
    email: str
    role: Role
    is_active: bool
    failed_login_attempts: int
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime
