"""Request and response bodies of the auth API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from confusable_homoglyphs import confusables
from pydantic import AfterValidator, EmailStr, Field, model_validator

from services.auth.domain.password_policy import MAX_LENGTH, MIN_LENGTH, password_problem
from shared.schemas import ApiModel, ApiResponse

Role = Literal["admin", "manager", "agent", "viewer"]
Password = Field(
    min_length=MIN_LENGTH,
    max_length=MAX_LENGTH,
    description="Not a common password, nor built on the account's email name",
)


class LoginRequest(ApiModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(ApiResponse):
    access_token: str
    refresh_token: str
    expires_in: int = Field(description="Seconds until the access token expires")
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name, not a secret)


class RefreshRequest(ApiModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class PasswordResetRequest(ApiModel):
    email: EmailStr


class PasswordResetConfirm(ApiModel):
    token: str = Field(min_length=1, max_length=512)
    new_password: str = Password

    @model_validator(mode="after")
    def _allowed_password(self) -> PasswordResetConfirm:
        problem = password_problem(self.new_password)  # the email name: once the token is read
        if problem:
            raise ValueError(problem.replace('"password"', '"newPassword"'))
        return self


def _one_script(email: str) -> str:
    """An account's email may not mix scripts with look-alike characters (`admin@…` written
    with a Cyrillic a beside an existing Latin `admin@…`): it would pass for that account."""
    if confusables.is_dangerous(email, preferred_aliases=["latin"]):
        raise ValueError(
            "mixes scripts with look-alike characters (such as a Cyrillic a among Latin "
            "letters); spell the address in one script"
        )
    return email


class CreateUserRequest(ApiModel):
    email: Annotated[EmailStr, AfterValidator(_one_script)]
    password: str | None = Field(
        default=None,
        min_length=MIN_LENGTH,
        max_length=MAX_LENGTH,
        description="The first password; without one, the user is emailed an invitation to "
        "choose their own (the link works for INVITATION_TTL seconds)",
    )
    role: Role

    @model_validator(mode="after")
    def _allowed_password(self) -> CreateUserRequest:
        problem = password_problem(self.password, self.email) if self.password else None
        if problem:
            raise ValueError(problem)
        return self


class UpdateUserRequest(ApiModel):
    role: Role | None = None
    is_active: bool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateUserRequest:
        if self.role is None and self.is_active is None:
            raise ValueError("Give at least one of role, isActive")
        return self


class User(ApiResponse):
    id: uuid.UUID
    email: str
    role: Role
    is_active: bool
    failed_login_attempts: int
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime


class UserPage(ApiResponse):
    items: list[User]
    total: int
    limit: int
    offset: int


class SigningKeyInfo(ApiResponse):
    kid: str
