"""Database roles: each service logs in as a role that can use its own schema only, so "each
service owns its schema" is enforced by Postgres, not by convention.

- `remit_owner` owns the schemas and runs the migrations;
- `remit_auth`, `remit_campaigns`, `remit_agents`, `remit_notifier`: each service's login,
  allowed to read and write the tables of its own schema and nothing else;
- `remit_operator`: reads every schema and the statistics views, for the diagnostics.

A superuser creates the roles (`ensure_roles`: the embedded stack at start-up, a deployment's
database administrator with the same statements). The migrations grant each schema to its
service and to the operator when those roles exist; a database without them (one login for
everything) works as before.
"""

from __future__ import annotations

import re

from shared.db import Connection
from shared.settings import SERVICE_NAMES

OWNER = "remit_owner"
OPERATOR = "remit_operator"


_LITERAL_SAFE = re.compile(r"[A-Za-z0-9_-]{16,}")


def password_literal(role: str, secret: str) -> str:
    """`secret` as an SQL string literal for `… PASSWORD`, which takes no bind parameters: only
    generated URL-safe passwords are accepted, so nothing in it can end the literal."""
    if not _LITERAL_SAFE.fullmatch(secret):
        raise ValueError(f"the password of {role} must be 16 or more URL-safe base64 characters")
    return f"'{secret}'"


def service_role(schema: str) -> str:
    return f"remit_{schema}"


ROLES = (OWNER, *(service_role(name) for name in SERVICE_NAMES), OPERATOR)


async def ensure_roles(connection: Connection, passwords: dict[str, str], database: str) -> None:
    """Create the roles that are missing and set every role's password (as a superuser)."""
    for role in ROLES:
        secret = password_literal(role, passwords[role])
        exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        verb = "ALTER" if exists else "CREATE"
        await connection.execute(f"{verb} ROLE {role} LOGIN PASSWORD {secret}")
        await connection.execute(f'GRANT CONNECT ON DATABASE "{database}" TO {role}')
    await connection.execute(f'GRANT CREATE ON DATABASE "{database}" TO {OWNER}')
    await connection.execute(f"GRANT pg_read_all_stats TO {OPERATOR}")


async def adopt_schemas(connection: Connection) -> None:
    """Hand the service schemas, and their tables and sequences, to the owner role (as a
    superuser): those migrated before the roles existed belong to whoever ran them."""
    owner = await connection.fetchval("SELECT oid FROM pg_roles WHERE rolname = $1", OWNER)
    for schema in SERVICE_NAMES:
        if await connection.fetchval(
            "SELECT 1 FROM pg_namespace WHERE nspname = $1 AND nspowner <> $2", schema, owner
        ):
            await connection.execute(f'ALTER SCHEMA "{schema}" OWNER TO {OWNER}')
        for row in await connection.fetch(
            # Tables and the sequences of their own (a serial's moves with its table).
            "SELECT c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = $1 AND c.relowner <> $2 AND c.relkind IN ('r', 'p', 'S') "
            "AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d "
            "WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))",
            schema,
            owner,
        ):
            kind = "SEQUENCE" if row["relkind"] == "S" else "TABLE"
            await connection.execute(f'ALTER {kind} "{schema}"."{row["relname"]}" OWNER TO {OWNER}')


async def grant_schema(connection: Connection, schema: str) -> None:
    """The schema's service role may use its tables (not alter them); the operator may read
    them. Only the roles that exist are granted."""
    existing = {
        row["rolname"]
        for row in await connection.fetch(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])",
            [service_role(schema), OPERATOR],
        )
    }
    if service_role(schema) in existing:
        role = service_role(schema)
        await connection.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}')
        await connection.execute(
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO {role}'
        )
        await connection.execute(
            f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "{schema}" TO {role}'
        )
    if OPERATOR in existing:
        await connection.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO {OPERATOR}')
        await connection.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {OPERATOR}')
