"""The debtor's portal: the page a message's link opens, for whoever holds the link (no
sign-in), with what is owed, the payment plan they keep or may set up, and the forms to
promise a date, dispute, choose when to be contacted or stop a kind of message. The campaigns
service's portal API checks the link and does the work; this renders it."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.api.rendering import CONTENT_SECURITY_POLICY, page
from services.console.api.visits import console_of
from services.console.domain.forms import Form
from services.console.stores.platform_api import details_of

router = APIRouter(include_in_schema=False)
# The one shape of a link's token: anything else never reaches the API's address.
Token = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{16}$")]
PORTAL_FORM_COOKIE = "remit_portal_form"
# "Pay now" posts, then goes on to the provider's hosted checkout (Stripe's, when it takes the
# payments): the browser lets a form lead there only when the page's policy says so.
PORTAL_POLICY = CONTENT_SECURITY_POLICY.replace(
    "form-action 'self'", "form-action 'self' https://checkout.stripe.com"
)
PROMISE_FIELDS = ("promisedDate",)
DISPUTE_FIELDS = ("reason", "details")
STOP_FIELDS = ("channel",)
PLAN_FIELDS = ("instalments", "firstDate", "every")
# "clear" is the button that forgets the debtor's hours: any time the law allows.
HOURS_FIELDS = ("contactFrom", "contactUntil", "clear")


@router.get("/pay/{token}")
async def portal(
    request: Request, token: Token, notice: str | None = None, paid: str | None = None
) -> Response:
    if paid and not notice:  # back from the provider's checkout
        notice = "Thank you: your payment is recorded as soon as the provider confirms it"
    return await _portal_page(request, token, notice=notice, just_paid=bool(paid))


async def _portal_page(
    request: Request,
    token: str,
    status: int = 200,
    *,
    refused: dict[str, Form] | None = None,
    notice: str | None = None,
    just_paid: bool = False,
) -> Response:
    forms = refused or {}
    return await _debt_page(
        request,
        token,
        "portal.html",
        status,
        promise_form=forms.get("promise") or Form.of({}, PROMISE_FIELDS),
        dispute_form=forms.get("dispute") or Form.of({}, DISPUTE_FIELDS),
        stop_form=forms.get("stop") or Form.of({}, STOP_FIELDS),
        plan_form=forms.get("plan") or Form.of({"every": "month"}, PLAN_FIELDS),
        hours_form=forms.get("contact-hours"),
        kept_hours=_kept_hours,
        notice=notice,
        just_paid=just_paid,
    )


async def _debt_page(
    request: Request, token: str, template: str, status: int = 200, **context: Any
) -> Response:
    """A page about the link's debt (read through the API, which checks the link), its forms
    carrying the link's form token."""
    console = console_of(request)
    answer = await console.api.call(console.anonymous(request), "GET", f"/portal/{token}")
    if answer.status_code != 200:
        return _refused(request, answer.status_code, details_of(answer))
    debt = answer.json()
    # One token for the link's pages while the cookie lasts: two tabs, or a page sent again
    # after a refusal, both work.
    form_token = request.cookies.get(PORTAL_FORM_COOKIE) or secrets.token_urlsafe(32)
    response = page(
        request,
        template,
        status,
        debt=debt,
        next_instalment=_next_instalment(debt["plan"]),
        token=token,
        form_token=form_token,
        **context,
    )
    console.set_form_cookie(response, PORTAL_FORM_COOKIE, f"/pay/{token}", form_token)
    response.headers["Content-Security-Policy"] = PORTAL_POLICY
    return response


def _kept_hours(debt: dict[str, Any]) -> Form:
    """The contact hours form as the debtor last chose it (`HH:MM`, as a time field takes it)."""
    kept = {name: (debt[name] or "")[:5] for name in ("contactFrom", "contactUntil")}
    return Form.of(kept, HOURS_FIELDS)


