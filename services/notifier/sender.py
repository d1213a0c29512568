"""The send loops: queued messages pass the guards, then go out once each.

Each channel has a loop of its own with at most SEND_CONCURRENCY sends in flight and a deadline
on every provider call, so a stalled SMTP server slows email and nothing else. A loop's next
pass begins once the last one's sends have their providers' answers, while it records them.
Event handlers only queue messages; no provider is ever called while an event is being handled.

A message is marked `sending` (committed) just before its provider call, so a crash can never
make it go out twice: a message left `sending` is settled as `unknown` ("outcome unknown"),
never resent. A provider that may have taken the message (it stalled or hung up after the data
went out, or an error we cannot place) also leaves it `unknown`: nobody sends it again under
any key, and a person decides. Deferred messages wait for their `send_after`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import asyncpg
from opentelemetry import trace

from services.notifier import events
from services.notifier.domain.guards import Facts, Policy, check
from services.notifier.providers import Providers, SendError
from services.notifier.settings import NotifierSettings
from services.notifier.stores import messages
from shared.clock import clock
from shared.db import DATABASE_ERRORS, Connection, PoolExhaustedError
from shared.events import Envelope
from shared.group_commit import GroupCommit
from shared.ratelimit import RateLimiter
from shared.tracing import continued

logger = logging.getLogger(__name__)

CHANNELS = ("email", "sms", "voice")
# Messages one pass of a channel's loop takes through the guards: at least this many, and
# enough for its sends in flight to go round a few times (PASS_ROUNDS), so that a pass's
# claims and outcomes are written in wide groups rather than its last round's few; but no more
# than its send rate lets out in PASS_SECONDS, so that no message goes out long after its
# checks (a call cleared just before the calling hours close); and never more than MAX_PASS,
# so that a pass's messages and sends in memory stay bounded however many may be in flight (at
# 1,024 texts in flight, passes of 4,096 took a notifier from 130 to 150 MiB).
MIN_PASS = 50
MAX_PASS = 1000
PASS_ROUNDS = 4
PASS_SECONDS = 5
INTERRUPTED = "outcome unknown after an interruption; not resent to avoid a duplicate"
# A pass that fails with these is tried again; the database is down or busy.
_PASS_FAILURES: tuple[type[Exception], ...] = (*DATABASE_ERRORS, PoolExhaustedError)


def policy(settings: NotifierSettings) -> Policy:
    return Policy(
        opens=settings.contact_window_start,
        closes=settings.contact_window_end,
        max_calls_per_week=settings.max_calls_per_debt_per_week,
        weekdays=settings.contact_weekdays,
        holidays=settings.contact_holiday_dates,
    )


async def _prepare(
    connection: Connection, settings: NotifierSettings, channels: Sequence[str]
) -> list[tuple[asyncpg.Record, str | None]]:
    """Run the guards over ready messages; returns those cleared to send, each with its
    normalised recipient (still `queued`: `_claim` marks each one as it goes out).

    Account email (a password reset) is not a collection message: it passes unguarded."""
    cleared: list[tuple[asyncpg.Record, str | None]] = []
    now = clock.now()
    size = min(_pass_size(settings, channel) for channel in channels)
    ready = await messages.take_ready(connection, size, now, channels)
    suppressed = await messages.suppressions_of(connection, [m["recipient"] for m in ready])
    for message in ready:
        if message["kind"] == "account":
            cleared.append((message, None))
            continue
        with continued(
            "message.guard", message["request_id"], message["traceparent"], trace.SpanKind.INTERNAL
        ):
            recipient = message["recipient"]
            consent, calls, conversation = (
                await messages.voice_facts(connection, recipient, message["payment_id"], now)
                if message["channel"] == "voice"
                else (False, 0, None)  # the guards ask them of calls only
            )
            verdict = check(
                Facts(
                    channel=message["channel"],
                    recipient=recipient,
                    timezone=message["timezone"],
                    now=now,
                    suppression=messages.suppression_from(
                        suppressed, message["channel"], recipient
                    ),
                    voice_consent=consent,
                    calls_last_7_days=calls,
                    last_conversation_at=conversation,
                ),
                policy(settings),
            )
            if verdict.action == "send":
                cleared.append((message, verdict.recipient))
            elif verdict.action == "defer":
                await messages.set_state(
                    connection,
                    message["id"],
                    "deferred",
                    reason=verdict.reason,
                    send_after=verdict.send_after,
                )
            else:
                status = "suppressed" if verdict.action == "suppress" else "failed"
                reason = verdict.reason or status
                await messages.set_state(
                    connection,
                    message["id"],
                    status,
                    reason=reason,
                    retryable=False,
                    refused=verdict.refused,
                )
                await events.publish(
                    connection,
                    events.message_failed(
                        message, status, reason, retryable=False, refused=verdict.refused
                    ),
                )
    return cleared


def _rate_of(settings: NotifierSettings, channel: str) -> int:
    """The channel's sends per second."""
    return {"sms": settings.sms_rate_per_second, "voice": settings.voice_rate_per_second}.get(
        channel, settings.email_rate_per_second
    )


