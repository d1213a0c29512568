"""Pipeline: 10,000 campaigns of one SMS step (delay P0D, customers where it is early
afternoon now) started through the API, until the notifier has recorded every message `sent`
(simulator): scheduler → campaign.step_due → agents task, assignment and composition →
message.requested → notifier guards and send → message.sent. Steps/s end to end.

Customers, payment records and draft campaigns are seeded with SQL; they are started through
the gateway in bulk, `POST /api/v1/campaigns/bulk-start` with 1,000 at a time. Baseline: bare aiokafka producing and
consuming as many step_due-sized messages on the same broker (one hop, no work).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.db import connect
from shared.kafka import ensure_topics
from shared.settings import ServiceSettings
from tests.bench import hops
from tests.bench.agents import step_due
from tests.bench.live import Live
from tests.bench.memory import CpuClock, RssSampler
from tests.bench.outbox import produce, raw_producer
from tests.bench.report import Row
from tests.campaign_helpers import daytime_zone

CAMPAIGNS = 10_000
BULK_START = 1000  # campaigns per bulk-start request (its maximum)
TIMEOUT_S = 900
STATEMENTS_FILE = Path("bench-statements.txt")

_SEED = """
WITH c AS (
    INSERT INTO customers (id, company_name, contact_name, email, phone, timezone)
    SELECT gen_random_uuid(), 'Bench ' || n, 'Ada Payer', 'bench' || n || '@example.com',
           '+8001' || lpad(n::text, 7, '0'), $2
    FROM generate_series(1, $1) n RETURNING id
), p AS (
    INSERT INTO payments (id, customer_id, invoice_number, amount, currency, due_date)
    SELECT gen_random_uuid(), id, 'INV-BENCH', 100, 'EUR', current_date FROM c
    RETURNING id, customer_id
), k AS (
    INSERT INTO campaigns (id, name, customer_id, payment_id)
    SELECT gen_random_uuid(), 'bench pipeline', customer_id, id FROM p RETURNING id
)
INSERT INTO campaign_steps (id, campaign_id, position, channel, delay)
SELECT gen_random_uuid(), id, 1, 'sms', interval '0' FROM k RETURNING campaign_id
"""


@dataclass(frozen=True)
class PipelineRun:
    rows: list[Row]
    memory: RssSampler  # the service processes during the run


async def _seed(settings: ServiceSettings) -> list[uuid.UUID]:
    """Draft campaigns, each with a customer in a zone where it is contact time now."""
    connection = await connect(settings.database_url, "campaigns")
    try:
        rows = await connection.fetch(_SEED, CAMPAIGNS, daytime_zone())
        return [row["campaign_id"] for row in rows]
    finally:
        await connection.close()


async def _start_all(http: httpx.AsyncClient, campaign_ids: list[uuid.UUID]) -> None:
    """In bulk: POST /api/v1/campaigns/bulk-start, BULK_START at a time."""
    for first in range(0, len(campaign_ids), BULK_START):
        ids = [str(campaign_id) for campaign_id in campaign_ids[first : first + BULK_START]]
        response = await http.post("/api/v1/campaigns/bulk-start", json={"campaignIds": ids})
        if response.status_code != 200 or response.json()["refused"]:
            raise RuntimeError(f"bulk start: {response.status_code} {response.text[:500]}")


async def _wait_all_sent(settings: ServiceSettings) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    connection = await connect(settings.database_url, "notifier")
    try:
        while True:
            rows = await connection.fetch("SELECT status, count(*) FROM messages GROUP BY status")
            statuses: dict[str, int] = {row["status"]: row["count"] for row in rows}
            if statuses.get("sent", 0) >= CAMPAIGNS:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"pipeline: after {TIMEOUT_S} s, messages by status {statuses}")
            await asyncio.sleep(0.25)
    finally:
        await connection.close()


async def _statements(settings: ServiceSettings, reset: bool) -> list[asyncpg.Record]:
    """pg_stat_statements' counts since the last reset, most called first; then a reset."""
    connection = await connect(settings.database_url, "public")
    try:
        rows = await connection.fetch(
            "SELECT calls, total_exec_time, query FROM pg_stat_statements ORDER BY calls DESC"
        )
        if reset:
            await connection.execute("SELECT pg_stat_statements_reset()")
        return rows
    finally:
        await connection.close()


