"""The operators' diagnostics: the report, dead letters listed and replayed, cache clearing,
through the admin API and the `remit` command line."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from redis.asyncio import Redis

from shared.cache_clear import is_protected
from shared.db import connect
from shared.kafka import ensure_topics
from shared.ops.broker_stats import (
    BrokerReading,
    GroupOffsets,
    PartitionOffsets,
    dead_letter_counts,
    read_broker,
    topic_lag,
)
from shared.ops.dead_letters import decode, refusal, replay_headers
from shared.ops.diagnostics import Fact, as_json, render, slowest_statements
from tests.agents_helpers import agents_sql
from tests.auth_helpers import bearer, new_user, tokens
from tests.helpers import eventually, publish_raw, run_remit, user_created

REFUSED_DOMAIN = "refused.example"


@pytest.fixture
async def refusing_directory(settings) -> AsyncIterator[None]:
    """The agents' user directory refuses emails @refused.example (a bug, say) until fixed."""
    connection = await connect(settings.database_url, "agents")
    try:
        await connection.execute(
            f"""
            CREATE OR REPLACE FUNCTION agents.test_refuse_email() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.email LIKE '%@{REFUSED_DOMAIN}' THEN
                    RAISE EXCEPTION 'refused by the test: %', NEW.email;
                END IF;
                RETURN NEW;
            END $$;
            CREATE OR REPLACE TRIGGER test_refuse_email BEFORE INSERT OR UPDATE
                ON agents.user_directory FOR EACH ROW EXECUTE FUNCTION agents.test_refuse_email();
            """
        )
        yield
    finally:
        await _fix_directory(connection)
        await connection.close()


async def _fix_directory(connection) -> None:
    await connection.execute(
        "DROP TRIGGER IF EXISTS test_refuse_email ON agents.user_directory;"
        "DROP FUNCTION IF EXISTS agents.test_refuse_email()"
    )


async def _directory_has(settings, user_id) -> bool:
    rows = await agents_sql(settings, "SELECT 1 FROM user_directory WHERE user_id = $1", user_id)
    return bool(rows)


async def _dead_letters(client, token, topic) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/diagnostics/dead-letters/{topic}", params={"limit": 500}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _dead_lettered(client, token, topic, key) -> dict[str, Any]:
    def with_key(items):
        return next((item for item in items if item["key"] == key), None)

    found = await eventually(
        lambda: _dead_letters(client, token, topic), lambda items: with_key(items) is not None, 60
    )
    item = with_key(found)
    assert item is not None
    return dict(item)


