"""The whole platform on one machine: embedded servers where no URL is given, four services
as separate processes, and the gateway in front of them."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.console.settings import CONSOLE
from shared.devstack import discovery
from shared.devstack.credentials import Credentials, load_or_create
from shared.devstack.processes import ManagedProcess, ensure_port_free, free_port, wait_for_port
from shared.devstack.servers import (
    EmbeddedKafka,
    EmbeddedPostgres,
    EmbeddedRedis,
    Gateway,
    SmtpSink,
)
from shared.roles import OPERATOR, OWNER, adopt_schemas, ensure_roles, service_role
from shared.settings import (
    SERVICE_NAMES,
    AnySettings,
    ServiceName,
    ServiceSettings,
    load_settings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# A stopping service drains for up to twice SHUTDOWN_DRAIN_S (10 s by default): its batches in
# flight, then its outbox.
SERVICE_STOP_TIMEOUT_S = 30.0
DATABASE_LOGINS = ("DATABASE_URL", "OPERATOR_DATABASE_URL")


class StackSettings(BaseSettings):
    """Where `remit up` puts things; every port is a variable of its own."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = None
    redis_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    smtp_host: str | None = None

    state_dir: Path = Path(".state")
    gateway_port: int = Field(default=8080, ge=1, le=65535)
    auth_port: int = Field(default=8101, ge=1, le=65535)
    campaigns_port: int = Field(default=8102, ge=1, le=65535)
    agents_port: int = Field(default=8103, ge=1, le=65535)
    notifier_port: int = Field(default=8104, ge=1, le=65535)
    console_port: int = Field(default=8105, ge=1, le=65535)
    postgres_port: int = Field(default=55432, ge=1, le=65535)
    redis_port: int = Field(default=56379, ge=1, le=65535)
    kafka_port: int = Field(default=19092, ge=1, le=65535)
    smtp_port: int = Field(default=2525, ge=1, le=65535)
    startup_timeout_s: float = 60.0

    def service_port(self, service: ServiceName) -> int:
        return int(getattr(self, f"{service}_port"))


def isolated_settings(state_dir: Path) -> StackSettings:
    """Settings for a private stack (tests, benchmarks): every port free, state in `state_dir`."""
    ports: dict[str, Any] = {
        name: free_port() for name in StackSettings.model_fields if name.endswith("_port")
    }
    return StackSettings(state_dir=state_dir, **ports)


