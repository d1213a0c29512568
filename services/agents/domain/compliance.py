"""What every outgoing collection message must and must not say. Pure.

Required: the debt-collector disclosure (FDCPA "mini-Miranda") in every message, and the
opt-out line in SMS. Refused: threats and false statements (a deny-list), and SMS longer than
three segments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEBT_COLLECTOR_NOTICE = (
    "This is an attempt to collect a debt, and any information obtained will be used "
    "for that purpose."
)
SMS_OPT_OUT = "Reply STOP to opt out."
MAX_SMS_SEGMENTS = 3
MAX_EMAIL_CHARS = 5000
MAX_VOICE_CHARS = 1500

DENY_LIST = (
    r"\barrest(ed)?\b", r"\bjail\b", r"\bprison\b", r"\bpolice\b", r"\bcriminal\b",
    r"\bdeport", r"\bseize\b", r"\bgarnish", r"\bwe will sue\b", r"\blegal action will\b",
    r"\bfinal warning\b", r"\bruin\b", r"\bshame\b", r"\bthreat",
)  # fmt: skip
_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€")  # each costs two septets


@dataclass(frozen=True)
class Draft:
    channel: str
    body: str
    subject: str | None = None


def sms_segments(text: str) -> int:
    """Segments the carrier will bill: GSM-7 160/153 septets per part, else UCS-2 70/67 units."""
    if all(char in _GSM7_BASIC or char in _GSM7_EXTENDED for char in text):
        septets = sum(2 if char in _GSM7_EXTENDED else 1 for char in text)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


def with_disclosures(draft: Draft) -> Draft:
    """Add what the law requires when the writer left it out."""
    body = draft.body.strip()
    if DEBT_COLLECTOR_NOTICE.lower() not in body.lower():
        body = (
            f"{body}\n{DEBT_COLLECTOR_NOTICE}"
            if draft.channel != "sms"
            else f"{body} {DEBT_COLLECTOR_NOTICE}"
        )
    if draft.channel == "sms" and SMS_OPT_OUT.lower() not in body.lower():
        body = f"{body} {SMS_OPT_OUT}"
    return Draft(draft.channel, body, draft.subject)


def problems(draft: Draft) -> list[str]:
    """Why the draft may not be sent; empty when it may."""
    found = []
    for pattern in DENY_LIST:
        if re.search(pattern, draft.body, re.IGNORECASE) or (
            draft.subject and re.search(pattern, draft.subject, re.IGNORECASE)
        ):
            found.append(f"contains forbidden wording ({pattern})")
    if DEBT_COLLECTOR_NOTICE.lower() not in draft.body.lower():
        found.append("lacks the debt-collector notice")
    if draft.channel == "sms":
        if SMS_OPT_OUT.lower() not in draft.body.lower():
            found.append("lacks the SMS opt-out line")
        if sms_segments(draft.body) > MAX_SMS_SEGMENTS:
            found.append(f"SMS longer than {MAX_SMS_SEGMENTS} segments")
    if draft.channel == "email":
        if not draft.subject:
            found.append("email without a subject")
        if len(draft.body) > MAX_EMAIL_CHARS:
            found.append(f"email longer than {MAX_EMAIL_CHARS} characters")
    if draft.channel == "voice" and len(draft.body) > MAX_VOICE_CHARS:
        found.append(f"call script longer than {MAX_VOICE_CHARS} characters")
    return found
