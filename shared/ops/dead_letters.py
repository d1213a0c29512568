"""Dead letters: list what a `<topic>.dlq` topic holds, and replay messages to their topic.

A consumer dead-letters an event after its retries (shared/consumer.py): the message goes to
`<topic>.dlq` unchanged, with the headers `x-dlq-error`, `x-dlq-consumer` and
`x-dlq-original-topic`. Its handler's transaction rolled back, so the consumer never recorded
the event in `processed_events`.

A replay republishes the same bytes (same envelope, same event id, same key) to the original
topic. The consumer that failed handles it as new; any other group of that topic that handled
it already skips it as a duplicate by its event id. Each replay is recorded in
`auth.dead_letter_replays`, keyed by the dead letter's topic, partition, offset and event id,
in the same transaction that publishes it, so a dead letter is replayed once: replaying "all"
again skips it. If the event fails again it comes back as a new dead letter, at a new offset,
which can be replayed in turn.

Parsing the messages and deciding what may be replayed is pure; `read` and `replay` do I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import ConsumerRecord
from pydantic import ValidationError

from shared.db import Connection
from shared.events import (
    HEADER_DLQ_CONSUMER,
    HEADER_DLQ_ERROR,
    HEADER_DLQ_ORIGINAL_TOPIC,
    Envelope,
    is_dead_letter_topic,
)
from shared.kafka import PublishRaw
from shared.ops.broker_stats import partitions_of, read_until_end, reading
from shared.settings import ServiceSettings
from shared.topics import all_topics

HEADER_REPLAYED_FROM = "x-replayed-from"


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    raw_key: bytes | None  # replayed as it came
    headers: dict[str, str]
    value: bytes
    envelope: Envelope | None  # None when the message is not a valid event envelope

    @property
    def original_topic(self) -> str | None:
        return self.headers.get(HEADER_DLQ_ORIGINAL_TOPIC)

    @property
    def key(self) -> str | None:
        return self.raw_key.decode("utf-8", errors="replace") if self.raw_key is not None else None

    @property
    def position(self) -> tuple[int, int]:
        return self.partition, self.offset

    def as_json(self, replayed_at: datetime | None) -> dict[str, Any]:
        """The dead letter as the operators' tools show it, secrets redacted (a password-reset
        link's token, passwords, tokens): a listing is pasted into tickets and chats."""
        envelope = self.envelope
        shown = {
            "partition": self.partition,
            "offset": self.offset,
            "deadLetteredAt": self.timestamp.isoformat(),
            "key": self.key,
            "error": self.headers.get(HEADER_DLQ_ERROR),
            "consumer": self.headers.get(HEADER_DLQ_CONSUMER),
            "originalTopic": self.original_topic,
            "replayedFrom": self.headers.get(HEADER_REPLAYED_FROM),
            "eventId": str(envelope.event_id) if envelope else None,
            "eventType": envelope.type if envelope else None,
            "requestId": envelope.request_id if envelope else None,
            "payload": envelope.payload if envelope else None,
            "raw": None if envelope else self.value.decode("utf-8", errors="replace"),
            "replayedAt": replayed_at.isoformat() if replayed_at else None,
        }
        return {key: redacted(value) for key, value in shown.items()}


REDACTED = "[redacted]"
# Fields whose whole value is a secret, by name (any case, any of our spellings).
_SECRET_FIELDS = re.compile(r"password|secret|token|authorization|api_?key", re.IGNORECASE)
# A secret carried inside a text: a link's token parameter, a bearer token.
_SECRET_IN_TEXT = re.compile(
    r"(?P<lead>[?&#;](?:token|reset_token|code|signature)=|Bearer\s+)[^&#\s\"'<>]+",
    re.IGNORECASE,
)


# A secret field inside JSON kept as text (a dead letter that is not a valid event).
_SECRET_FIELD_IN_TEXT = re.compile(
    r'(?P<lead>"[^"]*(?:password|secret|token|authorization|api_?key)[^"]*"\s*:\s*")'
    r'(?:[^"\\]|\\.)*"',
    re.IGNORECASE,
)


