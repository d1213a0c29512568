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
                "campaigns": ("customers", "payments", "campaigns"),
                "agents": ("tasks", "agents"),
                "notifier": ("messages", "suppressions", "consents"),
            }.items()
            for segment in segments
        }

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
            if answer.json().get("error") != "Token expired":
                raise SignedOut
            await self._refresh(caller)
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

    async def _refresh(self, caller: Caller) -> None:
        assert caller.session is not None and caller.cookie is not None
        body = {"refreshToken": caller.session.refresh_token}
        answer = await self._send(caller, "POST", "/auth/refresh", body, None, None)
        if answer.status_code != 200:
            raise SignedOut
        tokens = answer.json()
        caller.session.access_token = tokens["accessToken"]
        caller.session.refresh_token = tokens["refreshToken"]
        await self.sessions.save(caller.cookie, caller.session)


def _bearer(session: Session | None) -> str | None:
    return session.access_token if session is not None else None
