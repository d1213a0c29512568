"""The campaigns service's app."""

from __future__ import annotations

from fastapi import FastAPI

from shared.service import ServiceSpec, create_app

SPEC = ServiceSpec(
    name="campaigns",
    title="Remit campaigns service",
    description="Customers, payment records, campaigns of escalation steps and their scheduler.",
)


def create() -> FastAPI:
    return create_app(SPEC)
