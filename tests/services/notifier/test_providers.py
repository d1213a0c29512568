"""Sending through the real `twilio` SDK against a fake Twilio API over HTTP, and through real
`aiosmtplib` against a real `aiosmtpd` server."""

from __future__ import annotations

import asyncio
from datetime import time
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from pydantic import SecretStr

from services.notifier.providers import Providers, SendError
from services.notifier.settings import NotifierSettings
from shared.devstack.processes import free_port
from tests.fakes import Reply, scripted_server

SID = "AC" + "0" * 32


def _settings(**overrides) -> NotifierSettings:
    values = {
        "database_url": "postgresql://unused@127.0.0.1/x",
        "redis_url": "redis://127.0.0.1:1/0",
        "kafka_bootstrap_servers": "127.0.0.1:1",
        "twilio_account_sid": SID,
        "twilio_auth_token": "secret",
        "twilio_from_number": "+15005550006",
        "provider_max_retries": 2,
        **overrides,
    }
    return NotifierSettings(**values)


def _open_all_day(settings: NotifierSettings, **overrides: Any) -> NotifierSettings:
    """The platform's notifier settings with `overrides`, contact open all day: the test's
    sends are never deferred to the window's opening."""
    return settings.model_copy(
        update={"contact_window_start": time(0), "contact_window_end": time(23, 59), **overrides}
    )


def _through_twilio(platform: Any, twilio_api: Any, **overrides: Any) -> NotifierSettings:
    """The platform's notifier settings, open all day, sending texts to the fake Twilio API."""
    return _open_all_day(
        platform.settings_for(NotifierSettings),
        twilio_account_sid=SID,
        twilio_auth_token=SecretStr("secret"),
        twilio_from_number="+15005550006",
        twilio_api_url=twilio_api.url,
        **overrides,
    )


def _twilio_message(sid: str = "SM" + "1" * 32) -> dict[str, object]:
    return {
        "sid": sid,
        "status": "queued",
        "to": "+14155552671",
        "from": "+15005550006",
        "body": "x",
    }


async def _send(settings: NotifierSettings, *message: Any) -> Any:
    """One send through a Providers that is closed afterwards (its aiohttp session too)."""
    providers = Providers(settings)
    try:
        return await providers.send(*message)
    finally:
        await providers.close()


@pytest.fixture
def twilio_api():
    with scripted_server() as server:
        yield server


async def test_sms_goes_through_the_twilio_sdk(twilio_api):
    twilio_api.script(Reply(201, _twilio_message()))
    sent = await _send(
        _settings(twilio_api_url=twilio_api.url), "sms", "+14155552671", None, "Hello", "k-1"
    )
    assert sent.provider_id.startswith("SM") and sent.simulated is False
    request = twilio_api.seen[0]
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    form = parse_qs(request.body.decode())
    assert (
        form["To"] == ["+14155552671"]
        and form["Body"] == ["Hello"]
        and form["From"] == ["+15005550006"]
    )
    assert request.headers["authorization"].startswith("Basic ")


async def test_calls_carry_twiml_that_gathers_input(twilio_api):
    twilio_api.script(Reply(201, {"sid": "CA" + "2" * 32, "status": "queued"}))
    await _send(
        _settings(twilio_api_url=twilio_api.url), "voice", "+14155552671", None, "Hello Ada.", "k-2"
    )
    form = parse_qs(twilio_api.seen[0].body.decode())
    assert twilio_api.seen[0].path.endswith("/Calls.json")
    assert "<Gather" in form["Twiml"][0] and "Hello Ada." in form["Twiml"][0]


async def test_rate_limit_is_retried_with_backoff(twilio_api):
    twilio_api.script(
        Reply(429, {"code": 20429, "message": "Too Many Requests", "status": 429}),
        Reply(201, _twilio_message()),
    )
    sent = await _send(
        _settings(twilio_api_url=twilio_api.url), "sms", "+14155552671", None, "x", "k-sms"
    )
    assert sent.provider_id and len(twilio_api.seen) == 2


