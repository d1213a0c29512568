"""The running platform the HTTP-level parts share (services and gateway on the bench stack),
and the bare FastAPI app their baselines run, served the way `remit serve` serves a service."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.devstack.platform import REPO_ROOT, Platform
from shared.devstack.processes import ManagedProcess, free_port, wait_for_port
from shared.settings import ServiceSettings
from tests.bench.bare_app import AUTH_URL_ENV, BODY_ENV, REDIS_URL_ENV


@dataclass(frozen=True)
class Live:
    stack: Platform
    settings: ServiceSettings
    email: str
    password: str

    @property
    def gateway(self) -> str:
        assert self.stack.gateway is not None
        return self.stack.gateway.url

    def pids(self) -> dict[str, int]:
        """Each service process by instance name."""
        return {name: process.pid for name, process in self.stack.services.items()}

    def infrastructure_pids(self) -> dict[str, int]:
        """The embedded Postgres (its postmaster; backends are its children) and broker."""
        pids: dict[str, int] = {}
        if self.stack.postgres is not None:
            pids["postgres"] = self.stack.postgres.process.pid
        if self.stack.kafka is not None:
            pids["broker"] = self.stack.kafka.process.pid
        return pids

    async def token(self) -> str:
        """A fresh access token for the bench's admin."""
        async with httpx.AsyncClient(base_url=self.gateway, timeout=30) as http:
            response = await http.post(
                "/api/v1/auth/login", json={"email": self.email, "password": self.password}
            )
            response.raise_for_status()
            return str(response.json()["accessToken"])


def same_work_env(settings: ServiceSettings) -> dict[str, str]:
    """What the same-work app needs: where the public keys and the cached reads are."""
    return {AUTH_URL_ENV: settings.auth_url, REDIS_URL_ENV: settings.redis_url}


@contextmanager
def bare_app(
    body: str, log_dir: Path, same_work: dict[str, str] | None = None
) -> Iterator[tuple[str, ManagedProcess]]:
    """The bare app on a free loopback port, answering `body`, or, given `same_work` (its
    environment: the auth URL and Redis URL), the same-work app; yields its URL and process."""
    port = free_port()
    process = ManagedProcess(
        "same-work-app" if same_work else "bare-app",
        [sys.executable, "-m", "tests.bench.bare_app", str(port)]
        + (["same-work"] if same_work else []),
        log_dir / ("same-work-app.log" if same_work else "bare-app.log"),
        env={**os.environ, BODY_ENV: body, **(same_work or {})},
        cwd=REPO_ROOT,
    )
    process.start()
    try:
        wait_for_port(port, 30, process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.stop()
