"""Roles and what each may do, by the permission names the API checks (`shared.security`)
and the console uses to show only what a person may use."""

from __future__ import annotations

# Each role has every permission of the one before it, plus its own.
_VIEWER = frozenset(
    {
        "customers:read",
        "payments:read",
        "campaigns:read",
        "tasks:read",
        "agents:read",
        "messages:read",
    }
)
_AGENT = _VIEWER | {"tasks:work"}
_MANAGER = _AGENT | {
    "users:read",
    "customers:write",
    "payments:write",
    "campaigns:write",
    "agents:write",
    "suppressions:write",
}
_ADMIN = _MANAGER | {
    "users:write",
    "keys:rotate",
    "tasks:admin",
    "diagnostics:read",
    "diagnostics:write",
    "clock:advance",
}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": _ADMIN,
    "manager": _MANAGER,
    "agent": _AGENT,
    "viewer": _VIEWER,
}
ROLES = tuple(ROLE_PERMISSIONS)
