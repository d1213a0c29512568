"""The AI agent's judgement: OpenAI (official SDK) composes messages and understands replies;
templates and keyword rules stand in when no key is set, when the key is refused, or when the
API stays unavailable after the SDK's own retries (exponential backoff with jitter)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from services.agents.domain.compliance import Draft, problems, with_disclosures
from services.agents.domain.replies import INTENTS, Understanding, classify
from services.agents.domain.templates import Facts, compose, with_pay_link
from services.agents.settings import AgentsSettings, agents_settings

if TYPE_CHECKING:
    from openai import AsyncOpenAI

logger = logging.getLogger(__name__)

NOT_CONFIGURED = "not configured (templates)"
INVALID_KEY = "invalid key (OPENAI_API_KEY rejected; using templates)"

_DRAFT_SCHEMA = {
    "type": "object",
    "properties": {"subject": {"type": "string"}, "body": {"type": "string"}},
    "required": ["subject", "body"],
    "additionalProperties": False,
}
_REPLY_SCHEMA = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": list(INTENTS)},
        "confidence": {"type": "number"},
        "promisedDate": {"type": ["string", "null"], "description": "YYYY-MM-DD"},
    },
    "required": ["intent", "confidence", "promisedDate"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Composed:
    draft: Draft
    source: str  # "openai", or "template" with the reason


class Brain:
    def __init__(self, settings: AgentsSettings) -> None:
        self.settings = settings
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        self.client: AsyncOpenAI | None = None
        if key:
            # Imported only when used: the SDK is a sixth of the service's memory.
            from openai import AsyncOpenAI

            self.client = AsyncOpenAI(
                api_key=key,
                base_url=settings.openai_base_url,
                timeout=settings.openai_timeout,
                max_retries=settings.openai_max_retries,
            )
        self.status = "ok" if self.client else NOT_CONFIGURED

    @property
    def composes_offline(self) -> bool:
        """Drafts come from templates without asking OpenAI (none configured, or the key was
        refused): composing takes no time worth waiting for."""
        return self.client is None or self.status == INVALID_KEY

    async def _json(
        self, messages: list[dict[str, str]], schema: dict[str, Any], name: str
    ) -> dict[str, Any] | None:
        """The model's JSON answer, or None when OpenAI cannot be used (reason in `status`)."""
        if self.client is None or self.status == INVALID_KEY:
            return None
        import openai  # loaded with the client

        response_format: Any = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": True},
        }
        conversation: Any = messages
        try:
            response = await self.client.chat.completions.create(
                model=self.settings.openai_model,
                temperature=self.settings.openai_temperature,
                messages=conversation,
                response_format=response_format,
            )
        except openai.AuthenticationError:
            # Fail fast: retrying a refused key only delays every task.
            self.status = INVALID_KEY
            logger.error("OpenAI refused OPENAI_API_KEY; composing from templates until fixed")
            return None
        except openai.APIError as error:
            # Whatever else goes wrong once the SDK has retried (429/5xx/timeouts with
            # backoff), or a request the API refuses (a model without structured outputs):
            # fall back, never stall.
            self.status = f"unavailable ({type(error).__name__})"
            logger.warning("OpenAI unavailable after retries", extra={"error": repr(error)})
            return None
        self.status = "ok"
        try:
            answer = json.loads(response.choices[0].message.content or "")
        except (ValueError, IndexError):
            logger.warning("OpenAI answered malformed JSON")
            return None
        return answer if isinstance(answer, dict) else None

    async def compose(
        self, channel: str, tone: str, facts: Facts, custom: str | None, history: str = ""
    ) -> Composed:
        fallback = compose(channel, tone, facts, custom)
        prompt = _compose_prompt(channel, tone, facts, history)
        answer = await self._json(prompt, _DRAFT_SCHEMA, "message")
        if answer is None:
            return Composed(fallback, f"template ({self.status})")
        if not isinstance(answer.get("body"), str) or not answer["body"].strip():
            return Composed(fallback, "template (OpenAI answer had no body)")
        written = Draft(
            channel, answer["body"], str(answer.get("subject") or "") or fallback.subject
        )
        draft = with_disclosures(with_pay_link(written, facts))
        refused = problems(draft)
        if refused:
            logger.warning("AI draft refused", extra={"problems": refused})
            return Composed(fallback, f"template (AI draft refused: {'; '.join(refused)})")
        return Composed(draft, "openai")

    async def understand(self, text: str, today: date) -> Understanding:
        rules = classify(text, today)
        answer = await self._json(_reply_prompt(text, today), _REPLY_SCHEMA, "reply")
        if answer is None or answer.get("intent") not in INTENTS:
            return rules
        try:
            confidence = max(0.0, min(1.0, float(answer.get("confidence", 0))))
            promised = answer.get("promisedDate")
            when = date.fromisoformat(promised) if promised else None
        except (TypeError, ValueError):
            return rules
        return Understanding(str(answer["intent"]), confidence, when)


def _compose_prompt(channel: str, tone: str, facts: Facts, history: str) -> list[dict[str, str]]:
    limits = {
        "sms": "at most 300 characters, plain text",
        "email": "a short email with a subject",
        "voice": (
            "a call script of at most 80 words that ends by offering: press 1 to arrange "
            "payment, press 2 to speak to someone"
        ),
    }[channel]
    return [
        {
            "role": "system",
            "content": (
                "You write payment reminders for a business to another business. Be courteous and "
                "factual, never threatening, never claiming consequences that are not stated, and "
                "use only the facts given. Answer as JSON with subject and body "
                "(subject may be empty for SMS and calls)."
            ),
        },
        {
            "role": "user",
            "content": (
                f"Channel: {channel} ({limits}). Tone: {tone}.\n"
                f"Contact: {facts.contact_name} at {facts.company_name}.\n"
                f"Invoice {facts.invoice_number}: {facts.amount} {facts.currency} outstanding, "
                f"due {facts.due_date.isoformat()}, {facts.days_overdue} days overdue.\n"
                f"History: {history or 'first contact'}"
            ),
        },
    ]


def _reply_prompt(text: str, today: date) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": (
                "Classify a customer's reply to a payment reminder. Intents: promise_to_pay "
                "(with the promised date when given), dispute, paid, opt_out, wrong_person, "
                f"question, other. Today is {today.isoformat()}. Answer as JSON."
            ),
        },
        {"role": "user", "content": text},
    ]


@lru_cache
def shared_brain() -> Brain:
    """The process's one Brain (one OpenAI client and one view of its health)."""
    return Brain(agents_settings())
