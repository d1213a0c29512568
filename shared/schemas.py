"""Base models for the public API: camelCase JSON, strict unknown-field handling."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """Request and response bodies: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", serialize_by_alias=True
    )


class ApiResponse(ApiModel):
    """Response bodies: built from database rows, whose extra columns are left out."""

    model_config = ConfigDict(**{**ApiModel.model_config, "extra": "ignore"})
