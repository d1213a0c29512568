"""The platform's public API, as the console calls it: straight to the service that answers
each path (the routing the gateway does), with the signed-in person's token, their address
and the request ID, refreshing an expired access token once, silently."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from services.console.settings import ConsoleSettings
from services.console.stores.sessions import Session, Sessions


class SignedOut(Exception):
    """The session's tokens no longer work (expired refresh, revoked): sign in again."""


class Refused(Exception):
    """The platform (or the console itself) said no: shown as a page with the reason."""

    def __init__(self, status: int, details: str) -> None:
        self.status = status
        self.details = details


def details_of(answer: httpx.Response) -> str:
    """The API's own words for a refusal (its error shape's `details`), whatever came back."""
    try:
        details = answer.json()["details"]
    except (ValueError, KeyError, TypeError):
        return f"The platform answered {answer.status_code} {answer.reason_phrase}"
    return str(details)


@dataclass(frozen=True)
class Caller:
    """Who the console calls on behalf of: their session (and its cookie), address, request."""

    session: Session | None
    cookie: str | None
    address: str
    request_id: str


class PlatformApi:
    def __init__(self, settings: ConsoleSettings, sessions: Sessions, http: httpx.AsyncClient):
        self.sessions = sessions
        self.http = http
        by_service = {
            "auth": settings.auth_url,
            "campaigns": settings.campaigns_url,
            "agents": settings.agents_url,
            "notifier": settings.notifier_url,
        }
        # The first segment after /api/v1 names the service, as in the gateway's Caddyfile.
        self._routes = {
            segment: by_service[service]
            for service, segments in {
                "auth": ("auth", "users", "health", "diagnostics"),
                "campaigns": ("customers", "payments", "campaigns", "clock", "portal"),
                "agents": ("tasks", "agents"),
                "notifier": ("messages", "suppressions", "consents"),
            }.items()
            for segment in segments
        }

    async def read(self, caller: Caller, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The JSON a page cannot do without; the API's refusal as `Refused`."""
        answer = await self.call(caller, "GET", path, params=params)
        if answer.status_code != 200:
            raise Refused(answer.status_code, details_of(answer))
        return answer.json()

    async def optional(
        self, caller: Caller, path: str, params: Mapping[str, Any] | None = None
    ) -> Any:
        """The JSON for a part of a page that can go without: None when refused."""
        answer = await self.call(caller, "GET", path, params=params)
        return answer.json() if answer.status_code == 200 else None

    async def items(
        self, caller: Caller, path: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """A list's items for a part of a page that can go without: none when refused."""
        found = await self.optional(caller, path, params)
        return list(found["items"]) if found is not None else []

    def url(self, path: str) -> str:
        segment = path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        return f"{self._routes[segment]}/api/v1{path}"

    async def call(
        self,
        caller: Caller,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """The API's answer; raises SignedOut when the session cannot be renewed."""
        answer = await self._send(caller, method, path, json, params, _bearer(caller.session))
        if answer.status_code == 401 and caller.session is not None:
            if "Token expired" not in answer.text:
                raise SignedOut
            await self._renew(caller)
            answer = await self._send(caller, method, path, json, params, _bearer(caller.session))
            if answer.status_code == 401:
                raise SignedOut
        return answer

    async def _send(
        self,
        caller: Caller,
        method: str,
        path: str,
        json: Any,
        params: Mapping[str, Any] | None,
        bearer: str | None,
    ) -> httpx.Response:
        headers = {"X-Forwarded-For": caller.address, "X-Request-ID": caller.request_id}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        return await self.http.request(
            method,
            self.url(path),
            json=json,
            params={k: v for k, v in (params or {}).items() if v not in (None, "")},
            headers=headers,
        )

    async def whoami(self, caller: Caller, access_token: str) -> httpx.Response:
        """`GET /auth/me` with a token just issued, before any session holds it."""
        return await self._send(caller, "GET", "/auth/me", None, None, access_token)

    async def _renew(self, caller: Caller) -> None:
        """A new access token for the session, once: a page's calls run at once, and a refresh
        token spent twice ends the session (the API's reuse detection), so the first expired
        call renews while the others wait for its token."""
        assert caller.session is not None and caller.cookie is not None
        expired = caller.session.access_token
        async with self.sessions.renewing(caller.cookie) as renewer:
            current = await self.sessions.find(caller.cookie)
            if current is None:
                raise SignedOut
            if current.access_token != expired:  # renewed meanwhile, by another call
                caller.session.access_token = current.access_token
                caller.session.refresh_token = current.refresh_token
                return
            if not renewer:
                raise SignedOut  # the renewing call did not finish in time
            body = {"refreshToken": current.refresh_token}
            answer = await self._send(caller, "POST", "/auth/refresh", body, None, None)
            if answer.status_code != 200:
                raise SignedOut
            tokens = answer.json()
            caller.session.access_token = tokens["accessToken"]
            caller.session.refresh_token = tokens["refreshToken"]
            await self.sessions.save(caller.cookie, caller.session)


def _bearer(session: Session | None) -> str | None:
    return session.access_token if session is not None else None
