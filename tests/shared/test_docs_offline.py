"""The API docs and the event catalogue work without internet access: every page references
only the platform's own URLs, and the Swagger UI assets it loads are served by the platform."""

from __future__ import annotations

import re

import pytest

from shared.settings import SERVICE_NAMES

_ASSET = re.compile(r'(?:src|href)="([^"#]+)"')


@pytest.mark.parametrize(
    "page", ["/api/v1/docs", "/api/v1/asyncapi", *(f"/api/v1/{n}/docs" for n in SERVICE_NAMES)]
)
async def test_a_docs_page_loads_nothing_from_outside(client, page):
    answer = await client.get(page)
    assert answer.status_code == 200
    assert "://" not in answer.text, re.findall(r"\S*://\S*", answer.text)[:3]
    for asset in _ASSET.findall(answer.text):
        if asset.startswith("/api/v1/docs/assets/"):
            loaded = await client.get(asset)
            assert loaded.status_code == 200 and len(loaded.content) > 1000, asset
            assert "max-age" in loaded.headers["cache-control"]


async def test_the_event_catalogue_page_shows_every_topic_and_its_schema(client):
    page = (await client.get("/api/v1/asyncapi")).text
    for topic in ("campaign.step_due", "message.requested", "task.completed"):
        assert f'<section id="{topic}">' in page
    assert "stepRunId" in page and "idempotencyKey" in page
