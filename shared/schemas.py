"""Base models for the public API: camelCase JSON, strict unknown-field handling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.paging import Page


class ApiModel(BaseModel):
    """Request and response bodies: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", serialize_by_alias=True
    )


class ApiResponse(ApiModel):
    """Response bodies: built from database rows, whose extra columns are left out."""

    model_config = ConfigDict(**{**ApiModel.model_config, "extra": "ignore"})


class CursorPage(ApiResponse):
    """One page of a list endpoint; subclasses declare `items: list[TheItem]`."""

    total: int
    limit: int
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page, limit: int, item: Callable[[dict[str, Any]], Any]) -> Self:
        return cls(
            items=[item(row) for row in page.rows],  # type: ignore[call-arg]
            total=page.total,
            limit=limit,
            next_cursor=page.next_cursor,
        )


class Period(ApiResponse):
    """An answer counted over a period: its bounds, `until` excluded."""

    since: datetime
    until: datetime


class ErrorBody(ApiResponse):
    """The one error shape every service answers with (see `shared.errors.error_body`)."""

    error: str = Field(description="Short name of the failure, e.g. `Validation error`")
    details: Any = Field(description="What went wrong, for people (usually a sentence)")
    request_id: str | None = Field(description="Quote it when reporting a problem")
