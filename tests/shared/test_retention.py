"""Published outbox rows and dedup records are pruned after their retention, nothing sooner."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.db import connect
from shared.migrations import migrate, service_migrations
from shared.outbox import waiting
from shared.retention import prune


async def test_prune_removes_only_what_is_past_retention(settings):
    schema = f"prune_{uuid.uuid4().hex[:10]}"
    connection = await connect(settings.database_url, schema)
    try:
        await migrate(connection, schema, service_migrations("tests"))
        insert_outbox = (
            "INSERT INTO outbox (event_id, topic, event_key, envelope, created_at, published_at) "
            "VALUES ($1, 't.x', 'k', '{}', now() - $2::interval, now() - $3::interval)"
        )
        await connection.execute(
            insert_outbox, uuid.uuid4(), timedelta(hours=200), timedelta(hours=200)
        )  # old, published
        await connection.execute(
            insert_outbox, uuid.uuid4(), timedelta(hours=1), timedelta(hours=1)
        )  # recent
        await connection.execute(
            insert_outbox, uuid.uuid4(), timedelta(hours=200), timedelta(hours=1)
        )  # old, published again lately (a broker lost its data): still pruned by its age
        insert_behind = (
            "INSERT INTO outbox (event_id, topic, event_key, envelope, created_at, set_aside_at) "
            "VALUES ($1, 't.x', 'k', '{}', now() - interval '300 hours', $2)"
        )
        await connection.execute(insert_behind, uuid.uuid4(), None)  # old, behind the position
        await connection.execute(
            insert_behind, uuid.uuid4(), datetime.now(UTC)
        )  # old, set aside: a person decides, never pruned
        await connection.execute(
            "UPDATE outbox_position SET (tx, id) = (SELECT tx, id FROM outbox "
            "ORDER BY tx DESC, id DESC LIMIT 1)"
        )
        await connection.execute(
            "INSERT INTO outbox (event_id, topic, event_key, envelope, created_at) "
            "VALUES ($1, 't.x', 'k', '{}', now() - interval '400 hours')",
            uuid.uuid4(),
        )  # old but never published (after the position): must stay
        insert_processed = (
            "INSERT INTO processed_events (consumer, event_id, event_type, processed_at) "
            "VALUES ('c', $1, 't.x', now() - $2::interval)"
        )
        await connection.execute(insert_processed, uuid.uuid4(), timedelta(hours=400))
        await connection.execute(insert_processed, uuid.uuid4(), timedelta(hours=10))

        assert await prune(connection, settings) == (3, 1)
        assert await connection.fetchval("SELECT count(*) FROM outbox") == 3
        assert await connection.fetchval(f"SELECT count(*) FROM outbox WHERE {waiting()}") == 1
        assert (
            await connection.fetchval("SELECT count(*) FROM outbox WHERE set_aside_at IS NOT NULL")
            == 1
        )
        assert await connection.fetchval("SELECT count(*) FROM processed_events") == 1
    finally:
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
        await connection.close()
