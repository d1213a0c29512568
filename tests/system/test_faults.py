"""Whole 200-campaign runs through the real services while a part of the platform fails under
them, then the books: every due step produced exactly one message, sent exactly once; nothing
missing, nothing doubled.

Faults: each service in turn killed with SIGKILL mid-run and restarted, and the broker frozen
with SIGSTOP for 20 s mid-run. (Postgres and Redis stopped, and poison events, are in
tests/shared/test_health_degraded.py and tests/shared/ops/test_dead_letters.py.)

The shape of a run keeps the file to a few minutes while every stage is busy when the fault
strikes: 200 one-step campaigns, half email (real SMTP to the sink) and half SMS (simulated),
created and started through the gateway by a caller of their own (the API limit counts per
caller). Each campaign's step is due 0 to 11 s after its start, so the scheduler is still
emitting, the agents still composing and the notifier still sending (at its provider rates,
10 SMS/s and 20 emails/s) when the fault comes: once the first 40 of the run's messages are
out and more wait in the notifier.

What "exactly one" is checked against (`_check_books`):

- campaigns: one step run per campaign, emitted once (`attempts` 1), completed;
- agents: one task per step run, completed;
- notifier: one message per step run (its idempotency key starts with the step run's ID; the
  keys are unique by the table's constraint), status `sent`;
- the SMTP sink: each sent email's Message-ID exactly once, and no other mail to the run's
  recipients: the provider's own count, not the notifier's word for it.
"""

from __future__ import annotations

import asyncio
import mailbox
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from services.notifier.email import message_id_for
from services.notifier.settings import NotifierSettings
from shared.devstack.platform import Platform
from shared.outbox import waiting
from tests.auth_helpers import bearer, new_user, tokens
from tests.campaign_helpers import campaign
from tests.helpers import eventually, schema_sql

pytestmark = pytest.mark.faults

RUN_SIZE = 200
SPREAD_S = 12  # a campaign's step falls due 0..SPREAD_S-1 seconds after its start
FAULT_AFTER_SENT = 40  # the fault strikes once this many of the run's messages are out
SETTLE_TIMEOUT = 150.0
SCHEMAS = ("auth", "campaigns", "agents", "notifier")


async def _caller(client, admin_token) -> str:
    """A fresh admin for one run: a run makes some 800 calls, and the API limit is per caller."""
    user = await new_user(client, admin_token, role="admin")
    return str((await tokens(client, user["email"]))["accessToken"])


async def _launch(client, token) -> list[uuid.UUID]:
    """Create the run's campaigns (each with its customer and payment), then start them all."""
    gate = asyncio.Semaphore(16)

    async def create(index: int) -> str:
        step = {"channel": ("email", "sms")[index % 2], "delay": f"PT{index % SPREAD_S}S"}
        async with gate:
            made = await campaign(client, token, steps=[step])
        return str(made["id"])

    async def start(campaign_id: str) -> None:
        async with gate:
            started = await client.post(
                f"/api/v1/campaigns/{campaign_id}/start", headers=bearer(token)
            )
        assert started.status_code == 200, started.text

    ids = await asyncio.gather(*(create(index) for index in range(RUN_SIZE)))
    await asyncio.gather(*(start(campaign_id) for campaign_id in ids))
    return [uuid.UUID(campaign_id) for campaign_id in ids]


async def _sent(settings, ids: list[uuid.UUID]) -> int:
    return (await _statuses(settings, ids))["sent"]


async def _statuses(settings, ids: list[uuid.UUID]) -> Counter[str]:
    """The run's messages by status."""
    rows = await schema_sql(
        settings,
        "notifier",
        "SELECT status, count(*) AS n FROM messages WHERE campaign_id = ANY($1::uuid[]) "
        "GROUP BY status",
        ids,
    )
    return Counter({row["status"]: int(row["n"]) for row in rows})