def _next_instalment(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    """The plan's first instalment still to pay (the one "pay the next instalment" pays)."""
    due = [i for i in plan["instalments"] if i["status"] == "due"] if plan else []
    return due[0] if due else None


def _refused(request: Request, status: int, details: str) -> HTMLResponse:
    return page(request, "portal_refused.html", status, details=details, response_status=status)


async def _posted(request: Request, fields: tuple[str, ...]) -> Form | None:
    """The portal form posted, or None when it lacks the link's form token."""
    posted = await request.form()
    expected = request.cookies.get(PORTAL_FORM_COOKIE, "")
    sent = str(posted.get("csrf", ""))
    if not expected or not secrets.compare_digest(expected.encode(), sent.encode()):
        return None
    return Form.of({name: str(value) for name, value in posted.items()}, fields)


STALE = "This form expired; open the page again and send it again"


def _noted_by_api(answer: dict[str, Any]) -> str:
    return str(answer["noted"])


async def _act(
    request: Request,
    token: str,
    action: str,
    fields: tuple[str, ...],
    *,
    payload: Callable[[Form], dict[str, Any]] = Form.payload,
    notice: Callable[[dict[str, Any]], str] = _noted_by_api,
) -> Response:
    """A portal form sent on to the API (as `payload` makes it): back to the page saying what
    was done (the API's `noted`, unless `notice` words it), or the page again with the API's
    refusal beside its field."""
    form = await _posted(request, fields)
    if form is None:
        return _refused(request, 403, STALE)
    console = console_of(request)
    answer = await console.api.call(
        console.anonymous(request), "POST", f"/portal/{token}/{action}", json=payload(form)
    )
    if answer.status_code == 201:
        return _noted(token, notice(answer.json()))
    if answer.status_code == 400:
        return await _portal_page(
            request, token, 400, refused={action: form.refused(details_of(answer))}
        )
    return _refused(request, answer.status_code, details_of(answer))


@router.post("/pay/{token}/promise")
async def promise(request: Request, token: Token) -> Response:
    return await _act(request, token, "promise", PROMISE_FIELDS)


@router.post("/pay/{token}/dispute")
async def dispute(request: Request, token: Token) -> Response:
    return await _act(request, token, "dispute", DISPUTE_FIELDS)


@router.post("/pay/{token}/stop")
async def stop(request: Request, token: Token) -> Response:
    return await _act(request, token, "stop", STOP_FIELDS)


@router.post("/pay/{token}/plan")
async def set_up_plan(request: Request, token: Token) -> Response:
    """The debtor splits what is outstanding into instalments within their campaign's terms."""
    return await _act(request, token, "plan", PLAN_FIELDS, notice=_plan_set_up)


def _plan_set_up(plan: dict[str, Any]) -> str:
    first = plan["instalments"][0]
    return (
        f"Your plan of {len(plan['instalments'])} instalments is set up: the first, "
        f"{first['amount']} {plan['currency']}, is due on {first['dueDate']}"
    )


@router.post("/pay/{token}/contact-hours")
async def contact_hours(request: Request, token: Token) -> Response:
    """The hours the debtor prefers to be contacted, or none (any time the law allows)."""
    return await _act(request, token, "contact-hours", HOURS_FIELDS, payload=_hours)


def _hours(form: Form) -> dict[str, Any]:
    """Both hours as typed; null for an hour left empty, and for both when the debtor clears
    them (the API takes nulls as "any time", and refuses one hour without the other)."""
    cleared = bool(form.values["clear"])
    return {
        name: None if cleared else form.values[name] or None
        for name in ("contactFrom", "contactUntil")
    }


def _noted(token: str, noted: str) -> RedirectResponse:
    return RedirectResponse(f"/pay/{token}?notice={quote(noted)}", status_code=303)


@router.post("/pay/{token}/checkout")
async def pay_now(request: Request, token: Token) -> Response:
    """On to the provider's hosted checkout for what is outstanding, or (`pay` is
    `next_instalment`) for the next instalment of the debtor's plan."""
    form = await _posted(request, ("pay",))
    if form is None:
        return _refused(request, 403, STALE)
    console = console_of(request)
    answer = await console.api.call(
        console.anonymous(request), "POST", f"/portal/{token}/checkout", json=form.payload()
    )
    if answer.status_code != 201:
        return _refused(request, answer.status_code, details_of(answer))
    return RedirectResponse(answer.json()["checkoutUrl"], status_code=303)


@router.get("/pay/{token}/checkout/{checkout_id}")
async def simulated_checkout(request: Request, token: Token, checkout_id: uuid.UUID) -> Response:
    """The simulated provider's checkout page (no Stripe key set): one button that pays what
    the checkout is for."""
    console = console_of(request)
    answer = await console.api.call(
        console.anonymous(request), "GET", f"/portal/{token}/checkout/{checkout_id}"
    )
    if answer.status_code != 200:
        return _refused(request, answer.status_code, details_of(answer))
    return await _debt_page(request, token, "portal_checkout.html", checkout=answer.json())


@router.post("/pay/{token}/checkout/{checkout_id}")
async def simulated_pay(request: Request, token: Token, checkout_id: uuid.UUID) -> Response:
    if await _posted(request, ()) is None:
        return _refused(request, 403, STALE)
    console = console_of(request)
    answer = await console.api.call(
        console.anonymous(request),
        "POST",
        f"/portal/{token}/checkout/{checkout_id}/simulated-payment",
    )
    if answer.status_code != 201:
        return _refused(request, answer.status_code, details_of(answer))
    return _noted(token, answer.json()["noted"])
