"""`remit logs`: the platform's JSON log files (each service, its replicas, and the gateway's
own failures) merged in time order, filtered by level, service, path or request ID. Prints
the lines as they were written, so `jq` still reads them."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shared.settings import SERVICE_NAMES

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
GATEWAY = "gateway"


@dataclass(frozen=True, order=True)
class LogLine:
    at: datetime
    service: str
    level: str
    path: str | None
    request_id: str | None
    text: str  # the line as written


@dataclass(frozen=True)
class LogFilter:
    min_level: str = "DEBUG"
    services: frozenset[str] = frozenset()  # empty: all
    path: str | None = None  # a prefix of the request path
    request_id: str | None = None

    def keeps(self, line: LogLine) -> bool:
        return (
            LEVELS.index(line.level) >= LEVELS.index(self.min_level)
            and (not self.services or line.service in self.services)
            and (self.path is None or (line.path or "").startswith(self.path))
            and (self.request_id is None or line.request_id == self.request_id)
        )


def parse(text: str, service: str) -> LogLine | None:
    """One JSON log line, a service's (`time`, `level`) or Caddy's (`ts`, lower-case `level`);
    None for anything else (a crash's traceback, a line cut short)."""
    try:
        record = json.loads(text)
        if not isinstance(record, dict):
            return None
        if "time" in record:
            at = datetime.fromisoformat(str(record["time"]))
        else:  # Caddy's
            at = datetime.fromtimestamp(float(record["ts"]), UTC)
            service = GATEWAY
    except (ValueError, KeyError, TypeError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    level = str(record.get("level") or "INFO").upper()
    level = {"WARN": "WARNING", "FATAL": "CRITICAL", "PANIC": "CRITICAL"}.get(level, level)
    request = record.get("request")
    path = record.get("path") or (request.get("uri") if isinstance(request, dict) else None)
    return LogLine(
        at,
        str(record.get("service") or service),
        level if level in LEVELS else "INFO",
        str(path) if path else None,
        str(record["request_id"]) if record.get("request_id") else None,
        text,
    )


def files(log_dir: Path) -> list[tuple[str, Path]]:
    """Each service's log and its replicas' (<service>-2.log, ...), then the gateway's."""
    found: list[tuple[str, Path]] = []
    for service in SERVICE_NAMES:
        for path in [log_dir / f"{service}.log", *sorted(log_dir.glob(f"{service}-*.log"))]:
            if path.exists():
                found.append((service, path))
    if (log_dir / f"{GATEWAY}.log").exists():
        found.append((GATEWAY, log_dir / f"{GATEWAY}.log"))
    return found


def _lines_of(service: str, path: Path) -> Iterator[LogLine]:
    with path.open(errors="replace") as file:
        for text in file:
            line = parse(text.rstrip("\n"), service)
            if line is not None:
                yield line


def merged(sources: Iterable[tuple[str, Path]], keep: LogFilter) -> Iterator[LogLine]:
    """The lines of every file in time order (each file is already), those `keep` keeps."""
    streams = [_lines_of(service, path) for service, path in sources]
    return (line for line in heapq.merge(*streams) if keep.keeps(line))
