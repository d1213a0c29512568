"""asyncpg access: one pool per service, confined to the service's own schema."""

from __future__ import annotations

import time
from typing import Any, TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from shared.settings import ServiceSettings

# A connection of our own or one borrowed from a pool: store functions take either.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
# Queries that need no transaction may also run on the pool itself.
Executor: TypeAlias = "Connection | asyncpg.Pool[asyncpg.Record]"

# asyncpg raises these when Postgres is unreachable or restarting; callers map them to 503.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.TooManyConnectionsError,  # Postgres's max_connections reached
)


class NulInTextError(ValueError):
    """Text bound for the database holds U+0000, which Postgres text cannot (refused before it
    is sent where Postgres would not refuse it: an event's JSON, kept as json text)."""


# Postgres refuses NUL (\u0000) in text, and in jsonb strings, with these: a value the client
# sent, so a 400 rather than a 500.
NUL_IN_TEXT: tuple[type[Exception], ...] = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
    NulInTextError,
)
# Anything Postgres can answer with, an outage included.
DATABASE_ERRORS: tuple[type[Exception], ...] = (*DATABASE_UNAVAILABLE, asyncpg.PostgresError)


# A pool that turned a caller away this recently, and still has no connection free, is
# reported saturated in its health.
SATURATED_FOR_S = 60.0
SATURATED = "saturated"


class PoolExhaustedError(Exception):
    """Every connection of the pool stayed lent out for DATABASE_POOL_TIMEOUT seconds."""


class BoundedPool(asyncpg.Pool):
    """A pool whose callers wait at most `acquire_timeout` for a connection, then get
    PoolExhaustedError (a 503 "Connection pool exhausted"), instead of queueing forever."""

    acquire_timeout: float | None = None
    exhausted_at: float | None = None  # time.monotonic() of the last caller turned away

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncpg's signature)
        try:
            return await super()._acquire(timeout if timeout is not None else self.acquire_timeout)  # type: ignore[misc]
        except TimeoutError:
            if all_lent_out(self):
                self.exhausted_at = time.monotonic()
                raise PoolExhaustedError(
                    f"all {self.get_max_size()} connections stayed in use "
                    f"for {self.acquire_timeout}s"
                ) from None
            raise  # a connection could not be opened in time: the database is unavailable


async def _init_connection(connection: asyncpg.Connection) -> None:
    # orjson: every event's payload and many rows cross this codec, several times faster than
    # the standard library's.
    for json_type in ("jsonb", "json"):
        await connection.set_type_codec(
            json_type, encoder=_json_text, decoder=orjson.loads, schema="pg_catalog"
        )


def _json_text(value: object) -> str:
    return orjson.dumps(value).decode()


async def _keep_session(connection: asyncpg.Connection) -> None:
    """A released connection keeps its session as it is. asyncpg's default reset sends
    `RESET ALL; UNLISTEN *; CLOSE ALL; SELECT pg_advisory_unlock_all()` on every release (a
    round trip each time a connection goes back), for state our code never leaves behind: no
    session `SET`, cursors, or session-level advisory locks (only `pg_try_advisory_xact_lock`),
    and the relay's LISTEN connection unlistens itself. An open transaction is still rolled
    back (asyncpg does that before calling this)."""


async def connect(database_url: str, schema: str) -> asyncpg.Connection:
    """A single connection set up like the pool's, for one-off jobs (migrations, bootstrap)."""
    connection = await asyncpg.connect(
        database_url, server_settings={"search_path": f"{schema},public"}
    )
    await _init_connection(connection)
    return connection


