"""The campaign builder's step rows, turned into the API's steps: a row without a channel is
left out, each row's delay is whole days after the start, and its conditions (a least amount
still owed, skip once the customer replied) are given only when set."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ROWS = 5
CHANNELS = ("email", "sms", "voice", "human")
TONES = ("friendly", "firm", "final")


def row_fields() -> tuple[str, ...]:
    return tuple(
        f"step-{row}-{part}"
        for row in range(1, ROWS + 1)
        for part in ("channel", "delay", "tone", "template", "minOutstanding", "skipIfReplied")
    )


def steps_from(values: Mapping[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The API's `steps` from the rows filled in, and the errors of rows that cannot be read."""
    steps: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    for row in range(1, ROWS + 1):
        channel = values.get(f"step-{row}-channel", "")
        if not channel:
            continue
        delay = values.get(f"step-{row}-delay", "") or "0"
        if not delay.isdigit() or int(delay) > 3650:
            errors[f"step-{row}-delay"] = "The delay is whole days after the start, 0 to 3650"
            continue
        step: dict[str, Any] = {"channel": channel, "delay": f"P{int(delay)}D"}
        if values.get(f"step-{row}-tone"):
            step["tone"] = values[f"step-{row}-tone"]
        if values.get(f"step-{row}-template"):
            step["template"] = values[f"step-{row}-template"]
        conditions: dict[str, Any] = {}
        if values.get(f"step-{row}-minOutstanding"):
            conditions["minOutstanding"] = values[f"step-{row}-minOutstanding"]
        if values.get(f"step-{row}-skipIfReplied"):
            conditions["skipIfReplied"] = True
        if conditions:
            step["conditions"] = conditions
        steps.append(step)
    return steps, errors