def redacted(value: Any) -> Any:
    """`value` with its secrets replaced by [redacted], whatever its nesting."""
    if isinstance(value, dict):
        return {
            key: REDACTED
            if _SECRET_FIELDS.search(str(key)) and isinstance(value[key], str)
            else redacted(value[key])
            for key in value
        }
    if isinstance(value, list):
        return [redacted(item) for item in value]
    if isinstance(value, str):
        value = _SECRET_FIELD_IN_TEXT.sub(lambda found: found["lead"] + REDACTED + '"', value)
        return _SECRET_IN_TEXT.sub(lambda found: found["lead"] + REDACTED, value)
    return value


def decode(
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int,
    key: bytes | None,
    value: bytes | None,
    headers: Collection[tuple[str, bytes]],
) -> DeadLetter:
    body = value or b""
    try:
        envelope: Envelope | None = Envelope.model_validate_json(body)
    except ValidationError:
        envelope = None
    return DeadLetter(
        topic,
        partition,
        offset,
        datetime.fromtimestamp(timestamp_ms / 1000, UTC),
        key,
        {name: raw.decode("utf-8", errors="replace") for name, raw in headers},
        body,
        envelope,
    )


def replay_headers(letter: DeadLetter) -> dict[str, str]:
    """The message's own headers (request ID, trace context), without the dead-letter ones."""
    headers = {
        name: value
        for name, value in letter.headers.items()
        if name
        not in (
            HEADER_DLQ_ERROR,
            HEADER_DLQ_CONSUMER,
            HEADER_DLQ_ORIGINAL_TOPIC,
            HEADER_REPLAYED_FROM,
        )
    }
    headers[HEADER_REPLAYED_FROM] = f"{letter.topic}/{letter.partition}/{letter.offset}"
    return headers


def refusal(letter: DeadLetter, known_topics: Collection[str]) -> str | None:
    """Why a dead letter cannot be replayed, or None when it can."""
    if letter.envelope is None:
        return "not a valid event envelope: replaying it would dead-letter it again"
    if letter.original_topic is None:
        return f"no {HEADER_DLQ_ORIGINAL_TOPIC} header"
    if letter.original_topic not in known_topics:
        return f"original topic {letter.original_topic!r} is not a topic of the platform"
    return None


@dataclass
class ReplayOutcome:
    replayed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def skip(self, partition: int, offset: int, reason: str) -> None:
        self.skipped.append({"partition": partition, "offset": offset, "reason": reason})

    def as_json(self) -> dict[str, Any]:
        return {"replayed": self.replayed, "skipped": self.skipped}


def topics() -> set[str]:
    """Every dead-letter topic of the platform's event catalogue."""
    return {topic for topic in all_topics() if is_dead_letter_topic(topic)}


def is_known(topic: str) -> bool:
    """Whether `topic` is one of the platform's dead-letter topics (`<event type>.dlq`)."""
    return is_dead_letter_topic(topic) and topic in all_topics()


def chosen(
    letters: list[DeadLetter], wanted: Collection[tuple[int, int]], topic: str
) -> tuple[list[DeadLetter], ReplayOutcome]:
    """The letters of `topic` at the `wanted` (partition, offset) positions, in the order asked
    for; and an outcome that already skips each position the topic does not hold."""
    by_position = {letter.position: letter for letter in letters}
    outcome = ReplayOutcome()
    for partition, offset in wanted:
        if (partition, offset) not in by_position:
            outcome.skip(partition, offset, f"no such message in {topic}")
    return [by_position[p] for p in wanted if p in by_position], outcome


def listed(
    letters: list[DeadLetter], done: dict[tuple[int, int, str], datetime]
) -> list[dict[str, Any]]:
    """The letters as the operators' tools show them, each with when it was replayed."""
    return [letter.as_json(replayed_at(letter, done)) for letter in letters]