def _write_statements(rows: list[asyncpg.Record], path: Path) -> None:
    lines = [
        f"{row['calls'] / CAMPAIGNS:8.3f}/step {row['total_exec_time']:10.0f} ms  "
        f"{' '.join(row['query'].split())[:300]}"
        for row in rows
    ]
    path.write_text("\n".join(lines) + "\n")


async def _kafka_floor(settings: ServiceSettings, payload: bytes) -> float:
    """Seconds for bare aiokafka to produce and consume CAMPAIGNS messages of `payload`."""
    topic = f"bench.pipeline_{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    producer = raw_producer(settings)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await producer.start()
    await consumer.start()
    try:
        consumer.assign(
            [
                TopicPartition(topic, partition)
                for partition in range(settings.kafka_topic_partitions)
            ]
        )

        async def consume() -> None:
            seen = 0
            while seen < CAMPAIGNS:
                batches = await consumer.getmany(timeout_ms=1000)
                seen += sum(len(batch) for batch in batches.values())

        started = time.perf_counter()
        await asyncio.gather(consume(), produce(producer, topic, payload, CAMPAIGNS))
        return time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()


async def _checkpoint(live: Live) -> None:
    """A clean start: the parts before wrote gigabytes of WAL, and a checkpoint falling inside
    the run would measure their flush, not the pipeline. Only on the embedded Postgres (it takes
    the superuser)."""
    if live.stack.postgres is None:
        return
    connection = await asyncpg.connect(live.stack.postgres.url)
    try:
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def measure(live: Live) -> PipelineRun:
    await _checkpoint(live)
    payload = step_due().model_dump_json().encode()
    floor = CAMPAIGNS / await _kafka_floor(live.settings, payload)
    infrastructure = live.infrastructure_pids()
    with CpuClock({"script": os.getpid(), **infrastructure}) as bare_cpu:
        bare_hops = CAMPAIGNS / await hops.measure(live.settings, payload, CAMPAIGNS)
    campaign_ids = await _seed(live.settings)
    headers = {"Authorization": f"Bearer {await live.token()}"}
    async with httpx.AsyncClient(base_url=live.gateway, headers=headers, timeout=120) as http:
        await _statements(live.settings, reset=True)
        with RssSampler(live.pids()) as sampler, CpuClock({**live.pids(), **infrastructure}) as cpu:
            started = time.perf_counter()
            await _start_all(http, campaign_ids)
            starts_s = time.perf_counter() - started
            await _wait_all_sent(live.settings)
            total_s = time.perf_counter() - started
    statements = await _statements(live.settings, reset=False)
    _write_statements(statements, STATEMENTS_FILE)
    rows = [
        Row.of(
            "raw aiokafka produce+consume (baseline)",
            floor,
            "msgs/s",
            None,
            f"{CAMPAIGNS:,} x {len(payload)} B, one hop",
        ),
        Row.of(
            f"bare script, {hops.HOPS} batched hops (baseline)",
            bare_hops,
            "steps/s",
            None,
            f"{CAMPAIGNS:,} events; a row and an event per record, a transaction per batch",
        ),
        Row.of(
            "pipeline: API start → SMS sent",
            CAMPAIGNS / total_s,
            "steps/s",
            bare_hops,
            f"{CAMPAIGNS:,} in {total_s:.0f} s; starts via gateway: {starts_s:.0f} s",
        ),
    ]
    bare_ms = 1000 * sum(bare_cpu.seconds.values()) / CAMPAIGNS
    rows.append(
        Row.of(
            "bare script: CPU per step (baseline)",
            bare_ms,
            "ms",
            None,
            ", ".join(f"{name} {seconds:.1f} s" for name, seconds in bare_cpu.seconds.items()),
        )
    )
    rows += [
        Row.of(
            f"pipeline: {name} CPU per step",
            1000 * seconds / CAMPAIGNS,
            "ms",
            bare_ms,
            f"{seconds:.1f} CPU s over the run",
        )
        for name, seconds in cpu.seconds.items()
    ]
    rows.append(
        Row.of(
            "pipeline: SQL statements per step",
            sum(row["calls"] for row in statements) / CAMPAIGNS,
            "statements",
            None,
            f"all services, from pg_stat_statements; by statement in {STATEMENTS_FILE}",
        )
    )
    return PipelineRun(rows, sampler)
