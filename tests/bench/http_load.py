"""HTTP: an authenticated `GET /api/v1/customers/{id}` (token check, API rate limit, cached
read) under 32 concurrent clients, through the gateway and straight at the campaigns service;
baselines: the bare FastAPI app (tests/bench/bare_app.py) answering the same JSON, and the
same-work app doing by hand what the read needs (PyJWT verify, one Redis GET), each also
through a gateway of its own, so the gateway's own cost shows and our read through the
gateway is set against the same work through it.

The load comes from locust, run headless as a separate process (tests/bench/locustfile.py);
its CSV summary gives requests/s and the p50 and p99 latencies.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from redis.asyncio import Redis

from services.console.settings import CONSOLE
from shared.devstack.platform import REPO_ROOT, Platform
from shared.devstack.processes import ManagedProcess, free_port
from shared.devstack.servers import Gateway
from shared.settings import SERVICE_NAMES
from tests.bench.live import Live, bare_app, same_work_env
from tests.bench.report import Row

USERS = 32
DURATION_S = 10
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float


def locust(host: str, path: str, token: str, log_dir: Path) -> Load:
    """Run locust against `host` for DURATION_S and read its aggregated CSV line."""
    with tempfile.TemporaryDirectory(prefix="remit-locust-") as out:
        prefix = Path(out) / "run"
        run = ManagedProcess(
            "locust",
            [
                str(Path(sys.executable).with_name("locust")),
                "-f", str(LOCUSTFILE), "--host", host, "--headless",
                "-u", str(USERS), "-r", str(USERS), "-t", f"{DURATION_S}s",
                "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
            ],
            log_dir / "locust.log",
            env={**os.environ, "BENCH_PATH": path, "BENCH_TOKEN": token},
            cwd=REPO_ROOT,
        )  # fmt: skip
        run.start()
        try:
            assert run.process is not None
            run.process.wait(DURATION_S + 60)
        finally:
            run.stop()
        with open(f"{prefix}_stats.csv", newline="") as stats:
            total = next(row for row in csv.DictReader(stats) if row["Name"] == "Aggregated")
    if int(total["Failure Count"]) or not int(total["Request Count"]):
        raise RuntimeError(
            f"locust against {host}: {total['Failure Count']} of {total['Request Count']} "
            f"requests failed; see {log_dir / 'locust.log'}"
        )
    return Load(float(total["Requests/s"]), float(total["50%"]), float(total["99%"]))


async def _customer(live: Live, token: str) -> tuple[str, str]:
    """One customer, created through the API; returns its path and its JSON."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=live.gateway, headers=headers, timeout=30) as http:
        created = await http.post(
            "/api/v1/customers",
            json={
                "companyName": "Bench Read Ltd", "contactName": "Ada Payer",
                "email": "bench-read@example.com", "phone": "+80012345678", "timezone": "UTC",
            },
        )  # fmt: skip
        created.raise_for_status()
        path = f"/api/v1/customers/{created.json()['id']}"
        for _ in range(3):  # warm: JWKS fetched, the customer cached
            (await http.get(path)).raise_for_status()
        return path, (await http.get(path)).text


@contextmanager
def _gateway_to(app_url: str, log_dir: Path) -> Iterator[str]:
    """A gateway of its own (Caddy with the platform's Caddyfile) in front of a baseline app,
    which answers every service's routes; yields its URL."""
    port = int(app_url.rsplit(":", 1)[1])
    routed = (*SERVICE_NAMES, CONSOLE)
    gateway = Gateway(free_port(), {name: [port] for name in routed}, log_dir)
    gateway.start()
    try:
        yield gateway.url
    finally:
        gateway.stop()


@contextmanager
def _logging_requests(stack: Platform) -> Iterator[None]:
    """The campaigns service restarted at LOG_LEVEL=INFO (the default: one access line per
    request), then back at the bench's level."""
    bench_level = stack.env["LOG_LEVEL"]
    _restart_campaigns(stack, "INFO")
    try:
        yield
    finally:
        _restart_campaigns(stack, bench_level)


def _restart_campaigns(stack: Platform, log_level: str) -> None:
    stack.services["campaigns"].stop()
    stack.env["LOG_LEVEL"] = log_level
    stack.start_instance("campaigns")


async def _cache_for_same_work(live: Live, path: str, body: str) -> None:
    redis = Redis.from_url(live.settings.redis_url)
    try:
        await redis.set(f"cache:campaigns:customer:{path.rsplit('/', 1)[1]}", body, ex=600)
    finally:
        await redis.aclose()


@dataclass(frozen=True)
class Measured:
    """One app's load, straight at it and through a gateway."""

    direct: Load
    via_gateway: Load


async def _measure_baseline(
    body: str, path: str, token: str, live: Live, same_work: bool
) -> Measured:
    log_dir = live.stack.log_dir
    env = same_work_env(live.settings) if same_work else None
    if same_work:  # the cached customer the same-work app reads, for as long as it runs
        await _cache_for_same_work(live, path, body)
    with bare_app(body, log_dir, env) as (url, _):
        direct = locust(url, path, token, log_dir)
        with _gateway_to(url, log_dir) as gateway:
            return Measured(direct, locust(gateway, path, token, log_dir))


async def measure(live: Live) -> list[Row]:
    token = await live.token()
    path, body = await _customer(live, token)
    bare = await _measure_baseline(body, path, token, live, same_work=False)
    same = await _measure_baseline(body, path, token, live, same_work=True)
    ours = Measured(
        locust(live.settings.campaigns_url, path, token, live.stack.log_dir),
        locust(live.gateway, path, token, live.stack.log_dir),
    )
    with _logging_requests(live.stack):
        logged = locust(live.settings.campaigns_url, path, token, live.stack.log_dir)
    note = f"{USERS} clients, {DURATION_S} s, API_RATE_LIMIT raised"
    same_note = note + "; PyJWT verify, one Redis GET, the cached JSON"
    rows = []
    for metric, unit in (("rps", "req/s"), ("p50_ms", "ms p50"), ("p99_ms", "ms p99")):

        def row(
            figure: str,
            load: Load,
            baseline: Load | None,
            row_note: str = note,
            metric: str = metric,
            unit: str = unit,
        ) -> Row:
            floor = getattr(baseline, metric) if baseline else None
            return Row.of(figure, getattr(load, metric), unit, floor, row_note)

        rows += [
            row("GET customer, bare FastAPI (baseline)", bare.direct, None),
            row("GET customer, bare FastAPI via gateway", bare.via_gateway, bare.direct,
                note + "; against bare FastAPI: the gateway's own cost"),
            row("GET customer, same work by hand (baseline)", same.direct, None, same_note),
            row("GET customer, same work via gateway (baseline)", same.via_gateway, None,
                same_note),
            row("GET customer, campaigns direct", ours.direct, bare.direct),
            row("GET customer, campaigns direct, against the same work", ours.direct,
                same.direct),
            row("GET customer, campaigns direct, access lines logged", logged, ours.direct,
                note + "; LOG_LEVEL=INFO, the default, against the bench's WARNING"),
            row("GET customer, via gateway", ours.via_gateway, bare.direct),
            row("GET customer, via gateway, against the same work", ours.via_gateway,
                same.via_gateway, note + "; the same work also via gateway"),
        ]  # fmt: skip
    return rows
