"""The auth service's app."""

from __future__ import annotations

from fastapi import FastAPI

from services.auth import reseeder
from services.auth.api import auth, reset_page, users
from services.auth.settings import AuthSettings
from shared.ops.diagnostics_api import router as diagnostics_router
from shared.service import ServiceSpec, create_app

SPEC = ServiceSpec(
    name="auth",
    title="Remit auth service",
    description="Users, roles, sign-in and access tokens (JWKS for the other services).",
    settings=AuthSettings,
    # The platform's operator API (diagnostics, dead letters, cache) is served by auth too.
    routers=(auth.router, users.router, reset_page.router, diagnostics_router),
    background=(reseeder.keep_seeded,),
)


def create() -> FastAPI:
    return create_app(SPEC)
