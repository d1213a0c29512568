"""Small helpers the tests share."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from twilio.request_validator import RequestValidator

from shared.contracts import PAYLOADS
from shared.db import connect, create_pool
from shared.events import Envelope
from shared.migrations import migrate, service_migrations
from tests.conftest import TWILIO_TOKEN

T = TypeVar("T")


@asynccontextmanager
async def private_schema(
    settings: Any, prefix: str, package: str = "tests"
) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """A schema of its own, migrated like `package`'s (the messaging tables only, for
    `tests`), and a pool confined to it; dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    connection = await connect(settings.database_url, schema)
    await migrate(connection, schema, service_migrations(package))
    pool = await create_pool(settings, schema)
    try:
        yield schema, pool
    finally:
        await pool.close()
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
        await connection.close()


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 30.0
) -> T:
    """Poll `probe` until `accept` holds for its result; fail with the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if accept(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last result: {result!r}")
        await asyncio.sleep(0.2)


async def schema_sql(settings: Any, schema: str, query: str, *args: Any) -> list[Any]:
    """Rows of one query, on a fresh connection that sees `schema` unqualified."""
    connection = await connect(settings.database_url, schema)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


def log_records(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a service log (non-JSON lines, e.g. from a crash, are skipped)."""
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def user_created(user_id: uuid.UUID, email: str, **payload: Any) -> Envelope:
    """A `user.created` event as auth publishes it (payload fields can be overridden)."""
    body = {"userId": str(user_id), "email": email, "role": "viewer", "isActive": True}
    return Envelope(type="user.created", producer="tests", payload={**body, **payload})


async def publish_raw(
    bootstrap_servers: str,
    topic: str,
    records: list[tuple[bytes, bytes]],
    *,
    partition: int | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    """Put `(key, value)` records on a topic straight through aiokafka, bypassing our code."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(
                topic, value, key=key, partition=partition, headers=headers
            )
    finally:
        await producer.stop()


def run_remit(
    *args: str,
    env: dict[str, str],
    timeout: float = 120,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> Any:
    """Run the `remit` command line as an operator would, in a fresh process (in `cwd`, the
    repository by default)."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "shared.ops.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        cwd=cwd,
    )


def twilio_signed(gateway_url: str, path: str, form: dict[str, str]) -> dict[str, str]:
    """The X-Twilio-Signature Twilio would send with this webhook."""
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(f"{gateway_url}{path}", form)
    return {"X-Twilio-Signature": signature}


def assert_reads_back(event: Envelope, producer: str) -> None:
    """The event is `producer`'s, its payload reads as its contract, and that reading writes
    the same payload (names, values, and which fields are there)."""
    assert event.producer == producer
    again = event.read(PAYLOADS[event.type])
    assert again.model_dump(mode="json", by_alias=True, exclude_unset=True) == event.payload
