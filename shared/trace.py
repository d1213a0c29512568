"""`remit trace <request-id>`: one request's timeline across every service, from the services'
own records: HTTP lines in their logs, events each published (outbox) and handled
(processed events). For operators holding only the X-Request-ID a customer quoted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from shared.settings import SERVICE_NAMES


@dataclass(frozen=True, order=True)
class Step:
    at: datetime
    service: str
    kind: str
    what: str


async def from_database(database_url: str, request_id: str) -> list[Step]:
    connection = await asyncpg.connect(database_url)
    steps: list[Step] = []
    try:
        for schema in SERVICE_NAMES:
            published = await connection.fetch(
                f'SELECT created_at, published_at, topic, event_key FROM "{schema}".outbox '
                "WHERE envelope->>'request_id' = $1",
                request_id,
            )
            for row in published:
                state = "published" if row["published_at"] else "waiting in outbox"
                steps.append(
                    Step(
                        row["created_at"],
                        schema,
                        "event out",
                        f"{row['topic']} key={row['event_key']} ({state})",
                    )
                )
            handled = await connection.fetch(
                f'SELECT processed_at, event_type, consumer FROM "{schema}".processed_events '
                "WHERE request_id = $1",
                request_id,
            )
            steps += [
                Step(
                    row["processed_at"],
                    schema,
                    "event in",
                    f"{row['event_type']} by {row['consumer']}",
                )
                for row in handled
            ]
    finally:
        await connection.close()
    return steps


def from_logs(log_dir: Path, request_id: str) -> list[Step]:
    steps: list[Step] = []
    for name in SERVICE_NAMES:
        path = log_dir / f"{name}.log"
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if request_id not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("request_id") != request_id or "path" not in record:
                continue
            what = (
                f"{record['method']} {record['path']} → {record['status']} "
                f"in {record['duration_ms']} ms"
            )
            steps.append(Step(datetime.fromisoformat(record["time"]), name, "http", what))
    return steps


def render(steps: list[Step]) -> str:
    if not steps:
        return "nothing recorded for this request ID"
    return "\n".join(
        f"{step.at.isoformat(timespec='milliseconds')}  {step.service:<10} "
        f"{step.kind:<10} {step.what}"
        for step in sorted(steps)
    )