async def _mid_run(settings, client, admin_token) -> list[uuid.UUID]:
    """A run launched, once it is flowing: the moment its fault strikes."""
    ids = await _launch(client, await _caller(client, admin_token))
    await eventually(lambda: _statuses(settings, ids), _flowing, timeout=SETTLE_TIMEOUT)
    return ids


def _flowing(statuses: Counter[str]) -> bool:
    """Mid-run: the first messages are out, and more wait in the notifier right now."""
    return statuses["sent"] >= FAULT_AFTER_SENT and statuses["queued"] + statuses["sending"] >= 2


async def _unpublished(settings) -> dict[str, int]:
    counts = {}
    for schema in SCHEMAS:
        rows = await schema_sql(
            settings,
            schema,
            f"SELECT count(*) AS n FROM outbox WHERE {waiting()}",
        )
        counts[schema] = int(rows[0]["n"])
    return counts


def _step_run(message: Any) -> str:
    """The step run a message was sent for: its key is `<step run>:<attempt>:<send try>`."""
    return str(message["idempotency_key"].split(":")[0])


UNCERTAIN = ("sending", "unknown")  # the provider may or may not have the message


@dataclass
class Books:
    step_runs: list[Any]
    tasks: list[Any]
    messages: list[Any]
    campaigns: list[Any]

    def uncertain(self) -> list[Any]:
        """Messages whose send was interrupted: they may have gone out, and never go again."""
        return [m for m in self.messages if m["status"] in UNCERTAIN]

    def settled(self) -> bool:
        """Every step sent once, or left uncertain and failed for a person; no campaign open."""
        stuck = {_step_run(m) for m in self.uncertain()}
        sent = {_step_run(m) for m in self.messages if m["status"] == "sent"}
        finished = all(
            r["status"] == "completed" or (r["status"] == "failed" and str(r["id"]) in stuck)
            for r in self.step_runs
        )
        return (
            len(self.step_runs) == RUN_SIZE
            and sent | stuck == {str(r["id"]) for r in self.step_runs}
            and all(m["status"] != "sending" for m in self.messages)
            and finished
            and all(c["status"] != "active" for c in self.campaigns)
        )

    def __repr__(self) -> str:
        return (
            f"Books(step_runs={Counter(r['status'] for r in self.step_runs)}, "
            f"tasks={Counter(t['status'] for t in self.tasks)}, "
            f"messages={Counter(m['status'] for m in self.messages)}, "
            f"campaigns={Counter(c['status'] for c in self.campaigns)})"
        )


async def _books(settings, ids: list[uuid.UUID]) -> Books:
    return Books(
        step_runs=await schema_sql(
            settings,
            "campaigns",
            "SELECT id, status, attempts FROM step_runs WHERE campaign_id = ANY($1::uuid[])",
            ids,
        ),
        tasks=await schema_sql(
            settings,
            "agents",
            "SELECT step_run_id, step_attempt, status FROM tasks "
            "WHERE campaign_id = ANY($1::uuid[])",
            ids,
        ),
        messages=await schema_sql(
            settings,
            "notifier",
            "SELECT idempotency_key, status, channel, recipient, provider_id, updated_at "
            "FROM messages WHERE campaign_id = ANY($1::uuid[])",
            ids,
        ),
        campaigns=await schema_sql(
            settings, "campaigns", "SELECT status FROM campaigns WHERE id = ANY($1::uuid[])", ids
        ),
    )


def _mails(platform: Platform, recipients: set[str]) -> Counter[str]:
    """Message-IDs of the mails the SMTP sink received for these recipients, with counts."""
    box = mailbox.Maildir(platform.state_dir / "mail", create=False)
    return Counter(str(mail["Message-ID"]) for mail in box if str(mail["To"]).lower() in recipients)


