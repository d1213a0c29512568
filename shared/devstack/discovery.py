"""How the operators' commands (`remit trace`, `diagnose`, `dlq`, `cache`) find a platform that
`remit up` runs on this machine, on whatever ports and in whatever STATE_DIR: while it runs,
`remit up` keeps the settings they need in STATE_DIR/platform.json (mode 0600, like the
credentials beside it) and removes the file when it stops.

A variable set in the environment or in `.env` always wins over the file: a deployed
platform is reached through the documented variables, as before."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from shared.devstack.credentials import write_private

FILE_NAME = "platform.json"


@dataclass(frozen=True)
class RunningPlatform:
    pid: int  # the process running the platform (`remit up`)
    env: dict[str, str]  # what the operators' commands need, as environment variables
    log_dir: Path
    gateway_url: str


def announce(state_dir: Path, platform: RunningPlatform) -> None:
    write_private(
        state_dir / FILE_NAME,
        json.dumps(
            {
                "pid": platform.pid,
                "env": platform.env,
                "logDir": str(platform.log_dir),
                "gatewayUrl": platform.gateway_url,
            },
            indent=2,
        ),
    )


def withdraw(state_dir: Path) -> None:
    (state_dir / FILE_NAME).unlink(missing_ok=True)


def state_dir() -> Path:
    """STATE_DIR as `remit up` reads it (environment, then `.env`), by default `.state`."""
    return Path(os.environ.get("STATE_DIR") or _dotenv().get("STATE_DIR") or ".state")


def find(directory: Path | None = None) -> RunningPlatform | None:
    """The platform running from `directory` (by default STATE_DIR), if its process lives."""
    path = (directory or state_dir()) / FILE_NAME
    try:
        known = json.loads(path.read_text())
        platform = RunningPlatform(
            int(known["pid"]),
            {str(name): str(value) for name, value in known["env"].items()},
            Path(known["logDir"]),
            str(known["gatewayUrl"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return platform if _alive(platform.pid) else None


def adopt() -> RunningPlatform | None:
    """Fill in, from the running platform, each variable neither the environment nor `.env`
    sets; the platform found, if any."""
    platform = find()
    if platform is None:
        return None
    given = set(os.environ) | {name.upper() for name in _dotenv()}
    for name, value in platform.env.items():
        if name not in given:
            os.environ[name] = value
    return platform


def _dotenv() -> dict[str, str | None]:
    return dict(dotenv_values(".env")) if Path(".env").is_file() else {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
