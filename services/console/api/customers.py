"""Customers: the list and its search, and the form that creates one."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.api.rendering import page
from services.console.api.visits import Visitor, back_to, console_of
from services.console.domain.forms import Form as Filled
from services.console.stores.platform_api import details_of

router = APIRouter(include_in_schema=False)
CUSTOMER_FIELDS = ("companyName", "contactName", "email", "phone", "timezone", "externalRef")


@router.get("/customers")
async def customers(
    request: Request,
    visitor: Visitor,
    q: str | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    answer = await console_of(request).api.call(
        visitor.caller, "GET", "/customers", params={"q": q, "cursor": cursor, "limit": 50}
    )
    found = answer.json() if answer.status_code == 200 else None
    error = None if found is not None else details_of(answer)
    return page(
        request,
        "customers.html",
        answer.status_code if error else 200,
        page=found,
        q=q or "",
        error=error,
    )


@router.get("/customers/new")
async def new_customer(request: Request, visitor: Visitor) -> HTMLResponse:
    visitor.require("customers:write")
    return _customer_form(request, Filled.of({"timezone": "UTC"}, CUSTOMER_FIELDS), None)


@router.post("/customers/new")
async def create_customer(request: Request, visitor: Visitor) -> Response:
    form, answer = await visitor.submit(request, CUSTOMER_FIELDS, "POST", "/customers")
    if answer.is_success:
        return back_to(f"/customers/{answer.json()['id']}", "Customer created.")
    return _customer_form(request, form, None, answer.status_code)


PAYMENT_FIELDS = ("invoiceNumber", "amount", "currency", "dueDate")
RECEIPT_FIELDS = ("amount", "reference")


@router.get("/customers/{customer_id}")
async def customer(
    request: Request, visitor: Visitor, customer_id: uuid.UUID, notice: str | None = None
) -> HTMLResponse:
    return await _customer_page(request, visitor, customer_id, notice=notice)


async def _customer_page(
    request: Request,
    visitor: Visitor,
    customer_id: uuid.UUID,
    status: int = 200,
    **forms: Any,
) -> HTMLResponse:
    """The customer with their payment records and campaigns, and the forms that act on them
    (one of which may come back refused, with what was typed)."""
    api = console_of(request).api
    customer = await api.read(visitor.caller, f"/customers/{customer_id}")
    theirs = {"customerId": str(customer_id)}
    payments, campaigns = await asyncio.gather(
        api.items(visitor.caller, "/payments", theirs),
        api.items(visitor.caller, "/campaigns", theirs),
    )
    receipts = await asyncio.gather(
        *(api.items(visitor.caller, f"/payments/{p['id']}/receipts") for p in payments)
    )
    return page(
        request,
        "customer.html",
        status,
        customer=customer,
        payments=payments,
        receipts=dict(zip((p["id"] for p in payments), receipts, strict=True)),
        campaigns=campaigns,
        payment_form=forms.get("payment_form") or Filled.of({"currency": "USD"}, PAYMENT_FIELDS),
        receipt_form=forms.get("receipt_form"),
        blank=Filled(),
        receipt_for=forms.get("receipt_for"),
        notice=forms.get("notice"),
    )


@router.post("/customers/{customer_id}/payments")
async def record_payment(request: Request, visitor: Visitor, customer_id: uuid.UUID) -> Response:
    owner = {"customerId": str(customer_id)}
    form, answer = await visitor.submit(request, PAYMENT_FIELDS, "POST", "/payments", owner)
    if answer.is_success:
        return back_to(f"/customers/{customer_id}", "Payment record added.")
    return await _customer_page(
        request, visitor, customer_id, answer.status_code, payment_form=form
    )


@router.post("/customers/{customer_id}/payments/{payment_id}/receipts")
async def record_receipt(
    request: Request, visitor: Visitor, customer_id: uuid.UUID, payment_id: uuid.UUID
) -> Response:
    receipts = f"/payments/{payment_id}/receipts"
    form, answer = await visitor.submit(request, RECEIPT_FIELDS, "POST", receipts)
    if answer.is_success:
        return back_to(f"/customers/{customer_id}", "Receipt recorded.")
    return await _customer_page(
        request,
        visitor,
        customer_id,
        answer.status_code,
        receipt_form=form,
        receipt_for=str(payment_id),
    )


@router.get("/customers/{customer_id}/edit")
async def edit_customer(request: Request, visitor: Visitor, customer_id: uuid.UUID) -> HTMLResponse:
    visitor.require("customers:write")
    customer = await console_of(request).api.read(visitor.caller, f"/customers/{customer_id}")
    current = {name: str(customer.get(name) or "") for name in CUSTOMER_FIELDS}
    return _customer_form(request, Filled.of(current, CUSTOMER_FIELDS), customer)


@router.post("/customers/{customer_id}/edit")
async def update_customer(request: Request, visitor: Visitor, customer_id: uuid.UUID) -> Response:
    path = f"/customers/{customer_id}"
    form, answer = await visitor.submit(request, CUSTOMER_FIELDS, "PATCH", path)
    if not answer.is_success:
        customer = {"id": str(customer_id), "companyName": form.values.get("companyName", "")}
        return _customer_form(request, form, customer, answer.status_code)
    return back_to(f"/customers/{customer_id}", "Customer updated.")


PAYMENT_STATUSES = ("open", "partially_paid", "paid", "disputed", "written_off")


@router.get("/payments")
async def payments(
    request: Request,
    visitor: Visitor,
    status: str | None = None,
    q: str = "",
    cursor: str | None = None,
) -> HTMLResponse:
    found = await console_of(request).api.read(
        visitor.caller, "/payments", {"status": status, "q": q.strip(), "cursor": cursor}
    )
    return page(
        request,
        "payments.html",
        found=found,
        chosen=status or "",
        q=q.strip(),
        statuses=PAYMENT_STATUSES,
    )


def _customer_form(
    request: Request, form: Filled, customer: dict[str, Any] | None, status: int = 200
) -> HTMLResponse:
    """The customer form: a new one, or `customer`'s details to change."""
    if customer is None:
        return page(
            request, "customer_form.html", status, form=form, customer=None,
            title="New customer", action="/customers/new", button="Create customer",
        )  # fmt: skip
    return page(
        request, "customer_form.html", status, form=form, customer=customer,
        title="Edit customer", action=f"/customers/{customer['id']}/edit", button="Save",
    )  # fmt: skip
