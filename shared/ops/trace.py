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
from typing import Any

import asyncpg

from shared.ops.log_reader import GATEWAY, files, parse
from shared.outbox import published
from shared.settings import SERVICE_NAMES


@dataclass(frozen=True, order=True)
class Step:
    at: datetime
    service: str
    kind: str
    what: str
    failed: bool = False  # a 5xx answer, a failed task, a message not sent


# What the request's work ended as when it did not go well.
_FAILED_TASKS = {"failed"}
_FAILED_MESSAGES = {"failed", "bounced", "suppressed", "unknown"}


async def from_database(database_url: str, request_id: str) -> list[Step]:
    connection = await asyncpg.connect(database_url, timeout=10)
    steps: list[Step] = []
    try:
        for schema in SERVICE_NAMES:
            events_out = await connection.fetch(
                f"SELECT created_at, {published(schema)} AS published, topic, event_key "
                f'FROM "{schema}".outbox WHERE request_id = $1',
                request_id,
            )
            for row in events_out:
                state = "published" if row["published"] else "waiting in outbox"
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
                row["status"] in _FAILED_TASKS,
            )
            for row in tasks
        ]
        messages = await connection.fetch(
            "SELECT created_at, channel, recipient, status, reason, refused "
            "FROM notifier.messages WHERE request_id = $1",
            request_id,
        )
        steps += [
            Step(
                row["created_at"],
                "notifier",
                "message",
                f"{row['channel']} to {row['recipient']}: "
                + ("refused" if row["refused"] else row["status"])
                + (f" ({row['reason']})" if row["reason"] else ""),
                row["refused"] or row["status"] in _FAILED_MESSAGES,
            )
            for row in messages
        ]
    finally:
        await connection.close()
    return steps


def service_log_lines(log_dir: Path) -> Iterator[str]:
    """The lines of each service's log, its replicas' (<service>-2.log, ...) and the
    gateway's (its own failures: a service down or too slow)."""
    for _, path in files(log_dir):
        yield from path.read_text(errors="replace").splitlines()


# What a log line says besides its message, shown after it when present.
_DETAILS = (
    "error", "event_type", "topic", "consumer", "channel", "reason", "job", "count",
)  # fmt: skip


def from_logs(lines: Iterable[str], request_id: str) -> list[Step]:
    """The request's lines among JSON log lines, from files or from `docker compose logs` (a
    `name  | ` prefix before the JSON is skipped): each HTTP answer with its status, and every
    warning and error (an unhandled error, an exhausted pool, a database down, a dead-lettered
    event, a failed or refused send). Lines that are not JSON records are passed over."""
    steps: list[Step] = []
    for line in lines:
        if request_id not in line or "{" not in line:
            continue
        text = line[line.index("{") :]
        parsed = parse(text, "?")
        if parsed is None or parsed.request_id != request_id:
            continue
        record = json.loads(text)
        if parsed.service == GATEWAY:
            steps.append(_gateway_step(parsed.at, record))
        elif "status" in record and "duration_ms" in record:
            steps.append(_http_step(parsed.at, parsed.service, record))
        elif parsed.level in ("WARNING", "ERROR", "CRITICAL"):
            steps.append(
                Step(parsed.at, parsed.service, parsed.level.lower(), _problem_line(record))
            )
    return steps


def _failed_status(status: object) -> bool:
    return isinstance(status, int) and status >= 500


def _http_step(at: datetime, service: str, record: dict[str, Any]) -> Step:
    status = record.get("status")
    what = (
        f"{record.get('method', '?')} {record.get('path', '?')} → {status} "
        f"in {record.get('duration_ms')} ms"
    )
    failed = _failed_status(status)
    return Step(at, service, "http", f"{what}  FAILED" if failed else what, failed)


def _gateway_step(at: datetime, record: dict[str, Any]) -> Step:
    """The gateway logs only its own failures: a service down (502/503) or too slow (504)."""
    request = record.get("request")
    if not isinstance(request, dict):
        request = {}
    status = record.get("status")
    what = f"{request.get('method', '?')} {request.get('uri', '?')} → {status} at the gateway" + (
        f" ({record['cause']})" if record.get("cause") else ""
    )
    failed = _failed_status(status)
    return Step(at, GATEWAY, "http", f"{what}  FAILED" if failed else what, failed)


def _problem_line(record: dict[str, Any]) -> str:
    details = [f"{name}={record[name]}" for name in _DETAILS if record.get(name) is not None]
    where = f" ({record['path']})" if record.get("path") else ""
    first = str(record.get("exc_info") or "").strip().splitlines()
    cause = f"  {first[-1]}" if first else ""
    return (
        f"{record.get('message', '')}{where}"
        + (f": {', '.join(details)}" if details else "")
        + cause
    )


def outcome(steps: list[Step]) -> str:
    """One line on how the request went: failed when an answer was 5xx, an error was logged,
    or its work failed (a task failed, a message not sent)."""
    answers = sum(1 for s in steps if s.failed and s.kind == "http")
    work = sum(1 for s in steps if s.failed and s.kind != "http")
    errors = sum(1 for s in steps if s.kind == "error")
    warnings = sum(1 for s in steps if s.kind == "warning")
    if answers or errors or work:
        return (
            f"outcome: FAILED ({answers} answers 5xx, {errors} errors logged, {work} tasks or "
            f"messages failed, {warnings} warnings logged)"
        )
    if warnings:
        return f"outcome: answered, with {warnings} warnings logged"
    return "outcome: no failure recorded"


def render(steps: list[Step], notes: Iterable[str] = ()) -> str:
    """The timeline, then how the request went, then what could not be read (`notes`)."""
    lines = [
        f"{step.at.isoformat(timespec='milliseconds')}  {step.service:<10} "
        f"{step.kind:<10} {step.what}"
        for step in sorted(steps)
    ]
    lines.append(outcome(steps) if steps else "nothing recorded for this request ID")
    return "\n".join([*lines, *notes])