def _check_books(
    platform: Platform, books: Books, *, uncertain_at_most: int = 0, retried: bool = False
) -> None:
    """Every due step's message went out exactly once (by idempotency key, and at the SMTP
    sink), or at most `uncertain_at_most` were interrupted mid-send and never sent again.

    `retried`: sends that failed before reaching the provider (an SMTP server that never
    greeted) were tried again under a new key; otherwise each step run had one message."""
    uncertain = books.uncertain()
    assert len(uncertain) <= uncertain_at_most, books
    stuck = {_step_run(m) for m in uncertain}
    run_ids = {str(r["id"]) for r in books.step_runs}
    assert len(run_ids) == RUN_SIZE
    sent = [m for m in books.messages if m["status"] == "sent"]
    sent_per_run = Counter(_step_run(m) for m in sent)
    assert all(n == 1 for n in sent_per_run.values()), sent_per_run.most_common(3)
    assert set(sent_per_run) | stuck == run_ids, books
    assert not set(sent_per_run) & stuck, "an uncertain message was sent again"
    assert {str(r["id"]) for r in books.step_runs if r["status"] != "completed"} <= stuck, books
    if not retried:
        # campaigns: each step emitted once; agents: one task each; notifier: one key each.
        assert all(r["attempts"] == 1 for r in books.step_runs), books
        assert Counter(str(t["step_run_id"]) for t in books.tasks) == Counter(run_ids), books
        assert Counter(_step_run(m) for m in books.messages) == Counter(run_ids)
    assert all(c["status"] != "active" for c in books.campaigns), books
    # The SMTP sink: every sent email arrived once, and no other mail went to the run's people
    # (an email interrupted mid-send may or may not have reached the sink).
    emails = [m for m in books.messages if m["channel"] == "email"]
    mails = _mails(platform, {m["recipient"] for m in emails})
    sent_ids = {m["provider_id"] for m in sent if m["channel"] == "email"}
    assert all(mails[provider_id] == 1 for provider_id in sent_ids), mails
    unaccounted = sum(n for message_id, n in mails.items() if message_id not in sent_ids)
    assert unaccounted <= sum(1 for m in uncertain if m["channel"] == "email"), mails


async def _settle(platform: Platform, settings, ids) -> tuple[Books, float]:
    """The books once the run settled, and how long that took from now; if they never do, the
    failure shows what each service logged at WARNING and above meanwhile (what an operator
    would read first)."""
    started = time.monotonic()
    logged = {service: _log_size(platform, service) for service in SCHEMAS}
    try:
        books = await eventually(
            lambda: _books(settings, ids), lambda books: books.settled(), timeout=SETTLE_TIMEOUT
        )
    except AssertionError as unsettled:
        raise AssertionError(f"{unsettled}\n{_complaints(platform, logged)}") from None
    return books, time.monotonic() - started


def _log_size(platform: Platform, service: str) -> int:
    return len(_log_text(platform, service))


def _log_text(platform: Platform, service: str) -> str:
    return (platform.log_dir / f"{service}.log").read_text(errors="replace")


def _complaints(platform: Platform, since: dict[str, int], most: int = 30) -> str:
    """Each service's last `most` lines at WARNING or above since the offsets `since`."""
    blocks = []
    for service, offset in since.items():
        lines = [
            line[:400]
            for line in _log_text(platform, service)[offset:].splitlines()
            if '"WARNING"' in line or '"ERROR"' in line or '"CRITICAL"' in line
        ]
        blocks.append(
            "\n".join([f"--- {service}: {len(lines)} at WARNING or above", *lines[-most:]])
        )
    return "\n".join(blocks)


def _recovered(fault: str, seconds: float) -> None:
    """The recovery time of a fault, for the run's report (`pytest -m faults -s`)."""
    print(f"\nrecovery after {fault}: {seconds:.1f} s")


async def _running(platform: Platform, instance: str) -> bool:
    return platform.services[instance].running


