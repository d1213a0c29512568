"""Typed settings read from the environment: the database's (for `remit migrate`) and those every
service shares. Each service's own settings extend `ServiceSettings` in its `settings.py`."""

from __future__ import annotations

from datetime import date, time
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


class ServiceSettings(DatabaseSettings):
    """What every service reads, and the runtime library with it; names match the env vars
    (case-insensitive). A setting only one service reads belongs to that service's class."""

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
        default=10,
        ge=1,
        description="Refusals of one event while the broker takes others, one per back-off step",
    )
    processed_event_retention_hours: int = Field(
        default=336,
        ge=1,
        description="Dedup records; longer than OUTBOX_RETENTION_HOURS and topic retention",
    )

    # Read by the agents' worker, and by the diagnostics auth serves and `remit diagnose` runs.
    task_stuck_after: int = Field(
        default=3600,
        ge=1,
        description="Seconds an assigned or in-progress task may go unchanged before it is "
        "returned to the queue (1 h)",
    )

    # Every service verifies access tokens; auth issues them.
    access_token_ttl: int = Field(default=900, ge=30, description="Seconds (15 min default)")
    # Auth's reset links; the notifier's Twilio callbacks and webhook signatures.
    public_url: str = Field(
        default="http://127.0.0.1:8080", description="Base of links sent to people (resets)"
    )

    # Kept to by the campaigns scheduler and the notifier's send guards.
    contact_window_start: time = time(8, 0)
    contact_window_end: time = time(21, 0)
    contact_days: str = Field(default="mon,tue,wed,thu,fri,sat", description="Allowed weekdays")
    contact_holidays: str = Field(default="", description="Comma-separated dates, YYYY-MM-DD")
    clock_control: bool = Field(
        default=False,
        description="Admins may move the platform clock forward (tests, demos; not production)",
    )

    rate_limit_window: int = Field(default=900, ge=1, description="Seconds (15 min default)")
    api_rate_limit: int = Field(default=1000, ge=1, description="Requests per window per caller")

    # The read-through cache (shared/cache.py): the customer read today.
    cache_ttl: int = Field(default=60, ge=1, description="Seconds a cached read lives in Redis")
    cache_local_ttl: float = Field(
        default=5, ge=0, description="Seconds a process keeps its own copy (0: none)"
    )

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
    def _kafka_credentials(self) -> ServiceSettings:
        sasl = self.kafka_security_protocol.startswith("SASL")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        return self

    @model_validator(mode="after")
    def _window_order(self) -> ServiceSettings:
        if self.contact_window_start >= self.contact_window_end:
            raise ValueError("CONTACT_WINDOW_START must be before CONTACT_WINDOW_END")
        return self

    @model_validator(mode="after")
    def _guarantees_hold(self) -> ServiceSettings:
        # Else an event would be handled twice.
        if self.processed_event_retention_hours <= self.outbox_retention_hours:
            raise ValueError(
                "PROCESSED_EVENT_RETENTION_HOURS must exceed OUTBOX_RETENTION_HOURS: a broker "
                "that lost its data gets the kept outbox again, and consumers must recognise it"
            )
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


_loaded: dict[type[BaseSettings], BaseSettings] = {}


def settings_of(kind: type[AnySettings]) -> AnySettings:
    """The process's `kind`, read from the environment once (a service's own class, through
    the accessor in its `settings.py`); a missing or malformed variable raises naming it."""
    found = _loaded.get(kind)
    if isinstance(found, kind):
        return found
    loaded = load_settings(kind)
    _loaded[kind] = loaded
    return loaded


def forget_settings() -> None:
    """Read the environment again on the next `settings_of` (tests that change it)."""
    _loaded.clear()
