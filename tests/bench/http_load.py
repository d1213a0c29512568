"""HTTP: an authenticated `GET /api/v1/customers/{id}` (token check, API rate limit, cached
read) under 32 concurrent clients, through the gateway and straight at the campaigns service;
baselines: the bare FastAPI app (tests/bench/bare_app.py) answering the same JSON, and the
same-work app doing by hand what the read needs (PyJWT verify, one Redis GET).

The load comes from locust, run headless as a separate process (tests/bench/locustfile.py);
its CSV summary gives requests/s and the p50 and p99 latencies.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from shared.devstack.platform import REPO_ROOT
from shared.devstack.processes import ManagedProcess
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


async def measure(live: Live) -> list[Row]:
    token = await live.token()
    path, body = await _customer(live, token)
    log_dir = live.stack.log_dir
    with bare_app(body, log_dir) as (bare_url, _):
        bare = locust(bare_url, path, token, log_dir)
    with bare_app(body, log_dir, same_work_env(live.settings)) as (same_work_url, _):
        same = locust(same_work_url, path, token, log_dir)
    direct = locust(live.settings.campaigns_url, path, token, log_dir)
    gateway = locust(live.gateway, path, token, log_dir)
    note = f"{USERS} clients, {DURATION_S} s, API_RATE_LIMIT raised"
    rows = []
    for metric, unit in (("rps", "req/s"), ("p50_ms", "ms p50"), ("p99_ms", "ms p99")):
        floor: float = getattr(bare, metric)
        rows.append(Row.of("GET customer, bare FastAPI (baseline)", floor, unit, None, note))
        rows.append(
            Row.of(
                "GET customer, same work by hand (baseline)",
                getattr(same, metric),
                unit,
                None,
                note + "; PyJWT verify, one Redis GET, the cached JSON",
            )
        )
        for name, load in (("campaigns direct", direct), ("via gateway", gateway)):
            value = getattr(load, metric)
            rows.append(Row.of(f"GET customer, {name}", value, unit, floor, note))
            rows.append(
                Row.of(
                    f"GET customer, {name}, against the same work",
                    value,
                    unit,
                    getattr(same, metric),
                    note,
                )
            )
    return rows