@pytest.mark.timeout(480)
@pytest.mark.parametrize("victim", ["auth", "campaigns", "agents", "notifier"])
async def test_a_service_killed_mid_run_loses_nothing_and_doubles_nothing(
    platform, settings, client, admin_token, victim
):
    """SIGKILL one service while the run's messages are flowing, restart it, and check the books.

    The service dies with whatever it had half done. What that may leave, by design:

    - campaigns: nothing; a claimed step and its `campaign.step_due` commit together, and an
      event the relay published but had not marked is published again (consumers skip it).
    - agents: a worker pass marks up to 50 AI tasks `in_progress`, then composes and requests
      each message. Tasks a kill strands between the two (never requested) are taken up again
      after AI_TASK_LEASE (5 s here) by the restarted worker, with no one's help. A resumed
      task asks with the same idempotency key, so a message it had already requested is not
      sent twice.
    - notifier: a message is committed as `sending` just before its provider call, and one
      left `sending` by a crash is settled `unknown` later (SENDING_SETTLE_AFTER_S, 20 s
      here), never resent: sending twice is worse than not at all. So a kill that lands
      between that mark and the provider's answer may leave a message uncertain (it may or
      may not have gone out; the SMTP sink check allows either for an email), at most one per
      send in flight (SEND_CONCURRENCY emails, TWILIO_SEND_CONCURRENCY texts); its step
      fails for a person to check.
      Anything else left unsent is loss.
    """
    ids = await _mid_run(settings, client, admin_token)
    try:
        before = await _sent(settings, ids)
        platform.services[victim].signal(signal.SIGKILL)
        await eventually(lambda: _running(platform, victim), lambda alive: not alive)
        assert before < RUN_SIZE, "the run was over before the fault; nothing was tested"
        await asyncio.to_thread(platform.start_instance, victim)
    finally:
        if not platform.services[victim].running:
            await asyncio.to_thread(platform.start_instance, victim)
        await asyncio.to_thread(platform.wait_healthy)
    books, took = await _settle(platform, settings, ids)
    _recovered(f"kill -9 of {victim}", took)
    # Only sends in flight in the killed notifier (its emails and its texts) can be uncertain.
    notifier = platform.settings_for(NotifierSettings)
    in_flight = notifier.send_concurrency + notifier.twilio_send_concurrency
    _check_books(platform, books, uncertain_at_most=in_flight if victim == "notifier" else 0)


@pytest.mark.timeout(480)
async def test_broker_frozen_for_20s_mid_run_outboxes_drain_nothing_lost_or_doubled(
    platform, settings, client, admin_token
):
    """SIGSTOP the broker for 20 s while the run's messages are flowing, then SIGCONT.

    Meanwhile the services keep working from their databases: the scheduler emits due steps
    and the notifier sends what it has queued, and their events wait in the outboxes. After
    the broker resumes, every outbox drains and the books hold exactly one sent message per
    due step (publishes that timed out are retried; consumers skip redelivered events).
    """
    if platform.kafka is None:
        pytest.skip("broker is external (KAFKA_BOOTSTRAP_SERVERS given); cannot pause it")
    ids = await _mid_run(settings, client, admin_token)
    platform.kafka.process.signal(signal.SIGSTOP)
    try:
        frozen = time.monotonic()
        # The scheduler goes on emitting the steps falling due; their events wait in the outbox.
        await eventually(
            lambda: _unpublished(settings), lambda counts: counts["campaigns"] > 0, timeout=20
        )
        assert await _sent(settings, ids) < RUN_SIZE, "the run was over before the fault"
        await asyncio.sleep(max(0.0, 20 - (time.monotonic() - frozen)))  # the fault's length
    finally:
        platform.kafka.process.signal(signal.SIGCONT)
    books, took = await _settle(platform, settings, ids)
    _recovered("the broker frozen 20 s", took)
    _check_books(platform, books)
    # And every outbox drained, the run's last events (`campaign.completed`) included.
    await eventually(
        lambda: _unpublished(settings), lambda counts: not any(counts.values()), timeout=60
    )
    await asyncio.to_thread(platform.wait_healthy)


def _log_lines(platform: Platform, service: str, text: str) -> int:
    return sum(1 for line in _log_text(platform, service).splitlines() if text in line)


