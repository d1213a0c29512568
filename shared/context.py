"""Per-request and per-event context carried into every log line and every event."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
# What a caller may give as its request ID (else one is minted): short, printable, no spaces.
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def accept_request_id(candidate: str | None) -> str:
    """Keep a caller's request ID when it is sane (short, printable, no spaces), else mint one."""
    if candidate and SANE_REQUEST_ID.fullmatch(candidate):
        return candidate
    return str(uuid.uuid4())
