"""Auth's rules, free of I/O: the login decision and lock-out, the password policy, the last
active admin, single-use secrets and password hashing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.auth.domain.admins import takes_an_admin_away
from services.auth.domain.lockout import Decision, Outcome, decide
from services.auth.domain.password_policy import MAX_LENGTH, MIN_LENGTH, password_problem
from services.auth.domain.passwords import DUMMY_HASH, hash_password, verify_password
from services.auth.domain.secrets import new_secret, secret_hash

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LOCKOUT = timedelta(minutes=15)


def _login(**given: object) -> Decision:
    facts: dict[str, object] = {
        "password_ok": True, "is_active": True, "failed_attempts": 0, "locked_until": None,
        "now": NOW, "max_failed": 5, "lockout": LOCKOUT,
    }  # fmt: skip
    facts.update(given)
    return decide(**facts)  # type: ignore[arg-type]


def test_the_right_password_signs_in():
    assert _login() == Decision(Outcome.SUCCESS)


def test_a_wrong_password_counts_one_more_failure():
    assert _login(password_ok=False, failed_attempts=2) == Decision(
        Outcome.BAD_CREDENTIALS, failed_attempts=3
    )


def test_the_failure_that_reaches_the_limit_locks_the_account():
    assert _login(password_ok=False, failed_attempts=4) == Decision(
        Outcome.LOCKED, failed_attempts=5, lock_until=NOW + LOCKOUT
    )


def test_a_locked_account_refuses_even_the_right_password_until_the_lock_ends():
    until = NOW + timedelta(minutes=3)
    assert _login(locked_until=until, failed_attempts=5) == Decision(
        Outcome.LOCKED, lock_until=until
    )


def test_a_lock_that_ran_out_starts_the_count_afresh():
    ended = NOW - timedelta(seconds=1)
    assert _login(locked_until=ended, failed_attempts=5) == Decision(Outcome.SUCCESS)
    assert _login(password_ok=False, locked_until=ended, failed_attempts=5) == Decision(
        Outcome.BAD_CREDENTIALS, failed_attempts=1
    )


def test_disabled_is_told_only_to_someone_who_knows_the_password():
    assert _login(is_active=False) == Decision(Outcome.DISABLED)
    assert _login(is_active=False, password_ok=False).outcome is Outcome.BAD_CREDENTIALS


@pytest.mark.parametrize(
    ("password", "email", "problem"),
    [
        ("x" * (MIN_LENGTH - 1), None, "characters long"),
        ("x" * (MAX_LENGTH + 1), None, "characters long"),
        ("password1234", None, "most common passwords"),
        ("PASSWORD1234", None, "most common passwords"),
        ("ada-lovelace-rules", "ada-lovelace@example.com", "email address"),
    ],
)
def test_passwords_that_are_refused(password, email, problem):
    assert problem in str(password_problem(password, email))


def test_a_long_uncommon_password_is_accepted_and_a_short_email_name_is_no_objection():
    assert password_problem("quiet-harbour-lanterns-31", "ada@example.com") is None
    assert password_problem("jo-likes-quiet-harbours", "jo@example.com") is None


@pytest.mark.parametrize(
    ("role", "is_active", "new_role", "new_is_active", "away"),
    [
        ("admin", True, None, False, True),  # deactivated
        ("admin", True, "viewer", None, True),  # demoted
        ("admin", True, "admin", True, False),  # unchanged
        ("admin", False, "viewer", None, False),  # already inactive
        ("agent", True, None, False, False),  # not an admin
    ],
)
def test_what_takes_an_active_admin_away(role, is_active, new_role, new_is_active, away):
    assert (
        takes_an_admin_away(
            role=role, is_active=is_active, new_role=new_role, new_is_active=new_is_active
        )
        is away
    )


def test_secrets_are_random_and_kept_only_as_a_fixed_size_hash():
    first, second = new_secret(), new_secret()
    assert first != second and len(first) >= 43  # 256 bits, URL-safe
    assert secret_hash(first) == secret_hash(first) != secret_hash(second)
    assert len(secret_hash(first)) == 32


async def test_passwords_are_hashed_with_argon2id_and_verified():
    hashed = await hash_password("quiet-harbour-lanterns-31")
    assert hashed.startswith("$argon2id$")
    assert await verify_password(hashed, "quiet-harbour-lanterns-31")
    assert not await verify_password(hashed, "quiet-harbour-lanterns-32")
    assert not await verify_password("not a hash", "anything")
    assert not await verify_password(DUMMY_HASH, "quiet-harbour-lanterns-31")