class _Permits:
    """A pass's permits to send on one channel, taken from the channel's shared rate window
    (Redis) a round of sends at a time: one call for up to SEND_CONCURRENCY sends, not one per
    send, and never more than the pass still has to send. The sends of a round then go
    together, so their claims and outcomes are written in wide groups; a place is counted in
    the window when it is taken, at most one send's time before it is used."""

    def __init__(
        self, limiter: RateLimiter, settings: NotifierSettings, channel: str, sends: int
    ) -> None:
        self.limiter = limiter
        self.rate = _rate_of(settings, channel)
        self.scope = f"send-{channel}"
        self.sender = (
            settings.smtp_from
            if channel == "email"
            else (settings.twilio_from_number or "simulator")
        )
        self.round = _concurrency(settings, channel)
        self.unasked = sends  # sends of the pass no permit was taken for yet
        self.ready = 0
        self._taking = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait for a permit (at once while the window has room)."""
        async with self._taking:
            while not self.ready:
                wanted = max(1, min(self.unasked, self.round))
                taken = await self.limiter.take(self.rate, self.scope, self.sender, wanted)
                if taken is None:
                    taken = wanted  # Redis unreachable: the limit fails open
                self.ready += taken
                self.unasked -= taken
                if not taken:
                    await asyncio.sleep(0.05)
            self.ready -= 1


async def _call_provider(
    providers: Providers, settings: NotifierSettings, message: asyncpg.Record
) -> SendError | tuple[str, bool]:
    """The provider's answer: its message id and whether it was simulated, or the failure.

    Anything we cannot place (a timeout of the overall deadline, an unexpected error) may have
    happened after the provider took the message: unknown, never retried."""
    try:
        async with asyncio.timeout(settings.send_deadline_s):
            sent = await providers.send(
                message["channel"],
                message["recipient"],
                message["subject"],
                message["body"],
                message["idempotency_key"],
                html=message["html"],
                collection=message["kind"] == "collection",
            )
    except SendError as error:
        return error
    except TimeoutError:
        return SendError(
            f"no answer from the provider within {settings.send_deadline_s:g} s; the message "
            "may have been sent, so it is not sent again",
            retryable=False,
            unknown=True,
        )
    except Exception as failure:
        return SendError(f"provider error: {failure!r}", retryable=False, unknown=True)
    return sent.provider_id, sent.simulated


@dataclass(frozen=True)
class _Outcome:
    """A provider's answer about a claimed message, and the event that tells it (made in the
    send's trace)."""

    message: asyncpg.Record
    answer: SendError | tuple[str, bool]
    told: Envelope


class _Pass:
    """A pass's sends: their claims and outcomes, each written together with those of the
    pass's other sends under way (group commit: a transaction per burst, not two per
    message); whether a stop is draining them; and how many still wait for their provider's
    answer (`answered` learns the pass's size once none does)."""

    def __init__(
        self, pool: asyncpg.Pool, sends: int, answered: asyncio.Future[int] | None
    ) -> None:
        self.pool = pool
        self.claims = GroupCommit(partial(messages.claim_for_sending, pool))
        self.outcomes: GroupCommit[_Outcome, None] = GroupCommit(self._record)
        self.draining = asyncio.Event()
        self.size = sends
        self._unanswered = sends
        self._answered = answered

    def answer_came(self) -> None:
        """One send was answered by its provider (or will never be: skipped, failed)."""
        self._unanswered -= 1
        if not self._unanswered and self._answered is not None:
            self._answered.set_result(self.size)

    async def _record(self, outcomes: list[_Outcome]) -> list[None]:
        async with self.pool.acquire() as connection, connection.transaction():
            sent: list[tuple[uuid.UUID, str | None, bool]] = []
            for outcome in outcomes:
                fresh, answer = outcome.message, outcome.answer
                if not isinstance(answer, SendError):
                    sent.append((fresh["id"], *answer))
                    continue
                if answer.bounced:
                    await messages.suppress(
                        connection, "email", fresh["recipient"], "bounce", answer.reason
                    )
                await messages.set_state(
                    connection,
                    fresh["id"],
                    _failed_status(answer),
                    reason=answer.reason,
                    retryable=answer.retryable,
                    refused=answer.refused,
                )
            await messages.mark_sent(connection, sent)
            await events.publish(connection, *(outcome.told for outcome in outcomes))
        return [None] * len(outcomes)


