"""`make bench`: every figure with a baseline measured in the same run, on the embedded stack.

Run one part alone with `python -m tests.bench outbox` (or `auth`, `http`, `pipeline`,
`memory`, ...); the table is also written to bench-results.json.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

from services.auth.settings import AuthSettings
from services.notifier.settings import NotifierSettings
from shared.devstack.platform import Platform, isolated_settings
from shared.ops.cli import bootstrap_admin, migrate_all
from shared.settings import ServiceSettings
from tests.bench import agents, auth, campaigns, http_load, memory, notifier, outbox, pipeline
from tests.bench.live import Live
from tests.bench.report import Row, print_table, write_json

ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "quiet-harbour-lanterns-31"
PARTS = ("outbox", "campaigns", "agents", "notifier", "auth", "http", "pipeline", "memory")
# Parts that run against the four services and the gateway.
LIVE_PARTS = {"auth", "http", "pipeline", "memory"}


def _live(stack: Platform, settings: ServiceSettings) -> Live:
    migrate_all(stack.migration_url)
    bootstrap_admin(stack.settings_for(AuthSettings))
    stack.start_services()
    stack.wait_healthy()
    return Live(stack, settings, ADMIN_EMAIL, ADMIN_PASSWORD)


def main(parts: list[str]) -> None:
    state_dir = Path(tempfile.mkdtemp(prefix="remit-bench-"))
    stack = Platform(
        isolated_settings(state_dir),
        extra_env={
            "ADMIN_EMAIL": ADMIN_EMAIL,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            # The benchmark measures throughput, not the limits that protect it.
            "LOGIN_RATE_LIMIT_PER_IP": "1000000",
            "LOGIN_RATE_LIMIT_PER_ACCOUNT": "1000000",
            "API_RATE_LIMIT": "1000000",
            "LOG_LEVEL": "WARNING",
            # The pipeline part: SMS sent as fast as they come, on any day. The simulator is no
            # Twilio account: neither the account's send rate nor its cap on requests at once
            # (about 100, shared by every replica; 64 a process by default) applies to it.
            "SMS_RATE_PER_SECOND": "1000000",
            "TWILIO_SEND_CONCURRENCY": "1000",
            "CONTACT_DAYS": "mon,tue,wed,thu,fri,sat,sun",
            "CONTACT_HOLIDAYS": "",
        },
    )
    rows: list[Row] = []
    try:
        stack.start_infrastructure()
        settings = stack.service_settings()
        # The parts that run a service's handlers in this process read its settings as it does.
        os.environ.update(stack.env)
        if "outbox" in parts:
            rows += asyncio.run(outbox.measure(settings))
        if "campaigns" in parts:
            rows += asyncio.run(campaigns.measure(settings))
        if "agents" in parts:
            rows += asyncio.run(agents.measure(settings))
        if "notifier" in parts:
            rows += asyncio.run(notifier.measure(stack.settings_for(NotifierSettings)))
        if LIVE_PARTS & set(parts):
            live = _live(stack, settings)
            if "auth" in parts:
                rows += asyncio.run(auth.measure(live))
            if "http" in parts:
                rows += asyncio.run(http_load.measure(live))
            if {"pipeline", "memory"} & set(parts):
                run = asyncio.run(pipeline.measure(live))
                if "pipeline" in parts:
                    rows += run.rows
                if "memory" in parts:
                    rows += memory.rows(run.memory, stack.log_dir)
    finally:
        stack.stop()
        shutil.rmtree(state_dir, ignore_errors=True)
    print_table(rows)
    write_json(rows, Path("bench-results.json"))
    print("written to bench-results.json")


if __name__ == "__main__":
    chosen = sys.argv[1:] or list(PARTS)
    unknown = set(chosen) - set(PARTS)
    if unknown:
        sys.exit(f"unknown part(s) {sorted(unknown)}; choose from {PARTS}")
    main(chosen)
