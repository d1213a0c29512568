"""Each service logs in as a role that can use its own schema and nothing else; the operator
role reads every schema and writes none; nobody but the owner alters a table."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from services.console.settings import CONSOLE
from shared.roles import OPERATOR, service_role


@pytest.fixture
def role_urls(platform) -> dict[str, str]:
    if not platform.role_urls:
        pytest.skip("the database is given by URL: one login, as given")
    return dict(platform.role_urls)


async def _as(url: str, statement: str) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(statement)
    finally:
        await connection.close()


async def test_a_service_role_uses_its_own_schema_only(role_urls):
    auth = role_urls[service_role("auth")]
    assert await _as(auth, "SELECT count(*) FROM auth.users") >= 1
    for foreign in ("agents.tasks", "notifier.messages", "campaigns.campaigns"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await _as(auth, f"SELECT count(*) FROM {foreign}")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await _as(auth, "ALTER TABLE auth.users ADD COLUMN sneaky int")


async def test_the_operator_reads_everything_and_writes_nothing(role_urls):
    operator = role_urls[OPERATOR]
    for table in ("auth.users", "agents.tasks", "notifier.messages", "campaigns.campaigns"):
        assert await _as(operator, f"SELECT count(*) FROM {table}") is not None
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await _as(operator, "DELETE FROM agents.tasks")
    assert await _as(operator, "SELECT count(*) FROM pg_stat_statements") is not None


def test_each_service_process_logs_in_as_its_role(platform, role_urls):
    for name, process in platform.services.items():
        assert process.env is not None
        if name == CONSOLE:  # it calls the services' APIs, never the database
            assert "DATABASE_URL" not in process.env
            continue
        service = platform.instances[name][0]
        assert process.env["DATABASE_URL"] == role_urls[service_role(service)]
