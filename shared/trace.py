"""`remit trace <request-id>`: one request's timeline across every service, from the services'
own records: HTTP lines in their logs, events each published (outbox) and handled
(processed events), and the tasks and messages the request led to. For operators holding
only the X-Request-ID a customer quoted."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
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
        tasks = await connection.fetch(
            "SELECT created_at, id, channel, status, outcome FROM agents.tasks "
            "WHERE request_id = $1",
            request_id,
        )
        steps += [
            Step(
                row["created_at"],
                "agents",
                "task",
                f"{row['channel']} task {row['id']}: {row['status']}"
                + (f" ({row['outcome']})" if row["outcome"] else ""),
            )
            for row in tasks
        ]
        messages = await connection.fetch(
            "SELECT created_at, channel, recipient, status, reason FROM notifier.messages "
            "WHERE request_id = $1",
            request_id,
        )
        steps += [
            Step(
                row["created_at"],
                "notifier",
                "message",
                f"{row['channel']} to {row['recipient']}: {row['status']}"
                + (f" ({row['reason']})" if row["reason"] else ""),
            )
            for row in messages
        ]
    finally:
        await connection.close()
    return steps


def service_log_lines(log_dir: Path) -> Iterator[str]:
    """The lines of each service's log, and its replicas' (<service>-2.log, ...)."""
    for service in SERVICE_NAMES:
        for path in [log_dir / f"{service}.log", *sorted(log_dir.glob(f"{service}-*.log"))]:
            if path.exists():
                yield from path.read_text(errors="replace").splitlines()


def from_logs(lines: Iterable[str], request_id: str) -> list[Step]:
    """The request's HTTP lines among JSON log lines, from files or from `docker compose logs`
    (a `name  | ` prefix before the JSON is skipped)."""
    steps: list[Step] = []
    for line in lines:
        if request_id not in line:
            continue
        try:
            record = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        if record.get("request_id") != request_id or "path" not in record:
            continue
        what = (
            f"{record['method']} {record['path']} → {record['status']} "
            f"in {record['duration_ms']} ms"
        )
        at = datetime.fromisoformat(record["time"])
        steps.append(Step(at, str(record.get("service", "?")), "http", what))
    return steps


def render(steps: list[Step]) -> str:
    if not steps:
        return "nothing recorded for this request ID"
    return "\n".join(
        f"{step.at.isoformat(timespec='milliseconds')}  {step.service:<10} "
        f"{step.kind:<10} {step.what}"
        for step in sorted(steps)
    )