async def test_the_report_has_every_section(client, admin_token):
    response = await client.get("/api/v1/diagnostics", headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    report = response.json()
    database = report["database"]
    for fact in ("connectionsByState", "connectionsByClient", "databaseSize", "activeQueries",
                 "longestRunningQueries", "moreSequentialThanIndexScans", "stuckTasks",
                 "unpublishedOutboxEvents"):  # fmt: skip
        assert fact in database, database
    assert isinstance(database["slowestStatements"], list)  # created on the embedded Postgres
    assert {"auth", "campaigns", "agents", "notifier"} <= set(database["connectionsByClient"])
    for service in ("auth", "campaigns", "agents", "notifier"):
        pool = report["pools"][service]
        assert pool["inUse"] + pool["idle"] == pool["size"] <= pool["max"], pool
    assert report["redis"]["keys"] >= 0 and report["redis"]["usedMemory"]
    assert "keysByKind" in report["redis"]
    kafka = report["kafka"]
    for group in ("agents", "campaigns", "notifier"):  # one consumer group per consuming service
        assert isinstance(kafka["consumerLag"].get(group, {}).get("lag"), int), kafka
        assert "oldestAgeS" in kafka["consumerLag"][group]
    assert isinstance(kafka["deadLetters"]["total"], int)
    assert isinstance(kafka["notes"], list)


async def test_only_admins_may_diagnose(client, admin_token):
    manager = await new_user(client, admin_token, role="manager")
    token = (await tokens(client, manager["email"]))["accessToken"]
    for method, path, permission in (
        ("GET", "/api/v1/diagnostics", "diagnostics:read"),
        ("GET", "/api/v1/diagnostics/dead-letters", "diagnostics:read"),
        ("GET", "/api/v1/diagnostics/dead-letters/user.created.dlq", "diagnostics:read"),
        ("POST", "/api/v1/diagnostics/dead-letters/user.created.dlq/replay", "diagnostics:write"),
        ("POST", "/api/v1/diagnostics/cache/clear", "diagnostics:write"),
    ):
        response = await client.request(method, path, json={"all": True}, headers=bearer(token))
        assert response.status_code == 403, (path, response.text)
        assert response.json()["details"] == (
            f"Your role 'manager' lacks the '{permission}' permission"
        )
        assert (await client.request(method, path, json={})).status_code == 401


async def test_bad_requests_get_the_error_shape(client, admin_token):
    headers = bearer(admin_token)
    unknown = await client.get("/api/v1/diagnostics/dead-letters/user.created", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "Not Found"
    assert "user.created.dlq" in unknown.json()["details"]
    path = "/api/v1/diagnostics/dead-letters/user.created.dlq/replay"
    for body in ({}, {"all": True, "messages": [{"partition": 0, "offset": 0}]}):
        response = await client.post(path, json=body, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "Validation error"
    negative = await client.post(
        path, json={"messages": [{"partition": 0, "offset": -1}]}, headers=headers
    )
    assert negative.status_code == 400
    assert negative.json()["details"] == '"messages[0].offset" must be greater than or equal to 0'
    empty = await client.post(
        "/api/v1/diagnostics/cache/clear", json={"pattern": ""}, headers=headers
    )
    assert empty.status_code == 400
    assert empty.json()["requestId"]


async def test_a_dead_letter_is_listed_replayed_once_and_handled(
    settings, client, admin_token, refusing_directory
):
    user_id, poison_key = uuid.uuid4(), f"poison-{uuid.uuid4().hex}"
    event = user_created(user_id, f"{user_id.hex[:8]}@{REFUSED_DOMAIN}")
    await publish_raw(
        settings.kafka_bootstrap_servers,
        "user.created",
        [(str(user_id).encode(), event.model_dump_json().encode()), (poison_key.encode(), b"{not")],
    )
    topic = "user.created.dlq"
    letter = await _dead_lettered(client, admin_token, topic, str(user_id))
    poison = await _dead_lettered(client, admin_token, topic, poison_key)
    assert letter["eventId"] == str(event.event_id)
    assert letter["eventType"] == "user.created"
    assert letter["consumer"] == "remember-user"
    assert letter["originalTopic"] == "user.created"
    assert "refused by the test" in letter["error"]
    assert letter["payload"]["userId"] == str(user_id)
    assert letter["replayedAt"] is None
    assert poison["eventId"] is None and poison["raw"] == "{not"
    assert poison["error"].startswith("invalid envelope")
    # The handler's transaction rolled back: the event was never recorded as processed.
    processed = "SELECT consumer FROM processed_events WHERE event_id = $1"
    assert await agents_sql(settings, processed, event.event_id) == []

    # Fixed: replay the dead letter (and the poison message, which cannot be replayed).
    connection = await connect(settings.database_url, "agents")
    await _fix_directory(connection)
    await connection.close()
    path = f"/api/v1/diagnostics/dead-letters/{topic}/replay"
    positions = [
        {"partition": item["partition"], "offset": item["offset"]} for item in (letter, poison)
    ]
    response = await client.post(path, json={"messages": positions}, headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert outcome["replayed"] == [
        {**positions[0], "eventId": str(event.event_id), "originalTopic": "user.created"}
    ]
    assert outcome["skipped"] == [{**positions[1], "reason": "not a valid event envelope: replaying it would dead-letter it again"}]  # fmt: skip

    await eventually(lambda: _directory_has(settings, user_id), bool)
    rows = await agents_sql(settings, processed, event.event_id)
    assert [row["consumer"] for row in rows] == ["remember-user"]

    # Not twice: the replay was recorded with the dead letter's position.
    again = await client.post(path, json={"messages": positions[:1]}, headers=bearer(admin_token))
    assert again.json()["replayed"] == []
    assert again.json()["skipped"][0]["reason"].startswith("already replayed at ")
    listed = await _dead_lettered(client, admin_token, topic, str(user_id))
    assert listed["replayedAt"] is not None
    recorded = await agents_sql(
        settings,
        "SELECT replayed_by, original_topic FROM auth.dead_letter_replays WHERE event_id = $1",
        event.event_id,
    )
    assert [tuple(row) for row in recorded] == [
        (f"user:{await _admin_id(client, admin_token)}", "user.created")
    ]
    missing = await client.post(
        path, json={"messages": [{"partition": 0, "offset": 10**9}]}, headers=bearer(admin_token)
    )
    assert missing.json()["skipped"] == [
        {"partition": 0, "offset": 10**9, "reason": f"no such message in {topic}"}
    ]


async def _admin_id(client, token) -> str:
    return str((await client.get("/api/v1/auth/me", headers=bearer(token))).json()["id"])


async def test_dead_letter_counts_per_topic(client, admin_token, settings):
    key = f"poison-{uuid.uuid4().hex}"
    await publish_raw(settings.kafka_bootstrap_servers, "user.updated", [(key.encode(), b"[]")])
    await _dead_lettered(client, admin_token, "user.updated.dlq", key)
    response = await client.get("/api/v1/diagnostics/dead-letters", headers=bearer(admin_token))
    assert response.status_code == 200, response.text
    counts = {item["topic"]: item for item in response.json()["items"]}
    assert counts["user.updated.dlq"]["messages"] >= 1
    assert response.json()["total"] >= counts["user.updated.dlq"]["messages"]
    report = (await client.get("/api/v1/diagnostics", headers=bearer(admin_token))).json()
    assert report["kafka"]["deadLetters"]["topics"]["user.updated.dlq"]["messages"] >= 1


async def _command_stats(redis: Redis) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {
        name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("scan", "keys")
    }


async def test_cache_clear_by_pattern_scans_and_spares_the_rest(client, admin_token, settings):
    run = uuid.uuid4().hex
    redis = Redis.from_url(settings.redis_url)
    doomed = [f"cache:difftest:{run}:{n}" for n in range(3)]
    spared = [f"cache:other:{run}", f"session:{run}", f"auth:revoked_before:{run}"]
    try:
        for key in doomed + spared:
            await redis.set(key, "1", ex=300)
        before = await _command_stats(redis)
        response = await client.post(
            "/api/v1/diagnostics/cache/clear",
            json={"pattern": f"cache:difftest:{run}:*"},
            headers=bearer(admin_token),
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "pattern": f"cache:difftest:{run}:*", "matched": 3, "deleted": 3, "keptProtected": 0,
        }  # fmt: skip
        assert await redis.exists(*doomed) == 0
        assert await redis.exists(*spared) == len(spared)
        after = await _command_stats(redis)
        assert after["scan"] > before["scan"]
        assert after["keys"] == before["keys"]  # never KEYS

        # A `session:*` pattern, and protected keys kept unless asked for.
        everything = f"*{run}*"
        kept = await client.post(
            "/api/v1/diagnostics/cache/clear",
            json={"pattern": everything},
            headers=bearer(admin_token),
        )
        assert kept.json() == {
            "pattern": everything,
            "matched": 3,
            "deleted": 2,
            "keptProtected": 1,
        }
        assert await redis.exists(f"auth:revoked_before:{run}") == 1
        forced = await client.post(
            "/api/v1/diagnostics/cache/clear",
            json={"pattern": everything, "includeProtected": True},
            headers=bearer(admin_token),
        )
        assert forced.json()["deleted"] == 1
        assert await redis.exists(*spared) == 0
    finally:
        await redis.delete(*doomed, *spared)
        await redis.aclose()


def test_protected_keys():
    for key in ("ratelimit:LIMITER/api/ip:1/1000/900", "auth:revoked_before:x", "auth:unknown_locked:a@b",
                "remit:clock:offset_seconds"):  # fmt: skip
        assert is_protected(key)
    for key in ("cache:campaigns:customer:1", "session:1", "ratelimit"):
        assert not is_protected(key)


async def test_the_command_line_lists_replays_and_clears(platform, settings, refusing_directory):
    user_id = uuid.uuid4()
    event = user_created(user_id, f"{user_id.hex[:8]}@{REFUSED_DOMAIN}", isActive=False)
    event = event.model_copy(update={"type": "user.deactivated"})
    await publish_raw(
        settings.kafka_bootstrap_servers,
        "user.deactivated",
        [(str(user_id).encode(), event.model_dump_json().encode())],
    )
    topic = "user.deactivated.dlq"

    async def listed() -> Any:
        result = await asyncio.to_thread(
            run_remit, "dlq", "list", topic, "--json", env=platform.env
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["items"]

    await eventually(listed, lambda items: any(i["key"] == str(user_id) for i in items), 60)
    counts = await asyncio.to_thread(run_remit, "dlq", "list", env=platform.env)
    assert f"{topic}: " in counts.stdout, counts.stdout
    human = await asyncio.to_thread(run_remit, "dlq", "list", topic, env=platform.env)
    assert str(event.event_id) in human.stdout
    assert "remember-user" in human.stdout

    connection = await connect(settings.database_url, "agents")
    await _fix_directory(connection)
    await connection.close()
    replay = await asyncio.to_thread(run_remit, "dlq", "replay", topic, "--all", env=platform.env)
    assert replay.returncode == 0, replay.stderr
    assert f"(event {event.event_id}) to user.deactivated" in replay.stdout
    await eventually(lambda: _directory_has(settings, user_id), bool)
    twice = await asyncio.to_thread(run_remit, "dlq", "replay", topic, "--all", env=platform.env)
    assert twice.returncode == 0, twice.stderr
    assert f"(event {event.event_id})" not in twice.stdout
    assert "already replayed at" in twice.stdout

    bad = await asyncio.to_thread(run_remit, "dlq", "replay", topic, env=platform.env)
    assert bad.returncode == 2 and "--all" in bad.stderr
    unknown = await asyncio.to_thread(run_remit, "dlq", "list", "nope.dlq", env=platform.env)
    assert unknown.returncode == 2 and "not a dead-letter topic" in unknown.stderr

    redis = Redis.from_url(settings.redis_url)
    try:
        await redis.set(f"cache:clitest:{user_id}", "1", ex=300)
        cleared = await asyncio.to_thread(
            run_remit, "cache", "clear", f"cache:clitest:{user_id}", env=platform.env
        )
        assert cleared.returncode == 0, cleared.stderr
        assert "1 matched, 1 deleted" in cleared.stdout
        assert await redis.exists(f"cache:clitest:{user_id}") == 0
    finally:
        await redis.aclose()


def test_diagnose_prints_the_new_sections(platform):
    result = run_remit("diagnose", env=platform.env, timeout=120)
    assert result.returncode == 0, result.stderr
    for expected in ("== pools", "auth: size: ", "== kafka", "consumer lag per group:",
                     "dead letters:", "keys by kind:", "connections by client"):  # fmt: skip
        assert expected in result.stdout, result.stdout
    as_json = run_remit("diagnose", "--json", env=platform.env, timeout=120)
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert set(report) == {"database", "pools", "redis", "kafka"}
    assert "error" not in report["kafka"], report["kafka"]


async def _dlq_count(client, token, topic) -> int:
    response = await client.get("/api/v1/diagnostics/dead-letters", headers=bearer(token))
    assert response.status_code == 200, response.text
    return next(
        int(item["messages"]) for item in response.json()["items"] if item["topic"] == topic
    )


async def test_several_records_in_one_batch_are_all_counted_and_listed(
    settings, client, admin_token
):
    # Tansu reports a partition's end as its last batch's base offset + 1: five records sent
    # as one batch would count as one if the end offsets were taken on trust.
    topic, run = "reply.classified.dlq", uuid.uuid4().hex
    before = await _dlq_count(client, admin_token, topic)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, linger_ms=200)
    await producer.start()
    try:
        sent = [
            await producer.send(topic, b"{not", key=f"{run}-{n}".encode(), partition=0)
            for n in range(5)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    assert await _dlq_count(client, admin_token, topic) == before + 5
    keys = {item["key"] for item in await _dead_letters(client, admin_token, topic)}
    assert {f"{run}-{n}" for n in range(5)} <= keys


async def test_lag_counts_every_waiting_event_and_the_oldest_ones_age(settings):
    """On the embedded broker too: a group that has joined but never committed, whose topics
    the broker does not name, lags by every event in its topics (five of them sent as one
    batch, which Tansu under-reports), and the oldest has waited since before the reading."""
    topic, group = f"tests.lag_{uuid.uuid4().hex[:8]}", f"lag-{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, linger_ms=200)
    await producer.start()
    try:
        sent = [await producer.send(topic, b"x", partition=n // 5) for n in range(8)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    member = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    await member.start()
    try:
        await eventually(lambda: _assigned(member), bool, timeout=30)
        await asyncio.sleep(1)
        reading = await read_broker(settings, {group: [topic]})
    finally:
        await member.stop()
    found = next(g for g in reading.groups if g.group == group)
    waiting = reading.waiting(found, time.time())
    assert waiting[topic]["waiting"] == 8, waiting
    assert waiting[topic]["oldestAgeS"] >= 1.0, waiting


async def _assigned(consumer) -> set[Any]:
    return set(consumer.assignment())


def test_lag_and_counts_are_plain_arithmetic():
    a0, a1, dlq = TopicPartition("a.b", 0), TopicPartition("a.b", 1), TopicPartition("a.b.dlq", 0)
    offsets = PartitionOffsets(
        begin={a0: 0, a1: 2, dlq: 1}, end={a0: 10, a1: 7, dlq: 4}, under_reported=0
    )
    committed = GroupOffsets("g", "Stable", 1, {a0: 4}, subscriptions=None)
    assert topic_lag(committed, offsets) == {"a.b": 6}  # a1 never committed: unknown on Tansu
    subscribed = GroupOffsets("g", "Stable", 1, {a0: 4}, subscriptions=frozenset({"a.b"}))
    assert topic_lag(subscribed, offsets) == {"a.b": 6 + 5}  # a1 counts from its beginning
    assert dead_letter_counts(offsets) == {"a.b.dlq": 3}
    # The oldest waiting event: the record each partition would be read from next.
    reading = BrokerReading(offsets, [subscribed], {(a0, 4): 1000.0, (a1, 2): 1030.0})
    assert reading.waiting(subscribed, now=1060.0) == {"a.b": {"waiting": 11, "oldestAgeS": 60.0}}
    caught_up = GroupOffsets("g", "Stable", 1, {a0: 10, a1: 7}, subscriptions=None)
    assert reading.waiting(caught_up, now=1060.0) == {}


def test_dead_letters_are_decoded_and_replayed_unchanged_but_for_the_headers():
    event = user_created(uuid.uuid4(), "x@example.com")
    headers = [("x-request-id", b"r-1"), ("x-dlq-error", b"KeyError('userId')"),
               ("x-dlq-consumer", b"svc.handler"), ("x-dlq-original-topic", b"user.created")]  # fmt: skip
    letter = decode("user.created.dlq", 2, 7, 0, b"k", event.model_dump_json().encode(), headers)
    assert letter.envelope == event and letter.original_topic == "user.created"
    assert refusal(letter, ["user.created"]) is None
    assert refusal(letter, ["other.topic"]) is not None
    assert replay_headers(letter) == {
        "x-request-id": "r-1",
        "x-replayed-from": "user.created.dlq/2/7",
    }
    poison = decode("user.created.dlq", 0, 1, 0, None, b"{not", headers)
    assert poison.envelope is None
    assert refusal(poison, ["user.created"]) == (
        "not a valid event envelope: replaying it would dead-letter it again"
    )
    assert poison.as_json(None)["raw"] == "{not"


def test_the_report_renders_for_people():
    report = {
        "pools": {"auth": Fact("auth", {"size": 2, "inUse": 1})},
        "kafka": {"lag": Fact("consumer lag per group", {"agents": {"lag": 3, "topics": {"a.b": 3}}}),
                  "notes": Fact("notes", [])},
        "redis": {"error": Fact("error", "unavailable: ConnectionError()")},
    }  # fmt: skip
    assert render(report).splitlines() == [
        "== pools",
        "auth: size: 2, inUse: 1",
        "== kafka",
        "consumer lag per group:",
        "  agents:",
        "    lag: 3",
        "    topics: a.b: 3",
        "notes: none",
        "== redis",
        "error: unavailable: ConnectionError()",
    ]
    assert as_json(report)["pools"] == {"auth": {"size": 2, "inUse": 1}}


async def testslowest_statements_say_plainly_when_pg_stat_statements_is_missing(platform):
    """A database without the extension gets a sentence, not an error that hides the rest."""
    if platform.postgres is None:
        pytest.skip("needs the embedded Postgres to create a database in")
    admin = await asyncpg.connect(platform.postgres.admin_url)
    name = f"diag_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        bare = await asyncpg.connect(platform.postgres.admin_url.rsplit("/", 1)[0] + f"/{name}")
        try:
            assert await slowest_statements(bare) == (
                "pg_stat_statements is not installed (CREATE EXTENSION pg_stat_statements)"
            )
            await bare.execute("CREATE EXTENSION pg_stat_statements")
            found = await slowest_statements(bare)
            assert isinstance(found, list) and {"query", "calls", "mean_ms"} <= set(found[0])
        finally:
            await bare.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}"')
        await admin.close()
