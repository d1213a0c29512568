"""The scheduler emits every due step exactly once: with racing replicas, and when a replica
dies between claiming steps and committing."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest

from services.campaigns.scheduler import claim_due_steps
from shared.db import connect, create_pool
from tests.scheduler_seed import ALWAYS_OPEN, LINKS, drop_schema, seed_due_runs


@pytest.fixture
async def due_schema(settings):
    schema = await seed_due_runs(settings, runs=300, per_campaign=3)
    yield schema
    await drop_schema(settings, schema)


async def _emitted_per_run(pool) -> Counter[str]:
    rows = await pool.fetch(
        "SELECT envelope->'payload'->>'stepRunId' AS run FROM outbox WHERE topic = 'campaign.step_due'"
    )
    return Counter(row["run"] for row in rows)


async def _drain(pool, batch: int) -> int:
    total = 0
    while True:
        async with pool.acquire() as connection, connection.transaction():
            claimed = await claim_due_steps(
                connection, batch, ALWAYS_OPEN, LINKS, datetime.now(UTC)
            )
        if not claimed:
            return total
        total += claimed


async def test_racing_schedulers_emit_each_step_once(settings, due_schema):
    pool = await create_pool(settings, due_schema, max_size=8)
    try:
        claimed = await asyncio.gather(*(_drain(pool, batch=7) for _ in range(4)))
        assert sum(claimed) == 300
        assert all(count > 0 for count in claimed), f"no real race: {claimed}"
        emitted = await _emitted_per_run(pool)
        assert len(emitted) == 300 and set(emitted.values()) == {1}
        assert await pool.fetchval("SELECT count(*) FROM step_runs WHERE status <> 'emitted'") == 0
    finally:
        await pool.close()


async def test_a_scheduler_dying_mid_claim_loses_and_doubles_nothing(settings, due_schema):
    pool = await create_pool(settings, due_schema)
    doomed = await connect(settings.database_url, due_schema)
    try:
        transaction = doomed.transaction()
        await transaction.start()
        assert (
            await claim_due_steps(doomed, 100, ALWAYS_OPEN, LINKS, datetime.now(UTC)) == 100
        )  # claimed and written, not committed
        # Another replica meanwhile skips the locked rows and takes the rest.
        async with pool.acquire() as connection, connection.transaction():
            assert (
                await claim_due_steps(connection, 1000, ALWAYS_OPEN, LINKS, datetime.now(UTC))
                == 200
            )
        await pool.execute("SELECT pg_terminate_backend($1)", doomed.get_server_pid())
        await asyncio.sleep(0.2)
        assert await _drain(pool, batch=50) == 100  # the dead replica's claim came back
        emitted = await _emitted_per_run(pool)
        assert len(emitted) == 300 and set(emitted.values()) == {1}
    finally:
        if not doomed.is_closed():
            doomed.terminate()
        await pool.close()


async def test_a_step_found_outside_the_contact_window_waits_for_the_opening(settings, due_schema):
    from datetime import timedelta

    from services.campaigns.domain.contact_window import ContactWindow

    now = datetime.now(UTC)
    tomorrow_only = ContactWindow(weekdays=frozenset({(now + timedelta(days=1)).weekday()}))
    pool = await create_pool(settings, due_schema)
    try:
        async with pool.acquire() as connection, connection.transaction():
            await claim_due_steps(connection, 50, tomorrow_only, LINKS, now)
        assert await _emitted_per_run(pool) == Counter()
        due = await pool.fetch("SELECT DISTINCT due_at FROM step_runs WHERE due_at > now()")
        assert [row["due_at"] for row in due] == [tomorrow_only.next_allowed(now, "UTC")]
    finally:
        await pool.close()


async def test_a_step_waits_for_the_hours_its_debtor_prefers(settings, due_schema):
    from datetime import time

    now = datetime.now(UTC)
    # An hour of the day that is not now: the step found due waits for it.
    hours = (time(20), time(21)) if now.hour < 12 else (time(3), time(4))
    pool = await create_pool(settings, due_schema)
    try:
        await pool.execute("UPDATE customers SET contact_from = $1, contact_until = $2", *hours)
        async with pool.acquire() as connection, connection.transaction():
            await claim_due_steps(connection, 50, ALWAYS_OPEN, LINKS, now)
        assert await _emitted_per_run(pool) == Counter()
        due = await pool.fetch("SELECT DISTINCT due_at FROM step_runs WHERE due_at > now()")
        opening = ALWAYS_OPEN.narrowed(*hours).next_allowed(now, "UTC")
        assert [row["due_at"] for row in due] == [opening]
        assert opening.astimezone(UTC).time() == hours[0]
    finally:
        await pool.close()


async def test_a_claim_reads_each_runs_campaign_by_its_key_whatever_the_statistics_say(settings):
    """Statistics taken while the campaigns were drafts (a bulk start makes thousands active
    before autovacuum looks again) once led the claim to walk every active campaign for each
    due run: 3.5 million buffer reads for 500 runs. By the campaign's key it is a few a run."""
    schema = await seed_due_runs(settings, runs=2000)
    pool = await create_pool(settings, schema)
    try:
        # Statistics as a bulk start leaves them: taken before the runs existed, while the
        # campaigns were drafts.
        async with pool.acquire() as connection:
            await connection.execute("CREATE TEMP TABLE runs AS SELECT * FROM step_runs")
            await connection.execute("DELETE FROM step_runs")
            await connection.execute("UPDATE campaigns SET status = 'draft'")
            await connection.execute("ANALYZE campaigns, step_runs")
            await connection.execute("INSERT INTO step_runs SELECT * FROM runs")
            await connection.execute("UPDATE campaigns SET status = 'active'")
        await pool.execute("SELECT pg_stat_statements_reset()")
        async with pool.acquire() as connection, connection.transaction():
            assert (
                await claim_due_steps(connection, 500, ALWAYS_OPEN, LINKS, datetime.now(UTC)) == 500
            )
        read = await pool.fetchval(
            "SELECT sum(shared_blks_hit + shared_blks_read) FROM pg_stat_statements "
            "WHERE query LIKE '%WITH due AS%' AND query LIKE '%r.due_at <=%'"
        )
        assert 0 < read < 50 * 500, read
    finally:
        await pool.close()
        await drop_schema(settings, schema)
