"""Campaigns: due steps claimed and published per second with 100,000 pending (baseline: the
same number of bare `UPDATE … SKIP LOCKED` claims without events), and customer-list latency
with 100,000 customers (baseline: the bare keyset query without the total)."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

from services.campaigns.scheduler import claim_due_steps
from services.campaigns.stores import customers
from shared.db import create_pool
from shared.settings import ServiceSettings
from tests.bench.report import Row
from tests.scheduler_seed import ALWAYS_OPEN, LINKS, drop_schema, seed_due_runs

PENDING = 100_000
BATCH = 500


async def _claim_all(settings: ServiceSettings, schema: str, bare: bool) -> float:
    pool = await create_pool(settings, schema, max_size=2)
    try:
        started = time.perf_counter()
        while True:
            async with pool.acquire() as connection, connection.transaction():
                if bare:
                    claimed = len(await connection.fetch(
                        "UPDATE step_runs SET status = 'emitted' WHERE id IN (SELECT id FROM step_runs "
                        "WHERE status = 'pending' AND due_at <= now() ORDER BY due_at LIMIT $1 "
                        "FOR UPDATE SKIP LOCKED) RETURNING id", BATCH,
                    ))  # fmt: skip
                else:
                    claimed = await claim_due_steps(
                        connection, BATCH, ALWAYS_OPEN, LINKS, datetime.now(UTC)
                    )
            if not claimed:
                return PENDING / (time.perf_counter() - started)
    finally:
        await pool.close()


async def _list_latency(settings: ServiceSettings, schema: str) -> tuple[float, float]:
    pool = await create_pool(settings, schema, max_size=2)
    try:
        ours, bare = [], []
        cursor = None
        for _ in range(50):
            started = time.perf_counter()
            page = await customers.page(pool, None, None, 50, cursor)
            ours.append((time.perf_counter() - started) * 1000)
            cursor = page.next_cursor
            started = time.perf_counter()
            await pool.fetch(
                f"SELECT {customers.COLUMNS} FROM customers ORDER BY created_at, id LIMIT 51"
            )
            bare.append((time.perf_counter() - started) * 1000)
        return statistics.median(ours), statistics.median(bare)
    finally:
        await pool.close()


async def measure(settings: ServiceSettings) -> list[Row]:
    rows: list[Row] = []
    for bare in (True, False):
        schema = await seed_due_runs(settings, PENDING)
        try:
            rate = await _claim_all(settings, schema, bare)
            if bare:
                baseline = rate
                rows.append(
                    Row.of(
                        "claim due steps, bare SKIP LOCKED (baseline)",
                        rate,
                        "steps/s",
                        None,
                        f"{PENDING:,} pending",
                    )
                )
            else:
                rows.append(
                    Row.of(
                        "scheduler: claim + step_due to outbox",
                        rate,
                        "steps/s",
                        baseline,
                        f"{PENDING:,} pending",
                    )
                )
                ours, bare_ms = await _list_latency(settings, schema)
                rows.append(
                    Row.of(
                        "customer list, bare keyset page (baseline)",
                        bare_ms,
                        "ms p50",
                        None,
                        f"{PENDING:,} customers",
                    )
                )
                rows.append(
                    Row.of(
                        "customer list page with total",
                        ours,
                        "ms p50",
                        bare_ms,
                        f"{PENDING:,} customers",
                    )
                )
        finally:
            await drop_schema(settings, schema)
    return rows
