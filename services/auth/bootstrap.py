"""The first admin account, created once when the platform has none."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from services.auth import events
from services.auth.domain.password_policy import password_problem
from services.auth.domain.passwords import hash_password
from services.auth.settings import AuthSettings
from services.auth.stores import users
from shared.db import connect


@dataclass(frozen=True)
class FirstAdmin:
    created: bool
    generated_password: str | None = None  # to print once, when none was configured


async def ensure_first_admin(settings: AuthSettings) -> FirstAdmin:
    """Create the admin from ADMIN_EMAIL/ADMIN_PASSWORD when no admin exists.

    A generated password (when ADMIN_PASSWORD is unset) is returned for printing once.
    """
    given = settings.admin_password.get_secret_value() if settings.admin_password else None
    password = given or secrets.token_urlsafe(18)
    connection = await connect(settings.database_url, "auth")
    try:
        async with connection.transaction():
            await users.lock_first_admin(connection)
            if await users.admin_exists(connection):
                return FirstAdmin(created=False)
            problem = password_problem(password, settings.admin_email)
            if problem:
                raise ValueError(f"ADMIN_PASSWORD is refused: {problem}")
            admin = await users.insert_user(
                connection, settings.admin_email, await hash_password(password), "admin"
            )
            if admin is None:
                raise RuntimeError(f"{settings.admin_email} exists but is not an admin")
            await events.publish(connection, events.user_created(admin))
    finally:
        await connection.close()
    return FirstAdmin(created=True, generated_password=None if given else password)
