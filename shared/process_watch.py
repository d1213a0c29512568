"""This process's memory and CPU: shown in the service's health, and a warning in the logs
when memory passes MEMORY_WARN_MB, so a leak shows in the logs before the process is killed."""

from __future__ import annotations

import asyncio
import logging

import psutil

logger = logging.getLogger(__name__)

_PROCESS = psutil.Process()
CHECK_EVERY_S = 30.0


def process_usage() -> dict[str, float]:
    """Resident memory in MiB, and CPU use since the previous call (percent of one core)."""
    return {
        "rssMb": round(_PROCESS.memory_info().rss / 2**20, 1),
        "cpuPercent": _PROCESS.cpu_percent(interval=None),
    }


def check_memory(warn_mb: int) -> bool:
    """Log a warning when resident memory is above `warn_mb`; True when it was."""
    rss_mb = _PROCESS.memory_info().rss / 2**20
    if rss_mb <= warn_mb:
        return False
    logger.warning("memory usage high", extra={"rss_mb": round(rss_mb, 1), "threshold_mb": warn_mb})
    return True


async def watch_memory(warn_mb: int) -> None:
    while True:
        check_memory(warn_mb)
        await asyncio.sleep(CHECK_EVERY_S)