async def test_outage_gives_up_retryable_after_the_limit(twilio_api):
    twilio_api.script(Reply(503, {"code": 20500, "message": "Service Unavailable", "status": 503}))
    with pytest.raises(SendError) as raised:
        await _send(
            _settings(twilio_api_url=twilio_api.url), "sms", "+14155552671", None, "x", "k-sms"
        )
    assert raised.value.retryable and "after 3 tries" in raised.value.reason
    assert len(twilio_api.seen) == 3


async def test_authentication_error_fails_fast_naming_the_settings(twilio_api):
    twilio_api.script(Reply(401, {"code": 20003, "message": "Authenticate", "status": 401}))
    with pytest.raises(SendError) as raised:
        await _send(
            _settings(twilio_api_url=twilio_api.url), "sms", "+14155552671", None, "x", "k-sms"
        )
    assert not raised.value.retryable
    assert (
        "TWILIO_ACCOUNT_SID" in raised.value.reason and "TWILIO_AUTH_TOKEN" in raised.value.reason
    )
    assert len(twilio_api.seen) == 1


@pytest.mark.parametrize(
    ("code", "message", "reason"),
    [
        (21211, "The 'To' number is not a valid phone number.", "Invalid phone number"),
        (21610, "Attempt to send to unsubscribed recipient", "Recipient opted out"),
    ],
)
async def test_a_number_twilio_refuses_for_good(twilio_api, code, message, reason):
    twilio_api.script(Reply(400, {"code": code, "message": message, "status": 400}))
    with pytest.raises(SendError, match=reason) as raised:
        await _send(
            _settings(twilio_api_url=twilio_api.url), "sms", "+14155552671", None, "x", "k-sms"
        )
    # A refusal no retry can change, as the checks' own: the step is skipped.
    assert raised.value.refused and not raised.value.retryable


async def test_without_credentials_the_simulator_records_the_send():
    sent = await _send(
        _settings(twilio_account_sid=None), "sms", "+14155552671", None, "x", "k-sms"
    )
    assert sent.simulated and sent.provider_id.startswith("SIM")


class _Refusing(Message):
    def __init__(self) -> None:
        super().__init__()
        self.received: list[Any] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("gone@"):
            return "550 5.1.1 No such user"
        if address.startswith("full@"):
            return "452 4.2.2 Mailbox full, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def handle_message(self, message) -> None:
        self.received.append(message)


async def test_email_through_smtp_bounces_and_outages():
    handler = _Refusing()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        providers = Providers(_settings(smtp_host="127.0.0.1", smtp_port=port))
        sent = await providers.send("email", "ada@example.com", "Invoice", "Please pay", "k-ada")
        assert sent.provider_id.startswith("<") and len(handler.received) == 1
        received = handler.received[0]
        assert received["Subject"] == "Invoice" and received["Reply-To"] == "billing@remit.local"
        assert received["List-Unsubscribe"] == "<mailto:billing@remit.local?subject=unsubscribe>"
        kinds = {part.get_content_type() for part in received.walk()}
        assert {"text/plain", "text/html"} <= kinds
        with pytest.raises(SendError) as bounced:
            await providers.send("email", "gone@example.com", "Invoice", "Please pay", "k-gone")
        assert bounced.value.bounced and not bounced.value.retryable
        with pytest.raises(SendError) as later:
            await providers.send("email", "full@example.com", "Invoice", "Please pay", "k-full")
        assert not later.value.bounced and later.value.retryable  # 4xx: try again, keep the address
    finally:
        await providers.close()
        controller.stop()
    down = Providers(_settings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_tls="starttls"))
    with pytest.raises(SendError) as failed:
        await down.send("email", "ada@example.com", "Invoice", "Please pay", "k-down")
    assert failed.value.retryable
    assert (
        "SMTP connection failed: 127.0.0.1:" in failed.value.reason
        and "starttls" in failed.value.reason
    )


