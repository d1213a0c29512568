"""Helpers for the console tests: a browser-like HTTP client signed in as someone."""

from __future__ import annotations

import re

import httpx

from tests.auth_helpers import PASSWORD

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
