"""Compliance: the suppression list (search, add, remove with a reason, the removals) and
consent to AI-voice calls (record, find, withdraw)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.api.rendering import page
from services.console.api.visits import Visitor, back_to, console_of
from services.console.domain.forms import Form as Filled
from services.console.stores.platform_api import Refused, details_of

router = APIRouter(include_in_schema=False)
SUPPRESSION_FIELDS = ("channel", "recipient", "reason", "note")
CONSENT_FIELDS = ("recipient", "source")
REMOVAL_FIELDS = ("reason",)
CHANNELS = ("all", "email", "sms", "voice")
REASONS = ("manual", "opt_out", "do_not_call", "bounce")


@router.get("/compliance")
async def compliance(
    request: Request,
    visitor: Visitor,
    recipient: str = "",
    consenting: str = "",
    q: str = "",
    notice: str | None = None,
) -> HTMLResponse:
    return await _compliance_page(
        request, visitor, recipient.strip(), consenting.strip(), q.strip(), notice=notice
    )


async def _compliance_page(
    request: Request,
    visitor: Visitor,
    recipient: str = "",
    consenting: str = "",
    q: str = "",
    status: int = 200,
    **forms: Any,
) -> HTMLResponse:
    visitor.require("messages:read")
    api = console_of(request).api
    listed, removals, consents = await asyncio.gather(
        api.read(visitor.caller, "/suppressions", {"q": q, "limit": 100}),
        api.optional(visitor.caller, "/suppressions/removals", {"limit": 20}),
        api.call(visitor.caller, "GET", "/consents", params={"recipient": consenting}),
    )
    checked = None
    if recipient:
        answer = await api.call(
            visitor.caller, "GET", "/suppressions/check", params={"recipient": recipient}
        )
        checked = answer.json() if answer.status_code == 200 else {"error": details_of(answer)}
    return page(
        request,
        "compliance.html",
        status,
        found=listed,
        removals=removals,
        consents=consents.json() if consents.status_code == 200 else None,
        consents_error=details_of(consents) if consents.status_code != 200 else None,
        recipient=recipient,
        consenting=consenting,
        q=q,
        checked=checked,
        suppression_form=forms.get("suppression_form") or Filled.of({}, SUPPRESSION_FIELDS),
        consent_form=forms.get("consent_form") or Filled.of({}, CONSENT_FIELDS),
        removal_form=forms.get("removal_form") or Filled.of({}, REMOVAL_FIELDS),
        withdraw_form=forms.get("withdraw_form") or Filled.of({}, ("recipient",)),
        channels=CHANNELS,
        reasons=REASONS,
        notice=forms.get("notice"),
    )


@router.post("/compliance/suppressions")
async def suppress(request: Request, visitor: Visitor) -> Response:
    form, answer = await visitor.submit(request, SUPPRESSION_FIELDS, "POST", "/suppressions")
    if not answer.is_success:
        return await _compliance_page(
            request, visitor, status=answer.status_code, suppression_form=form
        )
    return back_to(
        "/compliance", f"{answer.json()['recipient']} suppressed ({answer.json()['channel']})."
    )


@router.post("/compliance/suppressions/{suppression_id}/remove")
async def unsuppress(request: Request, visitor: Visitor, suppression_id: uuid.UUID) -> Response:
    form = await visitor.form(request, REMOVAL_FIELDS)
    answer = await console_of(request).api.call(
        visitor.caller,
        "DELETE",
        f"/suppressions/{suppression_id}",
        params={"reason": form.values["reason"]},
    )
    if answer.status_code == 400:
        # Shown on the row of the entry it is about, the reason as typed.
        form.values["id"] = str(suppression_id)
        return await _compliance_page(
            request, visitor, status=400, removal_form=form.refused(details_of(answer))
        )
    if answer.status_code != 204:
        raise Refused(answer.status_code, details_of(answer))
    return back_to("/compliance", "Suppression removed; the reason is kept with the removal.")


@router.post("/compliance/consents")
async def consent(request: Request, visitor: Visitor) -> Response:
    form, answer = await visitor.submit(request, CONSENT_FIELDS, "POST", "/consents")
    if not answer.is_success:
        return await _compliance_page(
            request, visitor, status=answer.status_code, consent_form=form
        )
    return back_to(
        "/compliance", f"Consent to AI-voice calls recorded for {answer.json()['recipient']}."
    )


@router.post("/compliance/consents/withdraw")
async def withdraw(request: Request, visitor: Visitor) -> Response:
    form = await visitor.form(request, ("recipient",))
    recipient = form.values["recipient"]
    if not recipient:
        form.errors["recipient"] = "Give the phone number whose consent is withdrawn"
        return await _compliance_page(request, visitor, status=400, withdraw_form=form)
    answer = await console_of(request).api.call(
        visitor.caller, "DELETE", f"/consents/{quote(recipient, safe='')}"
    )
    if answer.status_code != 204:
        form.errors["recipient"] = details_of(answer)
        return await _compliance_page(
            request, visitor, status=answer.status_code, withdraw_form=form
        )
    return back_to("/compliance", f"Consent withdrawn for {recipient}.")
