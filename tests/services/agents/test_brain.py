"""The AI agent against a fake OpenAI endpoint, driving the real `openai` SDK over HTTP."""

from __future__ import annotations

import json
from datetime import date

import pytest

from services.agents.brain import INVALID_KEY, NOT_CONFIGURED, Brain
from services.agents.domain.compliance import DEBT_COLLECTOR_NOTICE, SMS_OPT_OUT
from services.agents.domain.templates import Facts
from services.agents.settings import AgentsSettings
from tests.fakes import Reply, scripted_server


@pytest.fixture
def openai_api():
    """A fake OpenAI API over real HTTP; the SDK is pointed at it with OPENAI_BASE_URL."""
    with scripted_server() as server:
        yield server


FACTS = Facts("Ada", "Acme", "1250.00", "EUR", "INV-7", date(2026, 1, 31), date(2026, 2, 10))


def _settings(api, **overrides) -> AgentsSettings:
    values = {
        "openai_base_url": f"{api.url}/v1",
        "database_url": "postgresql://unused@127.0.0.1/x",
        "redis_url": "redis://127.0.0.1:1/0",
        "kafka_bootstrap_servers": "127.0.0.1:1",
        "openai_api_key": "sk-test",
        "openai_max_retries": 2,
        "openai_timeout": 2,
        **overrides,
    }
    return AgentsSettings(**values)


def _completion(content: str) -> Reply:
    return Reply(
        200,
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        },
    )


def _draft(body: str, subject: str = "") -> Reply:
    return _completion(json.dumps({"subject": subject, "body": body}))


async def test_good_completion_is_used_with_disclosures(openai_api):
    openai_api.script(_draft("Hi Ada, invoice INV-7 is open."))
    brain = Brain(_settings(openai_api))
    composed = await brain.compose("sms", "friendly", FACTS, None)
    assert composed.source == "openai"
    assert composed.draft.body.startswith("Hi Ada, invoice INV-7 is open.")
    assert DEBT_COLLECTOR_NOTICE in composed.draft.body and SMS_OPT_OUT in composed.draft.body
    request = openai_api.seen[0]
    assert request.path == "/v1/chat/completions"
    sent = request.json()
    assert sent["model"] == "gpt-4o-mini" and sent["response_format"]["type"] == "json_schema"
    assert "INV-7" in sent["messages"][1]["content"]
    assert "History: first contact" in sent["messages"][1]["content"]
    assert request.headers["authorization"] == "Bearer sk-test"


async def test_rate_limit_then_success_is_retried_by_the_sdk(openai_api):
    openai_api.script(
        Reply(
            429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"retry-after-ms": "10"}
        ),
        _draft("Hello Ada about INV-7.", "Invoice INV-7"),
    )
    brain = Brain(_settings(openai_api))
    composed = await brain.compose("email", "friendly", FACTS, None)
    assert composed.source == "openai" and len(openai_api.seen) == 2
    assert brain.status == "ok"


async def test_invalid_key_fails_fast_and_falls_back_to_templates(openai_api):
    openai_api.script(
        Reply(
            401,
            {
                "error": {
                    "message": "Incorrect API key",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
        )
    )
    brain = Brain(_settings(openai_api))
    composed = await brain.compose("email", "firm", FACTS, None)
    assert composed.source.startswith("template") and "OPENAI_API_KEY" in composed.source
    assert composed.draft.subject == "Invoice INV-7 is 10 days overdue"
    assert brain.status == INVALID_KEY and len(openai_api.seen) == 1  # no retries on a refused key
    await brain.compose("sms", "firm", FACTS, None)
    assert len(openai_api.seen) == 1  # and no more calls until it is fixed


async def test_malformed_output_falls_back(openai_api):
    openai_api.script(_completion("Sure! Here is your message: pay up"))
    composed = await Brain(_settings(openai_api)).compose("sms", "friendly", FACTS, None)
    assert composed.source.startswith("template")
    assert composed.draft.body.startswith("Hi Ada, a reminder")


async def test_timeout_after_retries_falls_back(openai_api):
    openai_api.script(Reply(200, {}, delay_s=1.5))
    brain = Brain(_settings(openai_api, openai_max_retries=1, openai_timeout=0.5))
    composed = await brain.compose("voice", "friendly", FACTS, None)
    assert composed.source == "template (unavailable (APITimeoutError))"
    assert len(openai_api.seen) == 2  # first try and one retry


async def test_threatening_draft_is_refused(openai_api):
    openai_api.script(_draft("Pay today or the police will arrest you."))
    composed = await Brain(_settings(openai_api)).compose("sms", "firm", FACTS, None)
    assert composed.source.startswith("template (AI draft refused: contains forbidden wording")


async def test_without_a_key_nothing_is_called(openai_api):
    openai_api.script(Reply(500, {}))
    brain = Brain(_settings(openai_api, openai_api_key=None))
    assert brain.status == NOT_CONFIGURED
    composed = await brain.compose("email", "friendly", FACTS, None)
    assert composed.source == f"template ({NOT_CONFIGURED})"
    assert openai_api.seen == []


async def test_reply_understanding_uses_structured_output(openai_api):
    openai_api.script(
        _completion(
            json.dumps(
                {"intent": "promise_to_pay", "confidence": 0.93, "promisedDate": "2026-12-04"}
            )
        )
    )
    understood = await Brain(_settings(openai_api)).understand(
        "Friday, promise", date(2026, 11, 28)
    )
    assert understood.intent == "promise_to_pay" and understood.promised_date == date(2026, 12, 4)
    assert understood.confidence == pytest.approx(0.93)


async def test_reply_understanding_falls_back_to_rules(openai_api):
    openai_api.script(
        _completion(json.dumps({"intent": "bribery", "confidence": 1, "promisedDate": None}))
    )
    understood = await Brain(_settings(openai_api)).understand("STOP", date(2026, 11, 28))
    assert understood.intent == "opt_out"
