"""The auth service's own settings: refresh tokens and sessions, password resets, lock-out,
login limits, the first admin."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import ServiceSettings, settings_of


class AuthSettings(ServiceSettings):
    """What only auth reads (refresh tokens and sessions, password resets, lock-out, login
    limits, the first admin), beside the shared settings."""

    refresh_token_ttl: int = Field(default=14 * 86400, ge=60, description="Seconds")
    session_max_age: int = Field(
        default=30 * 86400, ge=60, description="Seconds a login lasts, however often refreshed"
    )
    password_reset_ttl: int = Field(default=1800, ge=60, description="Seconds")
    invitation_ttl: int = Field(
        default=7 * 86400, ge=60, description="Seconds a new user's invitation link works"
    )
    max_failed_logins: int = Field(default=5, ge=1)
    lockout_duration: int = Field(default=900, ge=1, description="Seconds an account stays locked")
    login_rate_limit_per_ip: int = Field(default=100, ge=1)
    login_rate_limit_per_account: int = Field(default=10, ge=1)
    admin_email: str = "admin@example.com"
    admin_password: SecretStr | None = None


def auth_settings() -> AuthSettings:
    """The auth service's settings, read once per process; a bad variable raises naming it."""
    return settings_of(AuthSettings)
