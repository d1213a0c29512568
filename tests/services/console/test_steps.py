"""The campaign builder's rows, as the API's steps."""

from __future__ import annotations

from services.console.domain.steps import steps_from


def test_rows_become_steps_and_empty_rows_are_left_out():
    steps, errors = steps_from({
        "step-1-channel": "email", "step-1-delay": "0", "step-1-tone": "friendly",
        "step-2-channel": "", "step-2-delay": "9",
        "step-3-channel": "sms", "step-3-delay": "3", "step-3-template": "Pay {amount}",
        "step-3-minOutstanding": "50.00", "step-3-skipIfReplied": "yes",
    })  # fmt: skip
    assert errors == {}
    assert steps == [
        {"channel": "email", "delay": "P0D", "tone": "friendly"},
        {"channel": "sms", "delay": "P3D", "template": "Pay {amount}",
         "conditions": {"minOutstanding": "50.00", "skipIfReplied": True}},
    ]  # fmt: skip


def test_a_delay_that_is_not_whole_days_is_refused_beside_its_row():
    steps, errors = steps_from({"step-2-channel": "sms", "step-2-delay": "1.5"})
    assert steps == [] and set(errors) == {"step-2-delay"}
    assert steps_from({"step-1-channel": "sms", "step-1-delay": "99999"})[1]