async def _health(client, service: str) -> dict[str, Any]:
    return dict((await client.get(f"/api/v1/{service}/health")).json())


@pytest.mark.timeout(480)
async def test_broker_killed_and_restarted_mid_run_loses_nothing_and_doubles_nothing(
    platform, settings, client, admin_token
):
    """SIGKILL the broker while the run's messages are flowing and start a fresh one on the
    same port: it has no topics, offsets or groups, and every event it held is gone.

    Each service notices the new broker epoch within seconds, says so once (log and health),
    publishes again from its outbox what it had published to the lost broker, and joins its
    consumer group afresh; consumers skip what they already handled. The books balance."""
    if platform.kafka is None:
        pytest.skip("broker is external (KAFKA_BOOTSTRAP_SERVERS given); cannot restart it")
    lost_before = {name: _log_lines(platform, name, "the broker lost its data") for name in SCHEMAS}
    ids = await _mid_run(settings, client, admin_token)
    platform.kafka.process.signal(signal.SIGKILL)
    await eventually(lambda: _kafka_down(platform), lambda down: down)
    assert await _sent(settings, ids) < RUN_SIZE, "the run was over before the fault"
    await asyncio.to_thread(platform.kafka.start)
    books, took = await _settle(platform, settings, ids)
    _recovered("kill -9 and restart of the broker", took)
    _check_books(platform, books)
    for name in SCHEMAS:
        health = await _health(client, name)
        assert health["broker"]["dataLostAt"] is not None, health
        # Said once per service, not once per failed commit.
        assert _log_lines(platform, name, "the broker lost its data") == lost_before[name] + 1
        assert _log_lines(platform, name, "offset commit failed") <= 10
    await asyncio.to_thread(platform.wait_healthy)


async def _kafka_down(platform: Platform) -> bool:
    return platform.kafka is not None and not platform.kafka.process.running


@pytest.mark.timeout(480)
async def test_whole_platform_stopped_and_started_mid_run_loses_nothing(
    platform, settings, client, admin_token
):
    """Stop everything mid-run the way `remit up` stops (gateway, then the services, which
    finish their batches and publish their outboxes, then the broker, whose memory is lost,
    then Postgres), start it all again, and check the books: the restarted services find a
    new broker epoch and publish again whatever the old broker may not have delivered."""
    if platform.kafka is None or platform.postgres is None:
        pytest.skip("external infrastructure; cannot restart it")
    ids = await _mid_run(settings, client, admin_token)
    await asyncio.to_thread(platform.stop_services)
    assert await _sent(settings, ids) < RUN_SIZE, "the run was over before the fault"
    await asyncio.to_thread(platform.kafka.stop)
    await asyncio.to_thread(platform.postgres.stop)
    await asyncio.to_thread(platform.postgres.start)
    await asyncio.to_thread(platform.kafka.start)
    await asyncio.to_thread(platform.start_services)
    await asyncio.to_thread(platform.wait_healthy)
    books, took = await _settle(platform, settings, ids)
    _recovered("a full platform stop and start", took)
    # A send in flight when its service stopped is finished before the stop completes.
    _check_books(platform, books)


@pytest.mark.timeout(480)
async def test_postgres_killed_and_restarted_mid_run_sends_nothing_twice(
    platform, settings, client, admin_token
):
    """SIGKILL Postgres mid-run and start it again (crash recovery). A send whose provider call
    was under way when the database died cannot be recorded: it stays `sending`, is settled
    `unknown` and is never sent again, not by the notifier and not by a step retry under a new
    key; everything else goes out once."""
    if platform.postgres is None:
        pytest.skip("external Postgres; cannot kill it")
    ids = await _mid_run(settings, client, admin_token)
    platform.postgres.process.signal(signal.SIGKILL)
    await asyncio.sleep(2)
    await asyncio.to_thread(platform.postgres.start)
    books, took = await _settle(platform, settings, ids)
    _recovered("kill -9 and restart of Postgres", took)
    _check_books(platform, books, uncertain_at_most=16)
    await asyncio.to_thread(platform.wait_healthy)