async def test_smtp_failures_before_the_data_are_retried_and_after_it_unknown():
    """Nothing sent yet (no STARTTLS where it is required): a retryable failure. The data
    sent and never acknowledged: unknown, never retried, and the server got it once."""
    handler = _Refusing()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        no_tls = Providers(_settings(smtp_host="127.0.0.1", smtp_port=port, smtp_tls="starttls"))
        with pytest.raises(SendError) as refused:
            await no_tls.send("email", "ada@example.com", "Invoice", "Please pay", "k-tls")
        assert refused.value.retryable and not refused.value.unknown
        assert "STARTTLS" in refused.value.reason and not handler.received
    finally:
        controller.stop()

    class _Silent(_Refusing):
        async def handle_DATA(self, server, session, envelope) -> str:
            self.received.append(envelope)
            await asyncio.sleep(30)
            return "250 OK"

    silent = _Silent()
    port = free_port()
    controller = Controller(silent, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        stalled = Providers(
            _settings(smtp_host="127.0.0.1", smtp_port=port, smtp_timeout_s=1, send_deadline_s=5)
        )
        with pytest.raises(SendError) as unknown:
            await stalled.send("email", "ada@example.com", "Invoice", "Please pay", "k-stall")
        assert unknown.value.unknown and not unknown.value.retryable
        assert len(silent.received) == 1
    finally:
        controller.stop()


async def test_a_hard_bounce_marks_the_message_and_suppresses_the_address(platform):
    import uuid

    from redis.asyncio import Redis

    from services.notifier.domain.outgoing import Outgoing
    from services.notifier.sender import send_ready
    from services.notifier.stores import messages
    from shared.db import connect, create_pool
    from shared.migrations import migrate, service_migrations
    from shared.ratelimit import RateLimiter
    from tests.scheduler_seed import drop_schema

    settings = platform.settings_for(NotifierSettings)
    handler = _Refusing()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    schema = f"notifier_{uuid.uuid4().hex[:8]}"
    connection = await connect(settings.database_url, schema)
    await migrate(connection, schema, service_migrations("services.notifier"))
    await connection.close()
    pool = await create_pool(settings, schema)
    local = _open_all_day(settings, smtp_host="127.0.0.1", smtp_port=port, smtp_tls="none")
    providers = Providers(local)
    redis = Redis.from_url(settings.redis_url)
    limiter = RateLimiter(redis, 1)
    try:
        async with pool.acquire() as tx, tx.transaction():
            await messages.queue(
                tx,
                Outgoing(
                    idempotency_key="bounce-1",
                    channel="email",
                    to="gone@example.com",
                    subject="x",
                    body="y",
                ),
            )
        assert await send_ready(pool, local, providers, limiter) == 1
        row = await pool.fetchrow(
            "SELECT status, reason FROM messages WHERE idempotency_key = 'bounce-1'"
        )
        assert row is not None
        assert row["status"] == "bounced" and "550" in row["reason"]
        assert (
            await pool.fetchval(
                "SELECT reason FROM suppressions WHERE recipient = 'gone@example.com' AND channel = 'email'"
            )
            == "bounce"
        )
        event = await pool.fetchval("SELECT envelope FROM outbox WHERE topic = 'message.failed'")
        assert event["payload"]["status"] == "bounced" and event["payload"]["retryable"] is False
        # The next message to that address is refused before it reaches SMTP.
        async with pool.acquire() as tx, tx.transaction():
            await messages.queue(
                tx,
                Outgoing(
                    idempotency_key="bounce-2",
                    channel="email",
                    to="Gone@Example.com",  # addresses compare case-insensitively
                    subject="x",
                    body="y",
                ),
            )
        await send_ready(pool, local, providers, limiter)
        again = await pool.fetchrow(
            "SELECT status, reason FROM messages WHERE idempotency_key = 'bounce-2'"
        )
        assert again is not None
        assert again["status"] == "suppressed" and again["reason"] == "Email address bounced"
    finally:
        await redis.aclose()
        await providers.close()
        await pool.close()
        await drop_schema(settings, schema)
        controller.stop()


async def _queue_texts(pool, count: int, prefix: str = "text") -> None:
    """`count` texts queued, each to a number of its own."""
    from services.notifier.domain.outgoing import Outgoing
    from services.notifier.stores import messages

    async with pool.acquire() as tx, tx.transaction():
        for n in range(count):
            await messages.queue(
                tx,
                Outgoing(
                    idempotency_key=f"{prefix}-{n}",
                    channel="sms",
                    to=f"+1415555{n:04d}",
                    body="Please pay",
                ),
            )


async def test_texts_go_to_twilio_as_many_at_once_as_it_is_told(platform, twilio_api):
    """TWILIO_SEND_CONCURRENCY texts are in flight at once (Twilio takes many requests),
    whatever SEND_CONCURRENCY, the emails' bound (an SMTP server takes few connections)."""
    from redis.asyncio import Redis

    from services.notifier.sender import send_ready
    from shared.ratelimit import RateLimiter
    from tests.helpers import private_schema

    settings = _through_twilio(
        platform,
        twilio_api,
        twilio_send_concurrency=6,
        send_concurrency=1,
        sms_rate_per_second=1000,
    )
    twilio_api.script(Reply(201, _twilio_message(), delay_s=0.5))
    redis = Redis.from_url(settings.redis_url)
    providers = Providers(settings)
    try:
        async with private_schema(settings, "notifier", "services.notifier") as (_, pool):
            await _queue_texts(pool, 10)
            assert await send_ready(pool, settings, providers, RateLimiter(redis, 1)) == 10
            outcomes = await pool.fetch("SELECT status, reason FROM messages")
    finally:
        await providers.close()
        await redis.aclose()
    arrivals = sorted(request.at for request in twilio_api.seen)
    # Each answer takes 0.5 s: those that arrived before the first could be answered were
    # all in flight together.
    together = [at for at in arrivals if at < arrivals[0] + 0.4]
    assert {row["status"] for row in outcomes} == {"sent"}, outcomes
    assert len(arrivals) == 10 and len(together) == 6


async def test_a_pass_takes_four_rounds_of_its_channels_sends_in_flight(platform):
    """4 x TWILIO_SEND_CONCURRENCY texts a pass, so that claims and outcomes are written in
    wide groups (a pass is at least 50 messages: emails have few connections), but no more
    than the send rate lets out in 5 s, and never more than 1,000 (its memory is bounded)."""
    from redis.asyncio import Redis

    from services.notifier.sender import send_ready
    from shared.ratelimit import RateLimiter
    from tests.helpers import private_schema

    settings = _open_all_day(
        platform.settings_for(NotifierSettings),
        twilio_send_concurrency=20,
        sms_rate_per_second=100000,
    )
    redis = Redis.from_url(settings.redis_url)
    providers = Providers(settings)  # no Twilio account: texts go to the simulator
    try:
        async with private_schema(settings, "notifier", "services.notifier") as (_, pool):
            await _queue_texts(pool, 100)
            limiter = RateLimiter(redis, 1)
            assert await send_ready(pool, settings, providers, limiter, ("sms",)) == 80
            assert await send_ready(pool, settings, providers, limiter, ("sms",)) == 20
            # At 12 texts a second, a pass holds what goes out in 5 s (and at least 50): no
            # text leaves long after its checks.
            await _queue_texts(pool, 100, "slow")
            slow = settings.model_copy(update={"sms_rate_per_second": 12})
            assert await send_ready(pool, slow, providers, limiter, ("sms",)) == 60
            await _queue_texts(pool, 1100, "wide")
            wide = settings.model_copy(update={"twilio_send_concurrency": 400})
            assert await send_ready(pool, wide, providers, limiter, ("sms",)) == 1000
    finally:
        await providers.close()
        await redis.aclose()


async def test_a_channels_sends_keep_to_its_rate_with_permits_taken_a_round_at_a_time(platform):
    """20 texts a second, 50 queued: 20 go at once, 20 when the window has moved on a second,
    the last 10 a second later."""
    from redis.asyncio import Redis

    from services.notifier.sender import send_ready
    from shared.ratelimit import RateLimiter, window_key
    from tests.helpers import private_schema

    settings = _open_all_day(
        platform.settings_for(NotifierSettings),
        twilio_send_concurrency=20,
        sms_rate_per_second=20,
    )
    window = window_key(20, 1, "send-sms", "simulator")  # no Twilio account: the simulator
    redis = Redis.from_url(settings.redis_url)
    providers = Providers(settings)
    clock = asyncio.get_running_loop()
    try:
        await redis.delete(window)
        async with private_schema(settings, "notifier", "services.notifier") as (_, pool):
            await _queue_texts(pool, 50)
            started = clock.time()
            assert (
                await send_ready(pool, settings, providers, RateLimiter(redis, 1), ("sms",)) == 50
            )
            elapsed = clock.time() - started
            assert await pool.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'") == 50
    finally:
        await providers.close()
        await redis.aclose()
    assert elapsed >= 1.9


async def test_a_pass_tells_once_every_send_has_its_answer_before_the_outcomes_are_in(platform):
    """`answered` learns the pass's size as soon as every message is claimed and answered by
    its provider (none is `queued` any more): the outcomes may still be on their way (here
    held up by a lock on the outbox), and the pass returns once they are recorded."""
    from redis.asyncio import Redis

    from services.notifier.sender import send_ready
    from shared.ratelimit import RateLimiter
    from tests.helpers import private_schema

    settings = _open_all_day(
        platform.settings_for(NotifierSettings),
        twilio_send_concurrency=10,
        sms_rate_per_second=1000,
    )
    redis = Redis.from_url(settings.redis_url)
    providers = Providers(settings)  # the simulator
    try:
        async with private_schema(settings, "notifier", "services.notifier") as (_, pool):
            await _queue_texts(pool, 30)
            answered: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            async with pool.acquire() as blocker, blocker.transaction():
                await blocker.execute("LOCK TABLE outbox IN EXCLUSIVE MODE")
                sending = asyncio.create_task(
                    send_ready(
                        pool,
                        settings,
                        providers,
                        RateLimiter(redis, 1),
                        ("sms",),
                        answered=answered,
                    )
                )
                assert await asyncio.wait_for(answered, 10) == 30
                assert not sending.done()
                statuses = await blocker.fetch("SELECT DISTINCT status FROM messages")
                assert [row["status"] for row in statuses] == ["sending"]
            assert await asyncio.wait_for(sending, 10) == 30
            assert await pool.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'") == 30
    finally:
        await providers.close()
        await redis.aclose()


async def test_a_channel_begins_its_next_pass_while_the_last_records_its_outcomes(
    platform, twilio_api
):
    """A channel's loop takes its next pass as soon as the last one's sends have their answers;
    two passes at once share the channel's places in flight (here 5 to Twilio at most)."""
    from redis.asyncio import Redis

    from services.notifier.sender import run_forever
    from shared.ratelimit import RateLimiter
    from tests.helpers import private_schema

    settings = _through_twilio(
        platform,
        twilio_api,
        twilio_send_concurrency=5,  # a pass: 50 texts (4 rounds of 5 are fewer)
        sms_rate_per_second=1000,
    )
    answer_s = 0.05
    twilio_api.script(Reply(201, _twilio_message(), delay_s=answer_s))
    redis = Redis.from_url(settings.redis_url)
    try:
        async with private_schema(settings, "notifier", "services.notifier") as (_, pool):
            await _queue_texts(pool, 120)
            async with pool.acquire() as blocker, blocker.transaction():
                await blocker.execute("LOCK TABLE outbox IN EXCLUSIVE MODE")
                loops = asyncio.create_task(run_forever(pool, settings, RateLimiter(redis, 1)))
                claimed = 0
                for _ in range(200):  # the first pass's outcomes wait for the lock meanwhile
                    claimed = await blocker.fetchval(
                        "SELECT count(*) FROM messages WHERE status = 'sending'"
                    )
                    if claimed == 100:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)
                # Two passes answered; a third waits for the first to record its outcomes.
                assert claimed == 100
                assert (
                    await blocker.fetchval("SELECT count(*) FROM messages WHERE status = 'sending'")
                    == 100
                )
            for _ in range(200):
                if (
                    await pool.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'")
                    == 120
                ):
                    break
                await asyncio.sleep(0.05)
            loops.cancel()
            with pytest.raises(asyncio.CancelledError):
                await loops
            assert await pool.fetchval("SELECT count(*) FROM messages WHERE status = 'sent'") == 120
    finally:
        await redis.aclose()
    arrivals = sorted(request.at for request in twilio_api.seen)
    in_flight = max(
        sum(1 for other in arrivals if arrival <= other < arrival + answer_s * 0.8)
        for arrival in arrivals
    )
    assert len(arrivals) == 120 and in_flight <= 5
