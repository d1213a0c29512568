"""Typed settings read from the environment, shared by every service and the stack runner."""

from __future__ import annotations

from datetime import date, time
from functools import lru_cache
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.contacts import parse_holidays, parse_weekdays
from shared.errors import ConfigurationError

AnySettings = TypeVar("AnySettings", bound=BaseSettings)
ServiceName = Literal["auth", "campaigns", "notifier", "agents"]
SERVICE_NAMES: tuple[ServiceName, ...] = ("auth", "campaigns", "notifier", "agents")


class DatabaseSettings(BaseSettings):
    """What jobs that only touch Postgres (migrations) need."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    database_url: str = Field(description="Postgres URL, e.g. postgresql://user:pw@host:5432/db")
    database_pool_min: int = Field(default=1, ge=0)
    database_pool_max: int = Field(default=10, ge=1)
    database_pool_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a request waits for a free connection before a 503",
    )
    database_statement_timeout: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a statement of a service may run before Postgres stops it "
        "(a 504 `Database query timed out`); 0: no limit",
    )

    @field_validator("database_url")
    @classmethod
    def _postgres_scheme(cls, value: str) -> str:
        if not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must start with postgresql://")
        return value


class Settings(DatabaseSettings):
    """Everything a service needs to run; names match the env vars (case-insensitive)."""

    redis_url: str = Field(description="Redis URL, e.g. redis://localhost:6379/0")
    operator_database_url: str | None = Field(
        default=None,
        description="A login that reads every schema, for the diagnostics (else DATABASE_URL)",
    )
    kafka_bootstrap_servers: str = Field(description="Comma-separated host:port list")
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="SASL_* with KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    kafka_request_timeout_ms: int = Field(default=30_000, ge=1000)
    kafka_consumer_max_retries: int = Field(default=3, ge=0)
    kafka_retry_backoff_ms: int = Field(default=200, ge=0)
    kafka_topic_partitions: int = Field(default=4, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_consumer_batch_size: int = Field(
        default=500, ge=1, description="Events one fetch hands to the service's partition lanes"
    )
    kafka_consumer_concurrency: int = Field(
        default=4, ge=1, description="Partition batches handled at once (each holds a connection)"
    )
    kafka_fetch_max_wait_ms: int = Field(default=100, ge=1)
    kafka_metadata_max_age_ms: int = Field(
        default=10_000, ge=1000, description="How soon clients see topics created or gone"
    )
    kafka_epoch_check_interval_ms: int = Field(
        default=2_000, ge=100, description="How often a service checks the broker forgot nothing"
    )
    shutdown_drain_s: float = Field(
        default=10.0, ge=0, description="On stop: time to finish batches and publish the outbox"
    )

    outbox_poll_interval_ms: int = Field(default=1000, ge=10)
    outbox_batch_size: int = Field(default=500, ge=1)
    outbox_retention_hours: int = Field(default=168, ge=1, description="Published outbox rows")
    outbox_max_failures: int = Field(
        default=10, ge=1, description="Refusals of one event while the broker takes others"
    )
    processed_event_retention_hours: int = Field(
        default=336,
        ge=1,
        description="Dedup records; longer than OUTBOX_RETENTION_HOURS and topic retention",
    )

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
    send_concurrency: int = Field(default=8, ge=1, description="Sends in flight per channel")
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

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = Field(default=None, description="Another OpenAI-compatible API")
    openai_model: str = "gpt-4o-mini"
    openai_temperature: float = Field(default=0.3, ge=0, le=2)
    openai_timeout: float = Field(default=20.0, gt=0, description="Seconds per request")
    openai_max_retries: int = Field(
        default=3, ge=0, description="429/5xx/timeouts, exponential backoff with jitter"
    )

    task_stuck_after: int = Field(
        default=3600,
        ge=1,
        description="Seconds an assigned or in-progress task may go unchanged before it is "
        "returned to the queue (1 h)",
    )
    ai_task_lease: int = Field(
        default=120,
        ge=1,
        description="Seconds an AI task may compose before it is taken up again; keep above "
        "OPENAI_TIMEOUT x (OPENAI_MAX_RETRIES + 1)",
    )
    agent_heartbeat_timeout: int = Field(default=90, ge=1, description="Seconds")
    task_max_send_attempts: int = Field(default=3, ge=1)
    agents_worker_interval_ms: int = Field(default=500, ge=10)
    reply_min_confidence: float = Field(default=0.6, ge=0, le=1)

    access_token_ttl: int = Field(default=900, ge=30, description="Seconds (15 min default)")
    refresh_token_ttl: int = Field(default=14 * 86400, ge=60, description="Seconds")
    session_max_age: int = Field(
        default=30 * 86400, ge=60, description="Seconds a login lasts, however often refreshed"
    )
    password_reset_ttl: int = Field(default=1800, ge=60, description="Seconds")
    max_failed_logins: int = Field(default=5, ge=1)
    lockout_duration: int = Field(default=900, ge=1, description="Seconds an account stays locked")
    public_url: str = Field(
        default="http://127.0.0.1:8080", description="Base of links sent to people (resets)"
    )

    contact_window_start: time = time(8, 0)
    contact_window_end: time = time(21, 0)
    contact_days: str = Field(default="mon,tue,wed,thu,fri,sat", description="Allowed weekdays")
    contact_holidays: str = Field(default="", description="Comma-separated dates, YYYY-MM-DD")
    clock_control: bool = Field(
        default=False,
        description="Admins may move the platform clock forward (tests, demos; not production)",
    )
    scheduler_interval_ms: int = Field(default=1000, ge=10)
    scheduler_batch_size: int = Field(default=500, ge=1)
    step_max_attempts: int = Field(default=3, ge=1, description="Per step run, before it fails")
    step_retry_delay: int = Field(default=300, ge=0, description="Seconds before a retry")
    step_redrive_after_s: int = Field(
        default=300, ge=1, description="An emitted step with no result yet is asked for again"
    )
    fail_campaign_on_step_failure: bool = False
    cache_ttl: int = Field(default=60, ge=1, description="Seconds a cached read may live")

    rate_limit_window: int = Field(default=900, ge=1, description="Seconds (15 min default)")
    api_rate_limit: int = Field(default=1000, ge=1, description="Requests per window per caller")
    login_rate_limit_per_ip: int = Field(default=100, ge=1)
    login_rate_limit_per_account: int = Field(default=10, ge=1)
    admin_email: str = "admin@example.com"
    admin_password: SecretStr | None = None

    otel_exporter_otlp_endpoint: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    slow_request_ms: int = Field(default=1000, ge=1)
    memory_warn_mb: int = Field(
        default=512, ge=16, description="A service above this resident memory logs a warning"
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="Larger bodies get 413")

    host: str = "127.0.0.1"
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-For is trusted for the client address",
    )
    auth_url: str = "http://127.0.0.1:8101"
    campaigns_url: str = "http://127.0.0.1:8102"
    agents_url: str = "http://127.0.0.1:8103"
    notifier_url: str = "http://127.0.0.1:8104"
    health_timeout_ms: int = Field(default=2000, ge=10)

    @field_validator("contact_days")
    @classmethod
    def _weekdays(cls, value: str) -> str:
        if not parse_weekdays(value):
            raise ValueError("needs at least one weekday")
        return value

    @field_validator("contact_holidays")
    @classmethod
    def _dates(cls, value: str) -> str:
        try:
            parse_holidays(value)
        except ValueError:
            raise ValueError("must be comma-separated dates, YYYY-MM-DD") from None
        return value

    @property
    def contact_weekdays(self) -> frozenset[int]:
        return parse_weekdays(self.contact_days)

    @property
    def contact_holiday_dates(self) -> frozenset[date]:
        return parse_holidays(self.contact_holidays)

    @model_validator(mode="after")
    def _kafka_credentials(self) -> Settings:
        sasl = self.kafka_security_protocol.startswith("SASL")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        return self

    @model_validator(mode="after")
    def _window_order(self) -> Settings:
        if self.contact_window_start >= self.contact_window_end:
            raise ValueError("CONTACT_WINDOW_START must be before CONTACT_WINDOW_END")
        return self

    @model_validator(mode="after")
    def _guarantees_hold(self) -> Settings:
        # Each of these would let an event or a message be handled twice.
        if self.processed_event_retention_hours <= self.outbox_retention_hours:
            raise ValueError(
                "PROCESSED_EVENT_RETENTION_HOURS must exceed OUTBOX_RETENTION_HOURS: a broker "
                "that lost its data gets the kept outbox again, and consumers must recognise it"
            )
        if self.send_deadline_s < 2 * self.smtp_timeout_s:
            raise ValueError("SEND_DEADLINE_S must be at least twice SMTP_TIMEOUT_S")
        if self.sending_settle_after_s <= self.send_deadline_s:
            raise ValueError("SENDING_SETTLE_AFTER_S must exceed SEND_DEADLINE_S")
        return self

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://")):
            raise ValueError("must start with redis:// or rediss://")
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError("must be a comma-separated list of host:port")
        return value

    def service_url(self, service: ServiceName) -> str:
        return str(getattr(self, f"{service}_url"))


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad variable, named as the operator sets it."""
    lines = []
    for problem in error.errors():
        variable = "_".join(str(part) for part in problem["loc"]).upper()
        if problem["type"] == "missing":
            lines.append(f"{variable} is required but not set")
        elif not variable:
            lines.append(str(problem["msg"]).removeprefix("Value error, "))
        else:
            lines.append(f"{variable} is invalid: {problem['msg']}")
    return "; ".join(lines)


def load_settings(kind: type[AnySettings], **values: Any) -> AnySettings:
    """`kind` from the environment (and `values`); a bad variable raises naming it."""
    try:
        return kind(**values)
    except ValidationError as error:
        raise ConfigurationError(describe_validation_error(error)) from None


@lru_cache
def get_settings() -> Settings:
    """The process's settings; a missing or malformed variable stops start-up naming it."""
    return load_settings(Settings)