def _failed_status(answer: SendError) -> str:
    return "unknown" if answer.unknown else "bounced" if answer.bounced else "failed"


@dataclass(frozen=True)
class _Channel:
    """A channel's place in a pass: its sends in flight (`gate`) and its rate permits."""

    gate: asyncio.Semaphore
    permits: _Permits


async def _send_one(
    sends: _Pass,
    settings: NotifierSettings,
    providers: Providers,
    channel: _Channel,
    message: asyncpg.Record,
    recipient: str | None,
) -> None:
    """Claim, send and record one message. Its place in flight is held from the claim to the
    provider's answer: the next send need not wait for this one's outcome to be written."""
    with continued(
        "message.send", message["request_id"], message["traceparent"], trace.SpanKind.CLIENT
    ):
        try:
            async with channel.gate:
                if sends.draining.is_set():
                    return  # still `queued`: the next start sends it
                await channel.permits.acquire()
                fresh = await sends.claims.submit((message["id"], recipient))
                if fresh is None:
                    return
                answer = await _call_provider(providers, settings, fresh)
        finally:
            sends.answer_came()
        if isinstance(answer, SendError):
            told = events.message_failed(
                fresh,
                _failed_status(answer),
                answer.reason,
                retryable=answer.retryable,
                unknown=answer.unknown,
                refused=answer.refused,
            )
        else:
            provider_id, simulated = answer
            told = events.message_sent(fresh, provider_id, simulated)
        await sends.outcomes.submit(_Outcome(fresh, answer, told))
        if isinstance(answer, SendError):
            logger.warning(
                "send failed", extra={"message_id": str(fresh["id"]), "reason": answer.reason}
            )


async def send_ready(
    pool: asyncpg.Pool,
    settings: NotifierSettings,
    providers: Providers,
    limiter: RateLimiter,
    channels: Sequence[str] = CHANNELS,
    *,
    gates: Mapping[str, asyncio.Semaphore] | None = None,
    answered: asyncio.Future[int] | None = None,
) -> int:
    """One pass: guard a pass's worth of ready messages, then send the cleared ones, at most
    SEND_CONCURRENCY emails and TWILIO_SEND_CONCURRENCY texts (and calls) at a time; returns
    how many were taken, once every outcome is recorded.

    `gates`, when given, are the places in flight of a channel loop, shared by its passes.
    `answered`, when given, learns how many were taken as soon as every cleared message has
    had its provider's answer: none of them is `queued` any more, so the next pass may take
    its own while this one records its outcomes. (A pass that clears nothing, or fails before
    it sends, only returns.)

    A stop during the pass lets the sends already under way finish and be recorded (for at
    most SHUTDOWN_DRAIN_S) and starts no other: a clean stop leaves nothing `unknown`."""
    async with pool.acquire() as connection, connection.transaction():
        cleared = await _prepare(connection, settings, channels)
    places = {
        channel: _Channel(
            gates[channel] if gates else asyncio.Semaphore(_concurrency(settings, channel)),
            _Permits(
                limiter, settings, channel, sum(1 for m, _ in cleared if m["channel"] == channel)
            ),
        )
        for channel in channels
    }
    sends = _Pass(pool, len(cleared), answered)

    async def send(message: asyncpg.Record, recipient: str | None) -> None:
        try:
            await _send_one(
                sends, settings, providers, places[message["channel"]], message, recipient
            )
        except Exception:
            # Its outcome is not recorded: a claimed message stays `sending` and is settled
            # `unknown` later, never sent twice. The pass goes on.
            logger.exception("send not recorded", extra={"message_id": str(message["id"])})

    everything = asyncio.gather(*(send(message, recipient) for message, recipient in cleared))
    try:
        await asyncio.shield(everything)
    except asyncio.CancelledError:
        sends.draining.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.shutdown_drain_s):
                await asyncio.shield(everything)
        raise
    return len(cleared)


