"""The embedded Postgres and Redis take no connection without their passwords, which are kept
in STATE_DIR/credentials.json (0600); Redis runs unprivileged and keeps its data across a
restart (revocation markers, lock-outs, idempotency keys)."""

from __future__ import annotations

import os
import stat

import asyncpg
import psutil
import pytest
from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, ResponseError

from shared.devstack.credentials import FILE_NAME


@pytest.fixture
def embedded(platform):
    if platform.postgres is None or platform.redis is None:
        pytest.skip("Postgres and Redis are external (given by URL)")
    return platform


async def test_postgres_refuses_a_connection_without_the_password(embedded):
    port = embedded.postgres.port
    for url in (f"postgresql://postgres@127.0.0.1:{port}/remit",
                f"postgresql://postgres:guess@127.0.0.1:{port}/remit"):  # fmt: skip
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(url)
    connection = await asyncpg.connect(embedded.postgres.url)
    assert await connection.fetchval("SELECT 1") == 1
    await connection.close()


async def test_redis_refuses_a_client_without_the_password(embedded):
    stranger = Redis.from_url(f"redis://127.0.0.1:{embedded.redis.port}/0")
    try:
        with pytest.raises((AuthenticationError, ResponseError)):
            await stranger.get("auth:revocations_seeded")
    finally:
        await stranger.aclose()


def test_the_credentials_are_the_runners_alone_and_redis_is_not_root(embedded):
    credentials = embedded.state_dir / FILE_NAME
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE((embedded.redis.work_dir / "redis.conf").stat().st_mode) == 0o600
    if os.geteuid() == 0:
        assert psutil.Process(embedded.redis.process.pid).username() != "root"
    for log in embedded.log_dir.glob("*.log"):  # never printed or logged
        text = log.read_text(errors="replace")
        assert embedded.postgres.password not in text and embedded.redis.password not in text


async def test_redis_keeps_its_data_across_a_restart(embedded):
    before = Redis.from_url(embedded.redis.url)
    try:
        await before.set("tests:kept", "yes")
    finally:
        await before.aclose()
    embedded.redis.stop()
    embedded.redis.start()
    after = Redis.from_url(embedded.redis.url)
    try:
        assert await after.get("tests:kept") == b"yes"
    finally:
        await after.aclose()


async def test_a_restarted_redis_answers_once_started_however_much_it_reloads(own_redis):
    """Started means loaded: Redis accepts connections while it reads its append-only file
    back and refuses every command meanwhile (`LOADING`), so the first call after a start of a
    Redis with much data failed."""
    client = Redis.from_url(own_redis.url)
    try:
        for first in range(0, 400_000, 20_000):  # about 40 MB to read back
            async with client.pipeline(transaction=False) as pipe:
                for n in range(first, first + 20_000):
                    pipe.set(f"tests:bulk:{n}", "x" * 64)
                await pipe.execute()
    finally:
        await client.aclose()
    own_redis.stop()
    own_redis.start()
    after = Redis.from_url(own_redis.url)
    try:
        assert await after.get("tests:bulk:399999") == b"x" * 64
    finally:
        await after.aclose()
