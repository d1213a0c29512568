"""Messages composed without OpenAI: one template per channel and tone, with variables. Pure."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from services.agents.domain.compliance import Draft, problems, with_disclosures
from shared.message_templates import render

_SUBJECTS = {
    "friendly": "A friendly reminder about invoice {invoice_number}",
    "firm": "Invoice {invoice_number} is {days_overdue} days overdue",
    "final": "Final reminder: invoice {invoice_number}",
}
_BODIES = {
    ("email", "friendly"): (
        "Dear {contact_name},\n\nThis is a friendly reminder that invoice {invoice_number} for "
        "{amount} {currency} was due on {due_date}. If you have already paid, thank you and "
        "please ignore this message; otherwise, we would be grateful for payment at your "
        "earliest convenience.\n\nKind regards,\nAccounts receivable"
    ),
    ("email", "firm"): (
        "Dear {contact_name},\n\nInvoice {invoice_number} for {amount} {currency} is now "
        "{days_overdue} days past its due date of {due_date}. Please arrange payment or reply "
        "to this email to agree a date.\n\nRegards,\nAccounts receivable"
    ),
    ("email", "final"): (
        "Dear {contact_name},\n\nDespite our earlier reminders, invoice {invoice_number} for "
        "{amount} {currency} (due {due_date}) remains unpaid. Please pay or contact us within "
        "seven days so we can agree a way forward.\n\nRegards,\nAccounts receivable"
    ),
    ("sms", "friendly"): (
        "Hi {contact_name}, a reminder that invoice {invoice_number} ({amount} {currency}) was "
        "due {due_date}."
    ),
    ("sms", "firm"): (
        "{contact_name}, invoice {invoice_number} ({amount} {currency}) is {days_overdue} days "
        "overdue. Please pay or reply with a date."
    ),
    ("sms", "final"): (
        "{contact_name}, final reminder: invoice {invoice_number} ({amount} {currency}) is "
        "unpaid. Please pay or reply within 7 days."
    ),
    ("voice", "friendly"): (
        "Hello, this is a call for {contact_name} at {company_name} about invoice "
        "{invoice_number} for {amount} {currency}, which was due on {due_date}. To arrange "
        "payment press 1, to speak to someone press 2."
    ),
    ("voice", "firm"): (
        "Hello {contact_name}. Invoice {invoice_number} for {amount} {currency} is "
        "{days_overdue} days overdue. To arrange payment press 1, to speak to someone press 2."
    ),
    ("voice", "final"): (
        "Hello {contact_name}. This is a final reminder that invoice {invoice_number} for "
        "{amount} {currency} is unpaid. To arrange payment press 1, to speak to someone press 2."
    ),
}
# The debtor's link, where the step has one: the default templates end with it.
_LINK_LINES = {
    "email": "\n\nPay, set up a plan, or tell us something, here: {pay_link}",
    "sms": " Pay or reply online: {pay_link}",
}
TONES = tuple(_SUBJECTS)


@dataclass(frozen=True)
class Facts:
    """What a message may say about the debt (from the campaign.step_due payload)."""

    contact_name: str
    company_name: str
    amount: str
    currency: str
    invoice_number: str
    due_date: date
    today: date
    pay_link: str | None = None

    @property
    def days_overdue(self) -> int:
        return max(0, (self.today - self.due_date).days)

    def variables(self) -> dict[str, Any]:
        return {
            "contact_name": self.contact_name,
            "company_name": self.company_name,
            "amount": self.amount,
            "currency": self.currency,
            "invoice_number": self.invoice_number,
            "due_date": self.due_date.isoformat(),
            "days_overdue": self.days_overdue,
            "pay_link": self.pay_link or "",
        }


def facts_from_step(step: dict[str, Any], today: date) -> Facts:
    customer, payment = step["customer"], step["payment"]
    return Facts(
        contact_name=customer["contactName"],
        company_name=customer["companyName"],
        amount=payment["outstanding"],
        currency=payment["currency"],
        invoice_number=payment["invoiceNumber"],
        due_date=date.fromisoformat(payment["dueDate"]),
        today=today,
        pay_link=step.get("payLink"),
    )


def compose(channel: str, tone: str, facts: Facts, custom: str | None = None) -> Draft:
    """The step's own template when it renders into a message that may be sent (the syntax of
    shared/message_templates.py, the length and wording checks of compliance.py), else ours
    for the channel and tone. Never raises."""
    tone = tone if tone in TONES else "friendly"
    values = facts.variables()
    subject = render(_SUBJECTS[tone], values) if channel == "email" else None
    if custom:
        body = render(custom, values)
        if body is not None:
            draft = with_disclosures(Draft(channel, body, subject))
            if not problems(draft):
                return draft
    ours = _BODIES[(channel, tone)] + (_LINK_LINES.get(channel, "") if facts.pay_link else "")
    return with_disclosures(Draft(channel, render(ours, values) or "", subject))


def with_pay_link(draft: Draft, facts: Facts) -> Draft:
    """A written message (by the AI) ends with the debtor's link when it left it out."""
    line = _LINK_LINES.get(draft.channel)
    if not facts.pay_link or line is None or facts.pay_link in draft.body:
        return draft
    return replace(draft, body=draft.body.rstrip() + (render(line, facts.variables()) or ""))