async def create_pool(settings: ServiceSettings, schema: str, **overrides: Any) -> asyncpg.Pool:
    """A pool whose connections see only `schema` (and `public`) unqualified."""
    options: dict[str, Any] = {
        "min_size": min(settings.database_pool_min, settings.database_pool_max),
        "max_size": settings.database_pool_max,
        "max_queries": 50_000,
        "max_inactive_connection_lifetime": 300.0,
        "loop": None,
        "connection_class": asyncpg.Connection,
        "record_class": asyncpg.Record,
        "server_settings": {
            "search_path": f"{schema},public",
            "application_name": schema,
            # Postgres stops a statement that runs too long (QueryCanceledError: a 504 that
            # names the timeout), and releases its locks.
            "statement_timeout": str(round(settings.database_statement_timeout * 1000)),
        },
        "init": _init_connection,
        "reset": _keep_session,
        # The client's own bound, a little later: only if Postgres never answers at all.
        "command_timeout": settings.database_statement_timeout + 5
        if settings.database_statement_timeout
        else None,
        "timeout": 5,
    }
    options.update(overrides)
    pool = BoundedPool(settings.database_url, **options)
    pool.acquire_timeout = settings.database_pool_timeout
    await pool
    return pool


def pool_usage(pool: asyncpg.Pool) -> dict[str, Any]:
    """This process's connections: open (`size`), lent out (`inUse`), `idle`, the bounds, and
    `status`: `saturated` (with a `message`) while every connection is lent out after it
    turned callers away lately.

    `inUse` reaching `max` means callers queue for a connection; those that wait longer than
    DATABASE_POOL_TIMEOUT get 503 "Connection pool exhausted". The outbox relay's
    LISTEN connection is always one of those in use.
    """
    size, idle = pool.get_size(), pool.get_idle_size()
    usage: dict[str, Any] = {
        "size": size,
        "inUse": size - idle,
        "idle": idle,
        "min": pool.get_min_size(),
        "max": pool.get_max_size(),
        "status": "ok",
    }
    exhausted_at: float | None = getattr(pool, "exhausted_at", None)
    since = None if exhausted_at is None else time.monotonic() - exhausted_at
    if since is not None and since < SATURATED_FOR_S and all_lent_out(pool):
        usage["status"] = SATURATED
        usage["message"] = (
            f"Connection pool exhausted: callers waited DATABASE_POOL_TIMEOUT for one of its "
            f"{pool.get_max_size()} connections and were refused {since:.0f} s ago, and none "
            "is free yet (the database itself answers)"
        )
    return usage


def all_lent_out(pool: asyncpg.Pool) -> bool:
    return bool(pool.get_idle_size() == 0 and pool.get_size() >= pool.get_max_size())


async def select_by_id(
    executor: Executor, columns: str, table: str, row_id: object, *, lock: bool = False
) -> asyncpg.Record | None:
    """`SELECT columns FROM table t WHERE t.id = row_id`, row-locked when `lock` (only `t`,
    when the columns reach into other tables).

    Table and column names come from our code, never from a request.
    """
    record: asyncpg.Record | None = await executor.fetchrow(
        f"SELECT {columns} FROM {table} t WHERE t.id = $1{' FOR UPDATE OF t' if lock else ''}",
        row_id,
    )
    return record


async def select_by_ids(
    executor: Executor, columns: str, table: str, row_ids: list[Any], *, lock: bool = False
) -> dict[Any, asyncpg.Record]:
    """`select_by_id` for many ids in one statement, by id; locked in id order (one lock order
    for every caller, so two overlapping callers cannot deadlock)."""
    rows = await executor.fetch(
        f"SELECT {columns} FROM {table} t WHERE t.id = ANY($1) ORDER BY t.id"
        f"{' FOR UPDATE OF t' if lock else ''}",
        list(row_ids),
    )
    return {row["id"]: row for row in rows}


def escape_like(text: str) -> str:
    """`text` matched as itself inside a LIKE pattern (its `%`, `_` and `\\` not wildcards)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def rows_affected(status: str) -> int:
    """How many rows an UPDATE or DELETE touched, from its status (`UPDATE 3`)."""
    return int(status.split()[-1])


async def update_by_id(
    connection: Connection, table: str, row_id: object, fields: dict[str, Any]
) -> None:
    """`UPDATE table SET field = value, …, updated_at = now() WHERE id = row_id`.

    Table and field names come from our code, never from a request; values are parameters.
    """
    assignments = "".join(f"{name} = ${i}, " for i, name in enumerate(fields, start=2))
    await connection.execute(
        f"UPDATE {table} SET {assignments}updated_at = now() WHERE id = $1",
        row_id,
        *fields.values(),
    )
