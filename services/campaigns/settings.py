"""The campaigns service's own settings: the scheduler, step retries and redrives."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import ServiceSettings, settings_of


class CampaignsSettings(ServiceSettings):
    """What only campaigns reads (the scheduler, step retries and redrives), beside the
    shared settings."""

    scheduler_interval_ms: int = Field(default=1000, ge=10)
    scheduler_batch_size: int = Field(default=500, ge=1)
    step_max_attempts: int = Field(default=3, ge=1, description="Per step run, before it fails")
    step_retry_delay: int = Field(default=300, ge=0, description="Seconds before a retry")
    step_redrive_after_s: int = Field(
        default=300, ge=1, description="An emitted step with no result yet is asked for again"
    )
    fail_campaign_on_step_failure: bool = False
    creditor_name: str = Field(
        default="Accounts receivable",
        min_length=1,
        description="Who is owed, as the debtor's portal names them",
    )
    portal_rate_limit_per_ip: int = Field(
        default=60, ge=1, description="Portal requests from one address per RATE_LIMIT_WINDOW"
    )
    stripe_secret_key: SecretStr | None = Field(
        default=None,
        description="Stripe's secret API key; without it, no payment is taken online",
    )
    stripe_webhook_secret: SecretStr | None = Field(
        default=None, description="The signing secret of Stripe's webhook endpoint (whsec_…)"
    )
    simulated_payments: bool = Field(
        default=False,
        description="Without a Stripe key, a simulated provider takes the portal's payments "
        "(no money moves: demos and tests, never production)",
    )
    stripe_api_base: str | None = Field(
        default=None, description="Another address for Stripe's API (a test double)"
    )
    plan_grace_days: int = Field(
        default=3,
        ge=0,
        le=30,
        description="Days an instalment may stay unpaid after its date before the plan counts "
        "as missed (its campaigns resume)",
    )
    pay_link_ttl: int = Field(
        default=30 * 86400,
        ge=86400 * 2,
        description="Seconds a debtor's link works; messages reuse it until its last day",
    )


def campaigns_settings() -> CampaignsSettings:
    """The campaigns service's settings, read once per process; a bad variable raises naming it."""
    return settings_of(CampaignsSettings)
