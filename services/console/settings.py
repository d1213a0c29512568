"""The console's settings: where the platform's services and Redis are, and its sessions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contacts import TimeZone
from shared.settings import settings_of

CONSOLE = "console"  # the name it runs under (`remit serve console`) and logs as


class ConsoleSettings(BaseSettings):
    """What the operator console reads. It owns no schema and consumes no events: it keeps its
    sessions in Redis and calls the services' public APIs with the signed-in user's token."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    redis_url: str = Field(description="Redis URL, e.g. redis://localhost:6379/0")
    auth_url: str = "http://127.0.0.1:8101"
    campaigns_url: str = "http://127.0.0.1:8102"
    agents_url: str = "http://127.0.0.1:8103"
    notifier_url: str = "http://127.0.0.1:8104"
    public_url: str = Field(
        default="http://127.0.0.1:8080", description="Base of links sent to people (resets)"
    )
    console_session_idle: int = Field(
        default=8 * 3600,
        ge=60,
        description="Seconds a console session lasts without a request (sign-in again after)",
    )
    console_timezone: TimeZone = Field(
        default="UTC",
        description="The team's time zone (IANA name): when the dashboard's day starts",
    )
    host: str = "127.0.0.1"
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-For is trusted for the client address",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    slow_request_ms: int = Field(default=1000, ge=1)

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS when people reach the platform over HTTPS."""
        return self.public_url.startswith("https://")


def console_settings() -> ConsoleSettings:
    """The console's settings, read once per process; a bad variable raises naming it."""
    return settings_of(ConsoleSettings)