class Platform:
    """Starts and stops everything `remit up` runs, in dependency order."""

    def __init__(
        self,
        settings: StackSettings,
        extra_env: dict[str, str] | None = None,
        replicas: dict[ServiceName, int] | None = None,
    ) -> None:
        self.settings = settings
        self.state_dir = settings.state_dir.resolve()
        self.log_dir = self.state_dir / "logs"
        self.extra_env = extra_env or {}
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self.kafka: EmbeddedKafka | None = None
        self.smtp: SmtpSink | None = None
        # Instance name ("agents", "agents-2", ...) -> its port; replicas beyond the first get
        # free ports and sit behind the gateway with the first.
        self.instances: dict[str, tuple[ServiceName, int]] = {}
        for name in SERVICE_NAMES:
            self.instances[name] = (name, settings.service_port(name))
            for number in range(2, (replicas or {}).get(name, 1) + 1):
                self.instances[f"{name}-{number}"] = (name, free_port())
        self.services: dict[str, ManagedProcess] = {}
        # The embedded Postgres's login of each role (shared/roles.py); empty when the
        # database is given by URL (one login for everything, as given).
        self.role_urls: dict[str, str] = {}
        self.gateway: Gateway | None = None
        self.env: dict[str, str] = {}

    def _check_ports(self) -> None:
        s = self.settings
        wanted = [("GATEWAY_PORT", s.gateway_port)]
        wanted += [(f"{name.upper()}_PORT", s.service_port(name)) for name in SERVICE_NAMES]
        wanted.append(("CONSOLE_PORT", s.console_port))
        if not s.database_url:
            wanted.append(("POSTGRES_PORT", s.postgres_port))
        if not s.redis_url:
            wanted.append(("REDIS_PORT", s.redis_port))
        if not s.kafka_bootstrap_servers:
            wanted.append(("KAFKA_PORT", s.kafka_port))
        if not s.smtp_host:
            wanted.append(("SMTP_PORT", s.smtp_port))
        for variable, port in wanted:
            ensure_port_free(port, variable)

    def start_infrastructure(self) -> dict[str, str]:
        """Embedded Postgres, Redis, broker and SMTP sink for each URL not given."""
        self._check_ports()
        s = self.settings
        env: dict[str, str] = {}
        credentials = load_or_create(self.state_dir)
        if s.database_url:
            env["DATABASE_URL"] = s.database_url
        else:
            self.postgres = EmbeddedPostgres(
                self.state_dir / "postgres",
                s.postgres_port,
                self.log_dir,
                credentials.postgres_password,
            )
            self.postgres.start()
            asyncio.run(_create_database(self.postgres.admin_url, self.postgres.database))
            asyncio.run(_set_up_roles(self.postgres.url, credentials, self.postgres.database))
            self.role_urls = {
                role: self.postgres.url_for(role, password)
                for role, password in credentials.roles.items()
            }
            env["DATABASE_URL"] = self.postgres.url
        if s.redis_url:
            env["REDIS_URL"] = s.redis_url
        else:
            self.redis = EmbeddedRedis(
                s.redis_port, self.state_dir / "redis", self.log_dir, credentials.redis_password
            )
            self.redis.start()
            env["REDIS_URL"] = self.redis.url
        if s.kafka_bootstrap_servers:
            env["KAFKA_BOOTSTRAP_SERVERS"] = s.kafka_bootstrap_servers
        else:
            self.kafka = EmbeddedKafka(s.kafka_port, self.log_dir)
            self.kafka.start()
            env["KAFKA_BOOTSTRAP_SERVERS"] = self.kafka.bootstrap_servers
            # Tansu makes every group join wait session/2: use Kafka's lowest sane values.
            for variable, value in (
                ("KAFKA_SESSION_TIMEOUT_MS", "6000"),
                ("KAFKA_HEARTBEAT_INTERVAL_MS", "500"),
            ):
                env[variable] = os.environ.get(variable, value)
        if not s.smtp_host:
            self.smtp = SmtpSink(s.smtp_port, self.state_dir / "mail", self.log_dir)
            self.smtp.start()
            env.update(
                {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(s.smtp_port), "SMTP_TLS": "none"}
            )
        for name in SERVICE_NAMES:
            env[f"{name.upper()}_URL"] = f"http://127.0.0.1:{s.service_port(name)}"
        # The embedded stack shows the whole payment loop without a Stripe account.
        env["SIMULATED_PAYMENTS"] = os.environ.get("SIMULATED_PAYMENTS", "true")
        # Links in emails (password resets) point at this gateway unless told otherwise.
        env["PUBLIC_URL"] = os.environ.get("PUBLIC_URL", f"http://127.0.0.1:{s.gateway_port}")
        self.env = {**os.environ, **env, **self.extra_env}
        return env

    def service_settings(self) -> ServiceSettings:
        """The settings every service gets, for work done in this process (migrations, tests)."""
        return self.settings_for(ServiceSettings)

    def settings_for(self, kind: type[AnySettings]) -> AnySettings:
        """`kind` (a service's own class, e.g. `AuthSettings`) as the services get it: from
        this platform's environment; a bad variable raises naming it."""
        fields = kind.model_fields
        values: dict[str, Any] = {k.lower(): v for k, v in self.env.items() if k.lower() in fields}
        return load_settings(kind, **values)

    def start_services(self) -> None:
        for instance in self.instances:
            self.start_instance(instance, wait=False)
        for instance in self.instances:
            self.wait_instance(instance)
        self._start_console()
        upstreams: dict[str, list[int]] = {CONSOLE: [self.settings.console_port]}
        for service, port in self.instances.values():
            upstreams.setdefault(service, []).append(port)
        self.gateway = Gateway(self.settings.gateway_port, upstreams, self.log_dir)
        self.gateway.start()
        discovery.announce(
            self.state_dir,
            discovery.RunningPlatform(
                os.getpid(), self.operator_env(), self.log_dir, self.gateway.url
            ),
        )

    def _start_console(self) -> None:
        """The operator console, which the gateway serves at its root."""
        port = self.settings.console_port
        console = ManagedProcess(
            CONSOLE,
            [sys.executable, "-m", "shared.ops.cli", "serve", CONSOLE, "--port", str(port)],
            self.log_dir / f"{CONSOLE}.log",
            # It calls the services' APIs and never the database: no login to one.
            env={k: v for k, v in self.env.items() if k not in DATABASE_LOGINS},
            cwd=REPO_ROOT,
        )
        console.start()
        self.services[CONSOLE] = console
        wait_for_port(port, self.settings.startup_timeout_s, console)

    def operator_env(self) -> dict[str, str]:
        """What the operators' commands need to reach this platform: the settings every service
        shares, with the owner's database login (`remit dlq replay` records its replays)."""
        fields = {name.upper() for name in ServiceSettings.model_fields}
        env = {name: value for name, value in self.env.items() if name in fields}
        env["DATABASE_URL"] = self.migration_url
        if OPERATOR in self.role_urls:
            env["OPERATOR_DATABASE_URL"] = self.role_urls[OPERATOR]
        return env

    def start_instance(self, instance: str, wait: bool = True) -> ManagedProcess:
        """(Re)start one service process, e.g. after a test killed it."""
        service, port = self.instances[instance]
        process = ManagedProcess(
            instance,
            [sys.executable, "-m", "shared.ops.cli", "serve", service, "--port", str(port)],
            self.log_dir / f"{instance}.log",
            env={**self.env, **self._database_logins(service)},
            cwd=REPO_ROOT,
        )
        process.start()
        self.services[instance] = process
        if wait:
            self.wait_instance(instance)
        return process

    def _database_logins(self, service: ServiceName) -> dict[str, str]:
        """A service logs in as its own role; auth, which serves the diagnostics, also gets
        the operator's login for them."""
        if not self.role_urls:
            return {}
        logins = {"DATABASE_URL": self.role_urls[service_role(service)]}
        if service == "auth":
            logins["OPERATOR_DATABASE_URL"] = self.role_urls[OPERATOR]
        return logins

    @property
    def migration_url(self) -> str:
        """Who runs the migrations: the owner role, or the one login given."""
        return self.role_urls.get(OWNER) or self.env["DATABASE_URL"]

    def wait_instance(self, instance: str) -> None:
        wait_for_port(
            self.instances[instance][1], self.settings.startup_timeout_s, self.services[instance]
        )

    def wait_healthy(self) -> dict[str, object]:
        """Poll the platform health through the gateway until every part is up."""
        assert self.gateway is not None
        deadline = time.monotonic() + self.settings.startup_timeout_s
        last: object = None
        while time.monotonic() < deadline:
            for name, process in self.services.items():
                if not process.running:
                    raise RuntimeError(f"{name} exited during start-up:\n{process.tail()}")
            try:
                response = httpx.get(f"{self.gateway.url}/api/v1/health", timeout=5)
                last = response.json()
                if response.status_code == 200:
                    return dict(response.json())
            except (httpx.HTTPError, ValueError) as error:
                last = repr(error)
            time.sleep(0.5)
        raise TimeoutError(f"platform not healthy after {self.settings.startup_timeout_s}s: {last}")

    def stop_services(self) -> None:
        """Intake first (the gateway), then every service at once: each finishes its batches and
        publishes its outbox while the others still consume; the broker stops after them."""
        if self.gateway:
            self.gateway.stop()
        for process in self.services.values():
            process.ask_to_stop()
        for process in self.services.values():
            process.stop(timeout=SERVICE_STOP_TIMEOUT_S)
        self.services.clear()

    def stop(self) -> None:
        discovery.withdraw(self.state_dir)
        self.stop_services()
        for part in (self.smtp, self.kafka, self.redis, self.postgres):
            if part is not None:
                part.stop()


async def _set_up_roles(url: str, credentials: Credentials, database: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        await ensure_roles(connection, credentials.roles, database)
        await adopt_schemas(connection)
    finally:
        await connection.close()


async def _create_database(admin_url: str, database: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url)
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await connection.execute(f'CREATE DATABASE "{database}"')
    finally:
        await connection.close()
    # The diagnostics' slowest statements read pg_stat_statements (preloaded at start-up).
    connection = await asyncpg.connect(admin_url.rsplit("/", 1)[0] + f"/{database}")
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    finally:
        await connection.close()
