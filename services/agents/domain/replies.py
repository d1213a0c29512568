"""Understanding a customer's reply without OpenAI: keyword rules and simple dates. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

INTENTS = ("promise_to_pay", "dispute", "paid", "opt_out", "wrong_person", "question", "other")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_RULES: tuple[tuple[str, str], ...] = (
    ("opt_out", r"^\s*(stop|end|quit|unsubscribe|cancel|revoke|opt ?out)\s*[.!]*\s*$"),
    ("opt_out", r"\b(stop (texting|calling|contacting)|do not (contact|call|text))\b"),
    ("wrong_person", r"\b(wrong (number|person)|not me|don'?t know (him|her|them|this company))\b"),
    (
        "paid",
        r"\b(already paid|paid (it|this|that|already|in full|yesterday|last)|have paid|was paid)\b",
    ),
    (
        "dispute",
        r"\b(dispute|not owe|don'?t owe|never (ordered|received)|incorrect|wrong amount|fraud)\b",
    ),
    (
        "promise_to_pay",
        r"\b(i'?ll pay|i will pay|will pay|can pay|going to pay|pay (on|by|next|this|tomorrow))\b",
    ),
    ("question", r"\?\s*$|\b(what|why|how|which|when|who)\b"),
)


@dataclass(frozen=True)
class Understanding:
    intent: str
    confidence: float
    promised_date: date | None = None


def promised_date(text: str, today: date) -> date | None:
    lowered = text.lower()
    iso = re.search(r"\b(\d{4}-\d{2}-\d{2})\b", lowered)
    if iso:
        try:
            return date.fromisoformat(iso.group(1))
        except ValueError:
            return None
    if "tomorrow" in lowered:
        return today + timedelta(days=1)
    if "today" in lowered:
        return today
    for index, name in enumerate(_WEEKDAYS):
        if re.search(rf"\b{name}\b", lowered):
            ahead = (index - today.weekday()) % 7 or 7
            return today + timedelta(days=ahead)
    return None


def classify(text: str, today: date) -> Understanding:
    lowered = text.strip().lower()
    for intent, pattern in _RULES:
        if re.search(pattern, lowered):
            when = promised_date(lowered, today) if intent == "promise_to_pay" else None
            confidence = 0.9 if intent != "question" else 0.7
            if intent == "promise_to_pay" and when is None:
                confidence = 0.5  # a promise without a date needs a person
            return Understanding(intent, confidence, when)
    return Understanding("other", 0.3)
