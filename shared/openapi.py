"""Every service's OpenAPI document tells the truth about errors: each one is answered in the
shape of `ErrorBody`, and each operation lists the statuses it can answer with.

A route (or its router) declares the errors it raises with `responses=error_responses(...)`;
the ones any route of a kind gets from the shared HTTP edge are added by `document_errors`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI

from shared.schemas import ErrorBody

# What the edge answers, by what the operation takes: 400 for a request the document does not
# allow (FastAPI documents that as 422), 401 and 403 for a refused access token or a role
# without the permission, 404 for a path naming no resource, 413 for a body over
# MAX_BODY_BYTES.
_VALIDATION = "Validation error: the request does not match this document"
_UNAUTHORIZED = "No access token, or an invalid, expired or revoked one"
_FORBIDDEN = "The caller's role lacks the permission"
_NOT_FOUND = "The resource named in the path does not exist"
_TOO_LARGE = "The request body is over MAX_BODY_BYTES"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the errors a route raises, in the error shape."""
    return {
        status: {"model": ErrorBody, "description": HTTPStatus(status).phrase}
        for status in statuses
    }


_IDEMPOTENCY_CONFLICT = (
    "Conflict: this Idempotency-Key was used with another request, or its first request is "
    "still being handled"
)
_UNAVAILABLE = "Service unavailable (a dependency is down, e.g. Redis for an Idempotency-Key)"


def _edge_errors(path: str, operation: dict[str, Any]) -> dict[str, str]:
    responses = operation["responses"]
    fastapis = responses.get("422", {}).get("content", {}).get("application/json", {})
    if fastapis.get("schema") == {"$ref": "#/components/schemas/HTTPValidationError"}:
        del responses["422"]  # a 422 the route declares itself stays
    errors = {}
    if operation.get("parameters") or "requestBody" in operation:
        errors["400"] = _VALIDATION
    if operation.get("security"):
        errors["401"] = _UNAUTHORIZED
        errors["403"] = _FORBIDDEN
    if "{" in path:
        errors["404"] = _NOT_FOUND
    if "requestBody" in operation:
        errors["413"] = _TOO_LARGE
    if any(p.get("name") == IDEMPOTENCY_PARAMETER["name"] for p in operation.get("parameters", [])):
        errors["409"] = _IDEMPOTENCY_CONFLICT
        errors["503"] = _UNAVAILABLE
    return errors


# Every POST takes it (shared/idempotency.py); the middleware reads it, so no route declares it.
IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Retrying with the same key and body returns the first answer "
        "(Idempotent-Replayed: true) instead of acting twice; the same key with another "
        "request is 409. Kept 24 hours, per caller."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def document_errors(app: FastAPI) -> None:
    """Add the edge's error statuses to the app's OpenAPI document when it is built."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()  # FastAPI's, cached: adding to it again changes nothing
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                if method == "post" and not any(
                    parameter.get("name") == IDEMPOTENCY_PARAMETER["name"]
                    for parameter in operation.get("parameters", [])
                ):
                    operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
                responses = operation["responses"]
                for status, description in _edge_errors(path, operation).items():
                    responses.setdefault(
                        status,
                        {
                            "description": description,
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ErrorBody"}
                                }
                            },
                        },
                    )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        components.setdefault("ErrorBody", ErrorBody.model_json_schema(by_alias=True))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
