"""`make bench`: every figure with a baseline measured in the same run, on the embedded stack.

Run one part alone with `python -m tests.bench outbox` (or `auth`); the table is also written
to bench-results.json.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from shared.cli import bootstrap_admin, migrate_all
from shared.stack.platform import Platform, isolated_settings
from tests.bench import agents, auth, campaigns, notifier, outbox
from tests.bench.report import Row, print_table, write_json

ADMIN_EMAIL = "bench@example.com"
ADMIN_PASSWORD = "bench-password-123"
PARTS = ("outbox", "campaigns", "agents", "notifier", "auth")


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
        },
    )
    rows: list[Row] = []
    try:
        stack.start_infrastructure()
        settings = stack.service_settings()
        if "outbox" in parts:
            rows += asyncio.run(outbox.measure(settings))
        if "campaigns" in parts:
            rows += asyncio.run(campaigns.measure(settings))
        if "agents" in parts:
            rows += asyncio.run(agents.measure(settings))
        if "notifier" in parts:
            rows += asyncio.run(notifier.measure(settings))
        if "auth" in parts:
            migrate_all(settings.database_url)
            bootstrap_admin(settings)
            stack.start_services()
            stack.wait_healthy()
            assert stack.gateway is not None
            rows += asyncio.run(
                auth.measure(settings, stack.gateway.url, ADMIN_EMAIL, ADMIN_PASSWORD)
            )
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
