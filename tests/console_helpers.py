"""Helpers for the console tests: a browser-like HTTP client signed in as someone."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.auth_helpers import PASSWORD, new_user

_FORM_TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def form_token(page: str) -> str:
    found = _FORM_TOKEN.search(page)
    assert found, "the page has no form token"
    return found.group(1)


async def sign_in(
    console: httpx.AsyncClient, email: str, password: str = PASSWORD, next: str = "/"
) -> httpx.Response:
    """Sign in through the form, as a browser does (the form's token from the page)."""
    page = await console.get("/login")
    return await console.post(
        "/login",
        data={"email": email, "password": password, "csrf": form_token(page.text), "next": next},
    )


async def signed_in(
    console: httpx.AsyncClient, client, admin_token: str, role: str
) -> dict[str, Any]:
    """A new user of `role`, signed in to the console."""
    user = await new_user(client, admin_token, role=role)
    assert (await sign_in(console, user["email"])).status_code == 303
    return user