async def read(
    settings: ServiceSettings, topic: str, max_messages: int = 10_000
) -> list[DeadLetter]:
    """Every message `topic` keeps (at most `max_messages`), oldest first by partition."""
    found: list[DeadLetter] = []

    def keep(record: ConsumerRecord[bytes, bytes]) -> None:
        if len(found) < max_messages:
            found.append(
                decode(
                    record.topic,
                    record.partition,
                    record.offset,
                    record.timestamp,
                    record.key,
                    record.value,
                    record.headers,
                )
            )

    async with reading(settings) as reader:
        partitions = await partitions_of(reader, {topic})
        if partitions:
            begin = await reader.beginning_offsets(partitions)
            end = await reader.end_offsets(partitions)
            await read_until_end(reader, dict(begin), dict(end), keep=keep)
    return sorted(found, key=lambda letter: (letter.timestamp, letter.partition, letter.offset))


async def replays(connection: Connection, topic: str) -> dict[tuple[int, int, str], datetime]:
    """When each dead letter of `topic` was replayed, by (partition, offset, event id)."""
    rows = await connection.fetch(
        "SELECT dlq_partition, dlq_offset, event_id, replayed_at FROM auth.dead_letter_replays "
        "WHERE dlq_topic = $1",
        topic,
    )
    return {
        (row["dlq_partition"], row["dlq_offset"], str(row["event_id"])): row["replayed_at"]
        for row in rows
    }


def replayed_at(letter: DeadLetter, done: dict[tuple[int, int, str], datetime]) -> datetime | None:
    if letter.envelope is None:
        return None
    return done.get((letter.partition, letter.offset, str(letter.envelope.event_id)))


async def replayed_counts(connection: Connection) -> dict[str, int]:
    rows = await connection.fetch(
        "SELECT dlq_topic, count(*) FROM auth.dead_letter_replays GROUP BY dlq_topic"
    )
    return {row["dlq_topic"]: row["count"] for row in rows}


async def replay(
    connection: Connection,
    letters: list[DeadLetter],
    publish: PublishRaw,
    known_topics: Collection[str],
    replayed_by: str,
    request_id: str | None = None,
) -> ReplayOutcome:
    """Republish each replayable letter once, recording it in the same transaction."""
    outcome = ReplayOutcome()
    failure: str | None = None  # after one failure, the rest are not attempted
    for letter in letters:
        reason = failure or refusal(letter, known_topics)
        if reason is not None:
            outcome.skip(letter.partition, letter.offset, reason)
            continue
        assert letter.envelope is not None and letter.original_topic is not None
        try:
            async with connection.transaction():
                first = await connection.fetchval(
                    "INSERT INTO auth.dead_letter_replays (dlq_topic, dlq_partition, dlq_offset, "
                    "original_topic, event_id, consumer, replayed_by, request_id) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING "
                    "RETURNING true",
                    letter.topic,
                    letter.partition,
                    letter.offset,
                    letter.original_topic,
                    letter.envelope.event_id,
                    letter.headers.get(HEADER_DLQ_CONSUMER),
                    replayed_by,
                    request_id,
                )
                if not first:
                    when = await connection.fetchval(
                        "SELECT replayed_at FROM auth.dead_letter_replays WHERE dlq_topic = $1 "
                        "AND dlq_partition = $2 AND dlq_offset = $3 AND event_id = $4",
                        letter.topic,
                        letter.partition,
                        letter.offset,
                        letter.envelope.event_id,
                    )
                    outcome.skip(
                        letter.partition, letter.offset, f"already replayed at {when.isoformat()}"
                    )
                    continue
                await publish(
                    letter.original_topic, letter.raw_key, letter.value, replay_headers(letter)
                )
        except Exception as error:  # e.g. the broker refused: the record rolled back with it
            failure = f"not replayed: {error!r}"
            outcome.skip(letter.partition, letter.offset, failure)
            continue
        outcome.replayed.append(
            {
                "partition": letter.partition,
                "offset": letter.offset,
                "eventId": str(letter.envelope.event_id),
                "originalTopic": letter.original_topic,
            }
        )
    return outcome
