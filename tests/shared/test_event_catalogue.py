"""The event catalogue: true to the services' subscriptions, and served as AsyncAPI."""

from __future__ import annotations

import importlib
import uuid

import pytest
from pydantic import ValidationError

from shared.contracts import PAYLOADS, EventPayload
from shared.events import new_event
from shared.settings import SERVICE_NAMES
from shared.topics import EVENTS


def test_every_event_type_has_a_contract_and_producers_are_held_to_it():
    assert set(PAYLOADS) == set(EVENTS)
    assert all(model.event_type == event for event, model in PAYLOADS.items())
    task = {
        "taskId": str(uuid.uuid4()),
        "campaignId": str(uuid.uuid4()),
        "stepRunId": str(uuid.uuid4()),
        "customerId": str(uuid.uuid4()),
        "channel": "email",
    }
    made = new_event("task.completed", "agents", {**task, "outcome": "sent"})
    assert made.payload["outcome"] == "sent"
    with pytest.raises(ValidationError):  # a step run that is not an id
        new_event("task.completed", "agents", {**task, "stepRunId": "7", "outcome": "sent"})
    with pytest.raises(ValidationError):  # a required key missing
        new_event("task.completed", "agents", {"outcome": "sent"})


def test_each_service_publishes_exactly_its_catalogued_events_from_its_events_module():
    """Every event type a service produces has its contract in that service's events.py (the
    one place it publishes from), and no other."""
    for service in SERVICE_NAMES:
        module = importlib.import_module(f"services.{service}.events")
        built = {
            value.event_type
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, EventPayload) and value in _BUILT
        }
        produced = {event for event, entry in EVENTS.items() if entry.producer == service}
        assert built == produced, service
        assert service == module.PRODUCER


_BUILT = set(PAYLOADS.values())


def test_the_catalogue_names_exactly_the_events_each_service_consumes():
    for service in SERVICE_NAMES:
        spec = importlib.import_module(f"services.{service}.main").SPEC
        consumed = {subscription.topic for subscription in spec.subscriptions}
        listed = {event for event, entry in EVENTS.items() if service in entry.consumers}
        assert consumed == listed, service


async def test_asyncapi_document_and_page_are_served_through_the_gateway(client):
    document = await client.get("/api/v1/asyncapi.json")
    assert document.status_code == 200
    spec = document.json()
    assert spec["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in spec["channels"].values()}
    assert addresses == set(EVENTS)
    step_due = spec["channels"]["campaign.step_due:agents"]
    assert "Consumed by agents" in step_due["description"]
    # Each event type's message is its envelope with the contract's payload.
    schemas = spec["components"]["schemas"]
    assert schemas["StepDueEvent"]["properties"]["payload"] == {
        "$ref": "#/components/schemas/StepDue"
    }
    assert {"campaignId", "stepRunId", "customer", "payment"} <= set(
        schemas["StepDue"]["properties"]
    )
    assert "customerId" in schemas["TaskCompleted"]["properties"]
    page = await client.get("/api/v1/asyncapi")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "asyncapi" in page.text.lower()