def _pass_size(settings: NotifierSettings, channel: str) -> int:
    wide = min(
        PASS_ROUNDS * _concurrency(settings, channel), PASS_SECONDS * _rate_of(settings, channel)
    )
    return min(MAX_PASS, max(MIN_PASS, wide))


def _concurrency(settings: NotifierSettings, channel: str) -> int:
    """Sends in flight on a channel: an SMTP server takes a few connections, Twilio's API many
    requests (each in-flight send also widens the claims and outcomes written together)."""
    return settings.send_concurrency if channel == "email" else settings.twilio_send_concurrency


async def settle_interrupted(pool: asyncpg.Pool, settings: NotifierSettings) -> None:
    """Messages left `sending` by a crash: reported unknown, never resent (a duplicate is
    worse). A live send is never older than its deadline, so the bound is safe."""
    async with pool.acquire() as connection, connection.transaction():
        rows = await messages.lock_stuck_sending(connection, settings.sending_settle_after_s)
        for row in rows:
            await messages.set_state(
                connection, row["id"], "unknown", reason=INTERRUPTED, retryable=False, refused=False
            )
            await events.publish(
                connection,
                events.message_failed(row, "unknown", INTERRUPTED, retryable=False, unknown=True),
            )


async def _channel_loop(
    pool: asyncpg.Pool,
    settings: NotifierSettings,
    providers: Providers,
    limiter: RateLimiter,
    channel: str,
) -> None:
    """Passes one after another, each begun as soon as the one before has had all its
    provider answers (it records its outcomes meanwhile): at most two at once, sharing the
    channel's places in flight."""
    gates = {channel: asyncio.Semaphore(_concurrency(settings, channel))}
    passes: list[asyncio.Task[int]] = []  # the one recording its outcomes, the one sending
    try:
        while True:
            answered: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            passes.append(
                asyncio.create_task(
                    _pass(pool, settings, providers, limiter, channel, gates, answered)
                )
            )
            await asyncio.wait({passes[-1], answered}, return_when=asyncio.FIRST_COMPLETED)
            if len(passes) == 2:
                await passes[0]  # still listed meanwhile: a stop lets it finish recording
                passes.pop(0)
            # A pass that cleared nothing, or failed before its sends, has only returned.
            taken = answered.result() if answered.done() else await passes[-1]
            if taken < _pass_size(settings, channel):
                await asyncio.sleep(0.2)
    finally:
        # A stop: each pass lets its sends under way finish and be recorded.
        for running in passes:
            running.cancel()
        await asyncio.gather(*passes, return_exceptions=True)


async def _pass(
    pool: asyncpg.Pool,
    settings: NotifierSettings,
    providers: Providers,
    limiter: RateLimiter,
    channel: str,
    gates: Mapping[str, asyncio.Semaphore],
    answered: asyncio.Future[int],
) -> int:
    """One pass of a channel's loop; a failure is logged and the loop goes on (0 taken)."""
    try:
        return await send_ready(
            pool, settings, providers, limiter, (channel,), gates=gates, answered=answered
        )
    except _PASS_FAILURES as error:
        logger.warning(
            "send loop failed; will retry", extra={"channel": channel, "error": repr(error)}
        )
    except Exception:
        # This channel's pass alone: the other channels' loops go on.
        logger.exception("send loop crashed; will retry", extra={"channel": channel})
    return 0


async def _settle_loop(pool: asyncpg.Pool, settings: NotifierSettings) -> None:
    while True:
        try:
            await settle_interrupted(pool, settings)
        except DATABASE_ERRORS as error:
            logger.warning("settling interrupted sends failed", extra={"error": repr(error)})
        await asyncio.sleep(5)


async def run_forever(pool: asyncpg.Pool, settings: NotifierSettings, limiter: RateLimiter) -> None:
    """A loop per channel, and one that settles sends a crash interrupted."""
    providers = Providers(settings)
    try:
        async with asyncio.TaskGroup() as loops:
            loops.create_task(_settle_loop(pool, settings))
            for channel in CHANNELS:
                loops.create_task(_channel_loop(pool, settings, providers, limiter, channel))
    finally:
        await providers.close()
