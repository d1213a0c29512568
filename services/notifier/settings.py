"""The notifier service's own settings: Twilio, SMTP, send rates and deadlines."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from shared.settings import ServiceSettings, settings_of


class NotifierSettings(ServiceSettings):
    """What only the notifier reads (Twilio, SMTP, send rates, Regulation F's call cap,
    deadlines and concurrency), beside the shared settings."""

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_api_url: str | None = Field(
        default=None, description="Another Twilio API base URL (a test double or a proxy)"
    )
    sms_rate_per_second: int = Field(default=10, ge=1, description="Per sender number")
    voice_rate_per_second: int = Field(default=1, ge=1, description="Per sender number")
    email_rate_per_second: int = Field(default=20, ge=1, description="Per sender address")
    max_calls_per_debt_per_week: int = Field(default=7, ge=1, description="Regulation F")
    provider_max_retries: int = Field(default=3, ge=0, description="Twilio 429/5xx, backoff")
    smtp_timeout_s: float = Field(
        default=15.0, gt=0, description="Each half of an SMTP send: before the data, the data"
    )
    send_deadline_s: float = Field(
        default=45.0, gt=0, description="One provider call, retries included; then unknown"
    )
    send_concurrency: int = Field(
        default=8,
        ge=1,
        le=1000,
        description="Emails in flight (SMTP connections) per notifier process",
    )
    twilio_send_concurrency: int = Field(
        default=64,
        ge=1,
        le=1000,  # a send pass holds at most 1,000 messages (the sender's MAX_PASS)
        description="Text messages, and calls, in flight to Twilio per notifier process (its API "
        "takes many requests at once)",
    )
    sending_settle_after_s: int = Field(
        default=600, ge=1, description="A send left `sending` this long was interrupted"
    )

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "ssl"] = "none"
    smtp_from: str = "Remit <billing@remit.local>"
    smtp_reply_to: str | None = Field(default=None, description="Defaults to SMTP_FROM's address")

    @model_validator(mode="after")
    def _deadlines_hold(self) -> NotifierSettings:
        # Each of these would let a message be handled twice.
        if self.send_deadline_s < 2 * self.smtp_timeout_s:
            raise ValueError("SEND_DEADLINE_S must be at least twice SMTP_TIMEOUT_S")
        if self.sending_settle_after_s <= self.send_deadline_s:
            raise ValueError("SENDING_SETTLE_AFTER_S must exceed SEND_DEADLINE_S")
        return self


def notifier_settings() -> NotifierSettings:
    """The notifier service's settings, read once per process; a bad variable raises naming it."""
    return settings_of(NotifierSettings)
