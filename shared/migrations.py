"""Ordered SQL migrations per service schema, applied once, safe under concurrent start-up.

Each service keeps `migrations/NNN_name.sql` beside its code. A transaction-scoped advisory
lock serialises runners, so two processes starting at once apply each file exactly once.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources

from shared.db import Connection, connect
from shared.roles import grant_schema

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str


def load_migrations(package: str) -> list[Migration]:
    """The `.sql` files of `<package>.migrations`, ordered by file name."""
    folder = resources.files(package).joinpath("migrations")
    if not folder.is_dir():
        return []
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [Migration(entry.name.removesuffix(".sql"), entry.read_text()) for entry in files]


def _lock_key(schema: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"migrations:{schema}".encode()).digest()[:8], "big", signed=True
    )


async def migrate(connection: Connection, schema: str, migrations: list[Migration]) -> list[str]:
    """Apply the migrations `schema` has not seen yet; returns the versions applied now."""
    applied_now: list[str] = []
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(schema))
        await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await connection.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
            "version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {
            row["version"]
            for row in await connection.fetch(f'SELECT version FROM "{schema}".schema_migrations')
        }
        await connection.execute(f'SET LOCAL search_path TO "{schema}", public')
        for migration in migrations:
            if migration.version in done:
                continue
            await connection.execute(migration.sql)
            await connection.execute(
                f'INSERT INTO "{schema}".schema_migrations (version) VALUES ($1)', migration.version
            )
            applied_now.append(migration.version)
        await grant_schema(connection, schema)
    if applied_now:
        logger.info("migrations applied", extra={"schema": schema, "versions": applied_now})
    return applied_now


def service_migrations(package: str) -> list[Migration]:
    """The messaging tables every schema has (outbox, processed events), then the service's own."""
    common = [Migration(f"shared/{m.version}", m.sql) for m in load_migrations("shared")]
    return common + load_migrations(package)


async def migrate_url(database_url: str, schema: str, package: str) -> list[str]:
    connection = await connect(database_url, schema)
    try:
        return await migrate(connection, schema, service_migrations(package))
    finally:
        await connection.close()
