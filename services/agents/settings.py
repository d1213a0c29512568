"""The agents service's own settings: OpenAI, the worker, leases and heartbeats, replies."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import ServiceSettings, settings_of


class AgentsSettings(ServiceSettings):
    """What only agents reads (OpenAI, the worker's pace, AI task leases, heartbeats, send
    attempts, reply confidence), beside the shared settings."""

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = Field(default=None, description="Another OpenAI-compatible API")
    openai_model: str = "gpt-4o-mini"
    openai_temperature: float = Field(default=0.3, ge=0, le=2)
    openai_timeout: float = Field(default=20.0, gt=0, description="Seconds per request")
    openai_max_retries: int = Field(
        default=3, ge=0, description="429/5xx/timeouts, exponential backoff with jitter"
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


def agents_settings() -> AgentsSettings:
    """The agents service's settings, read once per process; a bad variable raises naming it."""
    return settings_of(AgentsSettings)
