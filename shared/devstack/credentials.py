"""Passwords of the embedded stack's Postgres and Redis: generated on the first start, kept in
STATE_DIR/credentials.json (mode 0600, readable by the user running `remit up` only), never
printed or logged. Services get them inside their DATABASE_URL and REDIS_URL."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shared.roles import ROLES

FILE_NAME = "credentials.json"


@dataclass(frozen=True)
class Credentials:
    postgres_password: str  # the superuser's
    redis_password: str
    roles: dict[str, str]  # each database role's password (shared/roles.py)


def load_or_create(state_dir: Path) -> Credentials:
    """The stack's credentials, made (and written) the first time; a missing one is added."""
    path = state_dir / FILE_NAME
    known: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    known_roles: dict[str, str] = known.get("roles") or {}
    credentials = Credentials(
        postgres_password=known.get("postgres_password") or _new(),
        redis_password=known.get("redis_password") or _new(),
        roles={role: known_roles.get(role) or _new() for role in ROLES},
    )
    if asdict(credentials) != known:
        state_dir.mkdir(parents=True, exist_ok=True)
        write_private(path, json.dumps(asdict(credentials), indent=2))
    os.chmod(path, 0o600)
    return credentials


def _new() -> str:
    return secrets.token_urlsafe(24)


def write_private(path: Path, text: str) -> None:
    """Written with mode 0600 from the start: never readable by others, even for a moment."""
    partial = path.with_suffix(".tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.replace(partial, path)
