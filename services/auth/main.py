"""The auth service's app."""

from __future__ import annotations

from fastapi import FastAPI

from services.auth import revocations
from services.auth.reset_page import router as reset_page
from services.auth.routes import router
from services.auth.user_routes import router as user_router
from shared.diagnostics_api import router as diagnostics_router
from shared.service import ServiceSpec, create_app

SPEC = ServiceSpec(
    name="auth",
    title="Remit auth service",
    description="Users, roles, sign-in and access tokens (JWKS for the other services).",
    # The platform's operator API (diagnostics, dead letters, cache) is served by auth too.
    routers=(router, user_router, reset_page, diagnostics_router),
    background=(revocations.keep_seeded,),
)


def create() -> FastAPI:
    return create_app(SPEC)