class _Unacknowledging:
    """An SMTP server that stores each message and never answers the final ".": the client
    cannot know it was stored."""

    def __init__(self) -> None:
        self.received: list[str] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or envelope.content)
        self.received.append(str(parsed["Message-ID"]))
        await asyncio.sleep(3600)
        return "250 OK"


async def _sms_sent(settings, ids: list[uuid.UUID]) -> int:
    rows = await schema_sql(
        settings,
        "notifier",
        "SELECT count(*) AS n FROM messages WHERE campaign_id = ANY($1::uuid[]) "
        "AND channel = 'sms' AND status = 'sent'",
        ids,
    )
    return int(rows[0]["n"])


@pytest.mark.timeout(480)
async def test_an_smtp_server_that_never_acknowledges_data_gets_each_email_once(
    platform, settings, client, admin_token
):
    """For 15 s mid-run the SMTP server stores every message and never acknowledges it. Each
    such email is `unknown` after SMTP_TIMEOUT_S and never sent again (the server got each
    once); SMS go on meanwhile; once a healthy server is back, the other emails go out."""
    if platform.smtp is None:
        pytest.skip("external SMTP server")
    ids = await _mid_run(settings, client, admin_token)
    platform.smtp.stop()
    stalled = _Unacknowledging()
    server = Controller(stalled, hostname="127.0.0.1", port=platform.smtp.port)
    server.start()
    try:
        sms_before = await _sms_sent(settings, ids)
        await asyncio.sleep(15)
        sms_during = await _sms_sent(settings, ids) - sms_before
    finally:
        server.stop()
        await asyncio.to_thread(platform.smtp.start)
    books, took = await _settle(platform, settings, ids)
    _recovered("an SMTP server that never acknowledged DATA for 15 s", took)
    unknown = [m for m in books.messages if m["status"] == "unknown"]
    assert unknown and all(m["channel"] == "email" for m in unknown), books
    # Every email that reached the stalled server is one of the unknown ones, and reached it
    # once (one cut off mid-DATA when that server was swapped out may not have reached it);
    # none of them went out again (the books' SMTP sink check).
    unknown_ids = {message_id_for(m["idempotency_key"]) for m in unknown}
    assert set(stalled.received) <= unknown_ids, stalled.received
    assert all(n == 1 for n in Counter(stalled.received).values()), stalled.received
    assert sms_during > 0 or await _sms_sent(settings, ids) == RUN_SIZE // 2
    # Sends refused while the servers were swapped (nothing sent) were tried again.
    _check_books(platform, books, uncertain_at_most=len(unknown), retried=True)


@pytest.mark.timeout(480)
async def test_an_smtp_server_that_never_greets_slows_email_only(
    platform, settings, client, admin_token
):
    """For 10 s mid-run the SMTP server accepts connections and never greets (SIGSTOP). Sends
    started meanwhile fail before any data went out, so they are tried again, and each email
    still goes out once; SMS go on meanwhile. A send the stop caught after its data went out
    (at most one per email send worker) waits for an answer that never comes: its outcome is
    unknown, and it is never sent again."""
    if platform.smtp is None:
        pytest.skip("external SMTP server")
    ids = await _mid_run(settings, client, admin_token)
    platform.smtp.process.signal(signal.SIGSTOP)
    try:
        sms_before = await _sms_sent(settings, ids)
        await asyncio.sleep(10)
        sms_during = await _sms_sent(settings, ids) - sms_before
    finally:
        platform.smtp.process.signal(signal.SIGCONT)
    books, took = await _settle(platform, settings, ids)
    _recovered("an SMTP server that never greeted for 10 s", took)
    assert sms_during > 0 or await _sms_sent(settings, ids) == RUN_SIZE // 2
    in_flight = platform.settings_for(NotifierSettings).send_concurrency
    _check_books(platform, books, uncertain_at_most=in_flight, retried=True)
