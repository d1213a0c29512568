"""Helpers for the agents tests."""

from __future__ import annotations

from typing import Any

from tests.auth_helpers import bearer, new_user, tokens
from tests.helpers import eventually, schema_sql


async def agents_sql(settings, query: str, *args: Any) -> list[Any]:
    return await schema_sql(settings, "agents", query, *args)


async def directory_row(settings, user_id) -> Any:
    """The agents service's copy of a user (its read model of auth's user events), or None."""
    rows = await agents_sql(settings, "SELECT * FROM user_directory WHERE user_id = $1", user_id)
    return rows[0] if rows else None


async def human_agent(client, admin_token, channels=("human",)) -> tuple[dict[str, Any], str]:
    """A person with an `agent` login registered as an online human agent; and their token."""
    person = await new_user(client, admin_token, role="agent")
    token = (await tokens(client, person["email"]))["accessToken"]
    body = {
        "name": person["email"],
        "kind": "human",
        "channels": list(channels),
        "userId": person["id"],
    }
    # The agents service learns of new users from auth's events, a moment later.
    created = await eventually(
        lambda: client.post("/api/v1/agents", json=body, headers=bearer(admin_token)),
        lambda response: response.status_code != 400,
    )
    assert created.status_code == 201, created.text
    beat = await client.post(
        f"/api/v1/agents/{created.json()['id']}/heartbeat", headers=bearer(token)
    )
    assert beat.status_code == 200 and beat.json()["status"] == "online"
    return beat.json(), token


async def tasks_of(client, token, campaign_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/tasks?campaignId={campaign_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def requested_messages(settings, campaign_id: str) -> list[dict[str, Any]]:
    rows = await agents_sql(
        settings,
        "SELECT envelope FROM outbox WHERE topic = 'message.requested' "
        "AND envelope->'payload'->>'campaignId' = $1 ORDER BY id",
        campaign_id,
    )
    return [row["envelope"]["payload"] for row in rows]


async def the_only_human_agent(client, admin_token, keep_id: str) -> None:
    """Earlier tests' human agents go offline, so a human task now goes to `keep_id`'s agent."""
    listed = await client.get("/api/v1/agents?kind=human", headers=bearer(admin_token))
    for agent in listed.json()["items"]:
        if agent["id"] != keep_id and agent["status"] == "online":
            answer = await client.patch(
                f"/api/v1/agents/{agent['id']}", json={"status": "offline"},
                headers=bearer(admin_token),
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
