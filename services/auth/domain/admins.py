"""The platform keeps at least one active admin: nobody could administer users otherwise."""

from __future__ import annotations


def takes_an_admin_away(
    *, role: str, is_active: bool, new_role: str | None, new_is_active: bool | None
) -> bool:
    """Whether a change to a user leaves one active admin fewer: deactivating an active admin,
    or giving them another role (None: that part does not change)."""
    return (
        role == "admin"
        and is_active
        and (new_is_active is False or new_role not in (None, "admin"))
    )
