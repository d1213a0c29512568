"""The agents service's pure rules: assignment, compliance, templates, reply rules."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from services.agents.domain.assignment import Candidate, choose_agent, choose_agents
from services.agents.domain.compliance import (
    DEBT_COLLECTOR_NOTICE,
    SMS_OPT_OUT,
    Draft,
    problems,
    sms_segments,
    with_disclosures,
)
from services.agents.domain.replies import classify
from services.agents.domain.templates import Facts, compose, with_pay_link
from shared.message_templates import PLACEHOLDERS, template_problem


def _agent(status="online", channels=("email",), limit=5, load=0, last=None, kind="ai"):
    return Candidate(uuid.uuid4(), kind, status, frozenset(channels), limit, load, last)


def test_assignment_prefers_the_least_loaded_eligible_agent():
    busy = _agent(load=4)
    idle = _agent(load=1)
    offline = _agent(status="offline")
    full = _agent(load=5)
    sms_only = _agent(channels=("sms",))
    assert choose_agent([busy, idle, offline, full, sms_only], "email") == idle
    assert choose_agent([offline, full], "email") is None
    assert choose_agent([busy, idle], "voice") is None
    # Same load: the one idle longest goes first.
    older = _agent(load=1, last=datetime(2026, 1, 1, tzinfo=UTC))
    newer = _agent(load=1, last=datetime(2026, 6, 1, tzinfo=UTC))
    never = _agent(load=1)
    assert choose_agent([newer, older], "email") == older
    assert choose_agent([newer, never, older], "email") == never
    # People take human steps only, and only people take them.
    person = _agent(kind="human", channels=("human", "email"))
    assert choose_agent([person], "email") is None
    assert choose_agent([person, idle], "human") == person


def test_each_choice_counts_in_the_load_unless_the_ai_agent_hands_the_task_over_at_once():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    ai = _agent(limit=2)
    person = _agent(kind="human", channels=("human",), limit=1)
    channels = ["email", "email", "human", "email", "human"]

    def ids(chosen: list[Candidate | None]) -> list[uuid.UUID | None]:
        return [agent.id if agent else None for agent in chosen]

    # Held until their messages are requested: the limit stops the third email and second person.
    assert ids(choose_agents([ai, person], channels, now)) == [ai.id, ai.id, person.id, None, None]
    # Handed to the notifier in the same transaction: AI tasks hold no slot; people's still do.
    at_once = choose_agents([ai, person], channels, now, ai_hands_over_at_once=True)
    assert ids(at_once) == [ai.id, ai.id, person.id, ai.id, None]


def test_disclosures_are_added_and_checked():
    sms = with_disclosures(Draft("sms", "Hi, invoice 12 is overdue."))
    assert DEBT_COLLECTOR_NOTICE in sms.body and sms.body.endswith(SMS_OPT_OUT)
    assert problems(sms) == []
    assert "lacks the SMS opt-out line" in problems(
        Draft("sms", f"Pay now. {DEBT_COLLECTOR_NOTICE}")
    )
    threat = with_disclosures(Draft("email", "Pay or we will have you arrested.", "Invoice"))
    assert any("forbidden wording" in p for p in problems(threat))
    assert "email without a subject" in problems(with_disclosures(Draft("email", "x")))


def test_sms_segments():
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("ü" * 70) == 1  # ü is in the GSM alphabet
    assert sms_segments("€" * 10) == 1
    assert sms_segments("😀" * 40) == 2  # UCS-2: 70 per single part, 67 per part beyond
    too_long = with_disclosures(Draft("sms", "x" * 500))
    assert "SMS longer than 3 segments" in problems(too_long)


FACTS = Facts("Ada", "Acme", "1250.00", "EUR", "INV-7", date(2026, 1, 31), date(2026, 2, 10))


def test_templates_fill_variables_and_respect_custom_ones():
    email = compose("email", "firm", FACTS)
    assert email.subject == "Invoice INV-7 is 10 days overdue"
    assert "1250.00 EUR" in email.body and problems(email) == []
    custom = compose("sms", "friendly", FACTS, "Hello {contact_name}, {amount} {currency} please.")
    assert custom.body.startswith("Hello Ada, 1250.00 EUR please.") and problems(custom) == []
    broken = compose("sms", "friendly", FACTS, "Hello {nickname}")
    assert broken.body.startswith("Hi Ada, a reminder")  # unknown variable: our template instead
    assert problems(compose("voice", "final", FACTS)) == []


@pytest.mark.parametrize(
    "stored",
    [
        "{amount:>99999999}",  # a width of 100 MB
        "{contact_name.__class__.__mro__}",  # an attribute walk
        "{due_date!r}",
        "{0}",
        "unbalanced {",
        "Pay {amount} " * 400,  # renders past the SMS cap
    ],
)
def test_a_stored_template_that_breaks_the_rules_never_raises_and_is_replaced(stored):
    """Templates are checked when a campaign is created; one stored before that (or by hand)
    still cannot hurt: ours is used instead."""
    draft = compose("sms", "friendly", FACTS, stored)
    assert draft.body.startswith("Hi Ada, a reminder") and problems(draft) == []


def test_the_debtors_link_ends_our_emails_and_sms_and_a_written_message_lacking_it():
    link = "https://pay.example.com/pay/AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBB"
    with_link = replace(FACTS, pay_link=link)
    for channel in ("email", "sms"):
        for tone in ("friendly", "firm", "final"):
            draft = compose(channel, tone, with_link)
            assert link in draft.body and problems(draft) == [], (channel, tone)
    assert link not in compose("voice", "firm", with_link).body  # a call cannot carry a link
    assert "Pay" not in compose("sms", "friendly", FACTS).body.split("due 2026-01-31.")[1][:20]
    custom = compose("sms", "friendly", with_link, "Settle here: {pay_link}")
    assert custom.body.startswith(f"Settle here: {link}")
    written = with_pay_link(Draft("sms", "Hi Ada, please pay invoice INV-7."), with_link)
    assert written.body.endswith(f"Pay or reply online: {link}")
    assert with_pay_link(written, with_link) == written  # once only
    assert with_pay_link(Draft("sms", "Hi"), FACTS).body == "Hi"  # no link, nothing added


def test_the_template_placeholders_are_the_facts_a_message_may_say():
    assert set(FACTS.variables()) == set(PLACEHOLDERS)
    assert template_problem("Dear {contact_name}, {{literal}} {amount}") is None


def test_reply_rules():
    today = date(2026, 11, 28)  # a Saturday
    promise = classify("I'll pay on Friday", today)
    assert promise.intent == "promise_to_pay" and promise.promised_date == date(2026, 12, 4)
    assert classify("STOP", today).intent == "opt_out"
    assert classify("We already paid this last week", today).intent == "paid"
    assert classify("I dispute this charge", today).intent == "dispute"
    assert classify("Wrong number", today).intent == "wrong_person"
    question = classify("What is this invoice for?", today)
    assert question.intent == "question"
    vague = classify("I will pay", today)
    assert vague.intent == "promise_to_pay" and vague.confidence < 0.6
