"""The one error shape every service answers with, and the exceptions that produce it."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any


class ConfigurationError(RuntimeError):
    """A setting is missing or malformed; start-up stops with this message."""


class ApiError(Exception):
    """A failure the caller should see: rendered as `{"error", "details", "requestId"}`."""

    def __init__(
        self,
        status: int,
        error: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {details}")
        self.status = status
        self.error = error
        self.details = details
        self.headers = headers or {}


def error_body(
    status: int, error: str | None, details: Any, request_id: str | None
) -> dict[str, Any]:
    return {
        "error": error or HTTPStatus(status).phrase,
        "details": details,
        "requestId": request_id,
    }


def _field_name(location: Sequence[int | str]) -> str:
    """`("body", "steps", 0, "channel")` → `steps[0].channel`, as Joi names fields."""
    parts = [part for part in location if part not in ("body", "query", "path", "header")]
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "value"


_MESSAGES: dict[str, str] = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "decimal_type": "must be a number",
    "decimal_parsing": "must be a number",
    "bool_type": "must be a boolean",
    "bool_parsing": "must be a boolean",
    "uuid_type": "must be a valid GUID",
    "uuid_parsing": "must be a valid GUID",
    "model_type": "must be of type object",
    "dict_type": "must be of type object",
    "model_attributes_type": "must be of type object",
    "list_type": "must be an array",
    "extra_forbidden": "is not allowed",
    "datetime_type": "must be a valid date",
    "datetime_parsing": "must be a valid date",
    "datetime_from_date_parsing": "must be a valid date",
    "date_parsing": "must be a valid date",
    "date_from_datetime_parsing": "must be a valid date",
}


def joi_message(problem: dict[str, Any]) -> str:
    """A pydantic error as one sentence naming the field: `"email" must be a valid email`."""
    field = f'"{_field_name(problem.get("loc", ()))}"'
    kind = problem.get("type", "")
    ctx = problem.get("ctx") or {}
    if kind == "value_error" and "not a valid email address" in str(problem.get("msg", "")):
        return f"{field} must be a valid email"
    if kind == "string_too_short":
        return f"{field} length must be at least {ctx.get('min_length')} characters long"
    if kind == "string_too_long":
        return (
            f"{field} length must be less than or equal to {ctx.get('max_length')} characters long"
        )
    if kind == "literal_error" or kind == "enum":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{field} must be one of [{expected}]"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": "greater than or equal to",
            "greater_than": "greater than",
            "less_than_equal": "less than or equal to",
            "less_than": "less than",
        }[kind]
        limit = next(iter(ctx.values()), "")
        return f"{field} must be {words} {limit}"
    if kind == "too_short":
        return f"{field} must contain at least {ctx.get('min_length')} items"
    if kind == "too_long":
        return f"{field} must contain less than or equal to {ctx.get('max_length')} items"
    if kind == "string_pattern_mismatch":
        return f"{field} fails to match the required pattern: {ctx.get('pattern')}"
    if kind in ("time_delta_parsing", "time_delta_type"):
        return f'{field} must be an ISO 8601 duration such as "P3D" or "PT30S"'
    if kind == "decimal_max_places":
        return f"{field} must have at most {ctx.get('decimal_places')} decimal places"
    if kind in ("decimal_max_digits", "decimal_whole_digits"):
        return f"{field} has too many digits (at most 12 before the point)"
    if kind == "json_invalid":
        return f"Malformed JSON body: {ctx.get('error', 'could not be parsed')}"
    if kind in _MESSAGES:
        return f"{field} {_MESSAGES[kind]}"
    message = str(problem.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    if field == '"value"':
        return message  # a whole-body rule speaks for itself
    return f"{field} {message[0].lower() + message[1:] if message else 'is invalid'}"
