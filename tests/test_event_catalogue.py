"""The event catalogue: true to the services' subscriptions, and served as AsyncAPI."""

from __future__ import annotations

import importlib

from shared.settings import SERVICE_NAMES
from shared.topics import EVENTS


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
    assert "Envelope" in spec["components"]["schemas"]
    page = await client.get("/api/v1/asyncapi")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "asyncapi" in page.text.lower()
