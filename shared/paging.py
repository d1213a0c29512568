"""Keyset pagination shared by every list endpoint: one query per page, a total, and an
opaque cursor (newest-last order by `created_at, id`, which every listed table indexes)."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.db import Executor
from shared.errors import ApiError


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), str(self.id)]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            created_at, row_id = json.loads(base64.urlsafe_b64decode(padded))
            return cls(datetime.fromisoformat(created_at), uuid.UUID(row_id))
        except (ValueError, TypeError):
            raise ApiError(400, "Validation error", '"cursor" is invalid') from None


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    next_cursor: str | None


async def keyset_page(
    executor: Executor,
    columns: str,
    table: str,
    where: str,
    args: list[Any],
    limit: int,
    cursor: str | None,
) -> Page:
    """`SELECT {columns} FROM {table} WHERE {where}`, one page at a time, with the total.

    `table` is aliased `t`; `where` uses `$1…$n` for `args`. The page walks the
    `(created_at, id)` index; the total is a separate count over the same filter.
    """
    after = Cursor.decode(cursor) if cursor else None
    n = len(args)
    rows = await executor.fetch(
        f"SELECT {columns}, (SELECT count(*) FROM {table} WHERE {where}) AS total_matching "
        f"FROM {table} WHERE {where} "
        f"AND (${n + 1}::timestamptz IS NULL OR (t.created_at, t.id) > (${n + 1}, ${n + 2})) "
        f"ORDER BY t.created_at, t.id LIMIT ${n + 3}",
        *args,
        after.created_at if after else None,
        after.id if after else None,
        limit + 1,
    )
    page = [{k: v for k, v in row.items() if k != "total_matching"} for row in rows[:limit]]
    if rows:
        total = int(rows[0]["total_matching"])
    else:
        total = int(await executor.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", *args))
    more = len(rows) > limit
    next_cursor = Cursor(page[-1]["created_at"], page[-1]["id"]).encode() if more else None
    return Page(page, total, next_cursor)


async def newest(
    executor: Executor,
    table: str,
    newest_by: str,
    where: str,
    args: list[Any],
    limit: int,
) -> tuple[list[Any], int]:
    """The newest `limit` rows of `table` by `newest_by` that match `where` (`$1…$n` for
    `args`), and how many match: the short lists that have no pages (suppressions, consents)."""
    n = len(args)
    rows = await executor.fetch(
        f"SELECT * FROM {table} WHERE {where} ORDER BY {newest_by} DESC LIMIT ${n + 1}",
        *args,
        limit,
    )
    total: int = await executor.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", *args)
    return list(rows), total
