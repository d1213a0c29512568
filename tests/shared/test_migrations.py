"""Migrations apply once, re-run as no-ops, and survive concurrent runners."""

from __future__ import annotations

import asyncio
import json
import uuid

from shared.db import connect
from shared.migrations import Migration, migrate, service_migrations
from shared.settings import SERVICE_NAMES


async def test_rerunning_every_services_migrations_is_a_no_op(settings):
    for name in SERVICE_NAMES:
        connection = await connect(settings.database_url, name)
        try:
            applied = await migrate(connection, name, service_migrations(f"services.{name}"))
        finally:
            await connection.close()
        assert applied == [], f"{name} re-applied {applied}"


async def test_concurrent_runners_apply_each_migration_exactly_once(settings):
    schema = f"mig_{uuid.uuid4().hex[:12]}"
    # Not idempotent on purpose: applying either twice would raise.
    migrations = [
        Migration("001_things", "CREATE TABLE things (id int PRIMARY KEY)"),
        Migration("002_seed", "INSERT INTO things VALUES (1)"),
    ]
    connections = [await connect(settings.database_url, schema) for _ in range(6)]
    try:
        results = await asyncio.gather(
            *(migrate(connection, schema, migrations) for connection in connections)
        )
        applied = [versions for versions in results if versions]
        assert applied == [["001_things", "002_seed"]]
        assert await connections[0].fetchval(f"SELECT count(*) FROM {schema}.things") == 1
        assert (
            await connections[0].fetchval(f"SELECT count(*) FROM {schema}.schema_migrations") == 2
        )
    finally:
        await connections[0].execute(f"DROP SCHEMA {schema} CASCADE")
        for connection in connections:
            await connection.close()


async def test_the_account_status_query_runs_on_our_schema(settings):
    connection = await connect(settings.database_url, "auth")
    try:
        rows = await connection.fetch(
            "SELECT email, is_active, failed_login_attempts FROM auth.users WHERE email = $1",
            "admin@example.com",
        )
    finally:
        await connection.close()
    assert [row["is_active"] for row in rows] == [True]


async def test_outbox_rows_written_as_jsonb_keep_their_envelope_and_headers(settings):
    """Events still in an outbox when the envelope became json (shared migration 008) go out
    as they were, with their request ID and trace."""
    schema = f"mig_{uuid.uuid4().hex[:12]}"
    migrations = service_migrations("tests")
    cut = next(n for n, m in enumerate(migrations) if m.version == "shared/008_outbox_json")
    envelope = {"type": "x.y", "request_id": "req-9", "traceparent": "00-ab-cd-01", "payload": {}}
    connection = await connect(settings.database_url, schema)
    try:
        await migrate(connection, schema, migrations[:cut])
        await connection.execute(
            "INSERT INTO outbox (event_id, topic, event_key, envelope) VALUES "
            "(gen_random_uuid(), 'x.y', 'k', $1::jsonb), "
            "(gen_random_uuid(), 'x.y', 'k', '{\"type\": \"x.y\", \"payload\": {}}')",
            envelope,
        )
        await migrate(connection, schema, migrations)
        rows = await connection.fetch(
            "SELECT envelope::text AS body, request_id, traceparent FROM outbox ORDER BY id"
        )
    finally:
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
        await connection.close()
    assert [(json.loads(row["body"]), row["request_id"], row["traceparent"]) for row in rows] == [
        (envelope, "req-9", "00-ab-cd-01"),
        ({"type": "x.y", "payload": {}}, None, None),
    ]
