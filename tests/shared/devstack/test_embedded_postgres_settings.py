"""The embedded Postgres runs with buffers and WAL sized for the platform's write load."""

from __future__ import annotations

import asyncpg


async def test_buffers_and_wal_are_sized_for_a_busy_run(settings):
    connection = await asyncpg.connect(settings.database_url)
    try:
        shown = {
            name: await connection.fetchval(f"SHOW {name}")
            for name in ("shared_buffers", "wal_buffers", "wal_init_zero", "max_wal_size")
        }
    finally:
        await connection.close()
    assert shown == {
        "shared_buffers": "512MB",
        "wal_buffers": "16MB",
        "wal_init_zero": "off",
        "max_wal_size": "4GB",
    }
