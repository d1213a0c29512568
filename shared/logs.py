"""Structured JSON logs: one line per record with service, request and trace ids."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from opentelemetry import trace
from pythonjsonlogger.orjson import OrjsonFormatter

from shared.context import request_id_var


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = getattr(record, "request_id", None) or request_id_var.get()
        span_context = trace.get_current_span().get_span_context()
        record.trace_id = format(span_context.trace_id, "032x") if span_context.is_valid else None
        return True


def json_handler(service: str, stream: TextIO) -> logging.Handler:
    """JSON lines with level, service, logger, message, request_id, trace_id and time."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(_ContextFilter(service))
    handler.setFormatter(
        OrjsonFormatter(
            "%(levelname)s %(service)s %(name)s %(message)s %(request_id)s %(trace_id)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )
    )
    return handler


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every logger (ours, uvicorn's, faststream's) through one JSON handler on stdout."""
    # A record otherwise also finds its caller's frame, thread and process: nothing the
    # line shows, and most of a record's cost on a busy request path.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [json_handler(service, sys.stdout)]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "aiokafka"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # uvicorn's own access line lacks our fields; the request middleware writes a better one.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("aiokafka", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
