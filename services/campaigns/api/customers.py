"""HTTP routes for customers."""

from __future__ import annotations

import uuid
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query, Response

from services.campaigns import operations
from services.campaigns.api.schemas import Customer, CustomerIn, CustomerPage, CustomerPatch
from services.campaigns.stores import campaigns, customers
from shared.clock import clock
from shared.errors import ApiError
from shared.openapi import error_responses
from shared.resources import Deps, Resources
from shared.security import Principal, require

router = APIRouter(tags=["customers"])
Reader = Annotated[Principal, require("customers:read")]
Writer = Annotated[Principal, require("customers:write")]


async def load_customer(deps: Resources, customer_id: uuid.UUID) -> bytes:
    """The customer's JSON as the API shows it, from the cache when it is there."""

    async def from_db() -> bytes | None:
        row = await customers.get(deps.pool, customer_id)
        return Customer.model_validate(dict(row)).model_dump_json().encode() if row else None

    found = await deps.cache.get_or_load("customer", str(customer_id), from_db)
    if found is None:
        raise ApiError(404, "Not Found", f"Customer {customer_id} does not exist")
    return found


@router.post("/customers", response_model=Customer, status_code=201, responses=error_responses(409))
async def create_customer(body: CustomerIn, deps: Deps, _: Writer) -> Customer:
    async with deps.pool.acquire() as connection:
        row = await customers.insert(connection, body.model_dump(by_alias=False))
    if row is None:
        raise ApiError(409, "Conflict", f"A customer with externalRef {body.external_ref} exists")
    return Customer.model_validate(dict(row))


@router.get("/customers", response_model=CustomerPage)
async def list_customers(
    deps: Deps,
    _: Reader,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name or email")] = None,
    is_active: Annotated[bool | None, Query(alias="isActive")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> CustomerPage:
    page = await customers.page(deps.pool, q, is_active, limit, cursor)
    return CustomerPage.of(page, limit, Customer.model_validate)


@router.get("/customers/{customer_id}", response_model=Customer)
async def get_customer(customer_id: uuid.UUID, deps: Deps, _: Reader) -> Response:
    # The cached JSON as it is: validating and encoding it again would be most of the read.
    return Response(await load_customer(deps, customer_id), media_type="application/json")


@router.patch("/customers/{customer_id}", response_model=Customer, responses=error_responses(409))
async def update_customer(
    customer_id: uuid.UUID, body: CustomerPatch, deps: Deps, _: Writer
) -> Customer:
    """Change details, or deactivate with `{"isActive": false}`: a deactivated customer's
    running campaigns pause (and can be resumed once they are active again)."""
    async with deps.pool.acquire() as connection, connection.transaction():
        try:
            row = await customers.update(
                connection, customer_id, body.model_dump(exclude_unset=True, by_alias=False)
            )
        except asyncpg.UniqueViolationError:
            raise ApiError(
                409, "Conflict", f"A customer with externalRef {body.external_ref} exists"
            ) from None
        if row is not None and body.is_active is False:
            now = clock.now()
            for campaign_id in await campaigns.running_for(connection, customer_id=customer_id):
                campaign = await operations.locked_campaign(connection, campaign_id)
                if campaign["status"] != "paused":
                    await operations.pause(
                        connection, campaign_id, now, reason="customer deactivated"
                    )
    await deps.cache.forget("customer", str(customer_id))
    if row is None:
        raise ApiError(404, "Not Found", f"Customer {customer_id} does not exist")
    return Customer.model_validate(dict(row))
