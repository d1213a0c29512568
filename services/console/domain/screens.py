"""Which screens and actions a signed-in person sees: the API's own permission names decide,
so the console never offers what the API would refuse."""

from __future__ import annotations

from dataclasses import dataclass

from shared.permissions import ROLE_PERMISSIONS


@dataclass(frozen=True)
class Screen:
    path: str
    title: str
    permission: str


# In the order of the navigation bar.
SCREENS = (
    Screen("/", "Dashboard", "campaigns:read"),
    Screen("/customers", "Customers", "customers:read"),
    Screen("/payments", "Payments", "payments:read"),
    Screen("/campaigns", "Campaigns", "campaigns:read"),
    Screen("/queue", "My queue", "tasks:work"),
    Screen("/compliance", "Compliance", "messages:read"),
    Screen("/trace", "Trace", "diagnostics:read"),
    Screen("/users", "Users", "users:write"),
)


def permissions_of(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())


def may(role: str, permission: str) -> bool:
    return permission in permissions_of(role)


def screens_for(role: str) -> list[Screen]:
    return [screen for screen in SCREENS if may(role, screen.permission)]
