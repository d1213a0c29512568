"""Kafka figures for the diagnostics: consumer lag per group and messages per dead-letter topic.

The arithmetic (`topic_lag`, `dead_letter_counts`) is pure; `read_broker` does the I/O. Both
work on Apache Kafka and on the embedded Tansu broker, which differs in two ways that matter
here (docs/architecture.md, "Diagnostics"):

- Tansu under-reports a partition's end offset when its last batch held several records
  (it answers the batch's base offset + 1). So the end offsets are not taken on trust: the
  tail of every non-empty partition is read, and the end is the offset after the last record
  seen (or the reported one, if higher).
- Tansu answers committed offsets only for partitions named explicitly, lists only the groups
  that have committed an offset, and sends no member metadata, so a group's subscriptions are
  unknown there. Committed offsets are asked for every partition of every topic; the
  services' own groups are looked up by name, with the topics the event catalogue says they
  consume; and a partition a group never committed on counts from its beginning when the
  group's topics are known (from the broker, as Apache Kafka names them, or the catalogue).

Besides how many events wait, the age of the oldest one: the timestamp of the record at each
lagging partition's committed offset (where the group would read next).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

from shared.events import is_dead_letter_topic
from shared.kafka import client_options
from shared.settings import ServiceSettings


@dataclass(frozen=True)
class PartitionOffsets:
    """Where each partition starts and ends, with the end checked against the partition."""

    begin: dict[TopicPartition, int]
    end: dict[TopicPartition, int]
    under_reported: int  # partitions whose reported end was lower than their real end


@dataclass(frozen=True)
class GroupOffsets:
    group: str
    state: str
    members: int
    committed: dict[TopicPartition, int]  # only partitions with a committed offset
    subscriptions: frozenset[str] | None  # None when the broker does not say


def next_offsets(group: GroupOffsets, offsets: PartitionOffsets) -> dict[TopicPartition, int]:
    """Where the group reads next in each partition it consumes and is behind on.

    A subscribed partition without a commit counts from its beginning, where the consumers
    (`auto_offset_reset="earliest"`) would start."""
    behind: dict[TopicPartition, int] = {}
    for tp, end in offsets.end.items():
        committed = group.committed.get(tp)
        if committed is None:
            if group.subscriptions is None or tp.topic not in group.subscriptions:
                continue
            committed = offsets.begin.get(tp, 0)
        if end > committed:
            behind[tp] = committed
    return behind


def topic_lag(group: GroupOffsets, offsets: PartitionOffsets) -> dict[str, int]:
    """Messages each topic's partitions hold beyond the group's committed offsets."""
    lag: dict[str, int] = {}
    for tp, committed in next_offsets(group, offsets).items():
        lag[tp.topic] = lag.get(tp.topic, 0) + offsets.end[tp] - committed
    return dict(sorted(lag.items()))


async def oldest_waiting(
    reader: AIOKafkaConsumer, positions: Collection[tuple[TopicPartition, int]]
) -> dict[tuple[TopicPartition, int], float]:
    """The broker timestamp (epoch seconds) of the record at each (partition, offset)."""
    found: dict[tuple[TopicPartition, int], float] = {}
    partitions = sorted({tp for tp, _ in positions})
    if not partitions:
        return found
    reader.assign(partitions)
    for tp, offset in sorted(positions):
        reader.seek(tp, offset)
        records = (await reader.getmany(tp, timeout_ms=1000, max_records=1)).get(tp, [])
        if records:
            found[(tp, offset)] = records[0].timestamp / 1000
    return found


def dead_letter_counts(offsets: PartitionOffsets) -> dict[str, int]:
    """Messages kept in each `<topic>.dlq` (end minus beginning, summed over partitions)."""
    counts: dict[str, int] = {}
    for tp, end in offsets.end.items():
        if is_dead_letter_topic(tp.topic):
            counts[tp.topic] = counts.get(tp.topic, 0) + end - offsets.begin.get(tp, 0)
    return dict(sorted(counts.items()))


def _subscriptions(members: list[Any]) -> frozenset[str] | None:
    topics: set[str] = set()
    for member in members:
        metadata = member[3]
        if not metadata:
            return None
        topics.update(ConsumerProtocolMemberMetadata.decode(metadata).subscription)
    return frozenset(topics) if members else None


def new_reader(settings: ServiceSettings) -> AIOKafkaConsumer:
    """A consumer outside any group: it reads, never commits, and moves no one's offsets."""
    return AIOKafkaConsumer(
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        **client_options(settings),
    )


@contextlib.asynccontextmanager
async def reading(settings: ServiceSettings) -> AsyncIterator[AIOKafkaConsumer]:
    """A started reader (`new_reader`), stopped afterwards, also when it could not start: a
    broker that is down leaves no client half-open behind."""
    reader = new_reader(settings)
    try:
        await reader.start()
        yield reader
    finally:
        await reader.stop()


async def dead_letters_kept(
    settings: ServiceSettings, dead_letter_topics: set[str]
) -> dict[str, int]:
    """Messages kept in each of these dead-letter topics that holds any."""
    async with reading(settings) as reader:
        partitions = await partitions_of(reader, dead_letter_topics)
        offsets = await partition_offsets(reader, partitions)
    return dead_letter_counts(offsets)


async def partitions_of(reader: AIOKafkaConsumer, topics: set[str] | None = None) -> list[Any]:
    """Every partition of `topics` (default: every topic but the broker's own `__…` ones)."""
    known = await reader.topics()
    wanted = {t for t in known if not t.startswith("_")} if topics is None else topics & known
    return [
        TopicPartition(topic, partition)
        for topic in sorted(wanted)
        for partition in sorted(reader.partitions_for_topic(topic) or ())
    ]


async def read_until_end(
    reader: AIOKafkaConsumer,
    starts: dict[TopicPartition, int],
    reported_end: dict[TopicPartition, int],
    *,
    keep: Callable[[ConsumerRecord[bytes, bytes]], None] | None = None,
    deadline_s: float = 10.0,
) -> dict[TopicPartition, int]:
    """Read each partition from `starts` past its reported end; returns the end offsets seen.

    Reading stops once every partition has passed its reported end. The batch holding the
    record before the reported end runs to the partition's real end (as it was when the ends
    were asked for), so this also finds the ends Tansu under-reports. Records are taken a
    whole fetch at a time (no `max_records`), so that batch is never cut in two.
    """
    reader.assign(list(starts))
    position = dict(starts)
    for tp, offset in starts.items():
        reader.seek(tp, offset)
    ends = dict(reported_end)
    stop_at = time.monotonic() + deadline_s

    def behind() -> bool:
        return any(position[tp] < reported_end.get(tp, 0) for tp in starts)

    while behind() and time.monotonic() < stop_at:
        batch = await reader.getmany(timeout_ms=500)
        for tp, records in batch.items():
            for record in records:
                position[tp] = record.offset + 1
                ends[tp] = max(ends.get(tp, 0), record.offset + 1)
                if keep is not None:
                    keep(record)
    return ends


async def partition_offsets(
    reader: AIOKafkaConsumer, partitions: list[Any], deadline_s: float = 10.0
) -> PartitionOffsets:
    if not partitions:
        return PartitionOffsets({}, {}, 0)
    begin = await reader.beginning_offsets(partitions)
    reported = await reader.end_offsets(partitions)
    # One record before the reported end, so that every non-empty partition is fetched.
    starts = {tp: max(reported[tp] - 1, begin[tp]) for tp in partitions}
    ends = await read_until_end(reader, starts, reported, deadline_s=deadline_s)
    under = sum(1 for tp in partitions if ends[tp] > reported[tp])
    return PartitionOffsets(dict(begin), ends, under)


async def _describe(admin: AIOKafkaAdminClient, group: str) -> tuple[str, list[Any]]:
    """The group's state and members; one group per request (Tansu garbles longer answers)."""
    for response in await admin.describe_consumer_groups([group]):
        for error, name, state, _ptype, _protocol, members, *_ in response.groups:
            if error == 0 and name == group:
                return str(state), list(members)
    return "Unknown", []


async def group_offsets(
    admin: AIOKafkaAdminClient,
    partitions: list[Any],
    expected: Mapping[str, Collection[str]] | None = None,
) -> list[GroupOffsets]:
    """Every group the broker lists, plus the `expected` ones (group → the topics it consumes)
    it knows by name.

    Tansu lists only groups that have committed an offset, so a service's group that has not
    consumed anything yet is looked up by its name; and it names no group's topics, so the
    expected groups' topics come from `expected` then.
    """
    expected = expected or {}
    listed = {group for group, _protocol in await admin.list_consumer_groups()}
    found = []
    for group in sorted(listed | set(expected)):
        state, members = await _describe(admin, group)
        committed = {
            tp: meta.offset
            for tp, meta in (
                await admin.list_consumer_group_offsets(group, partitions=partitions)
            ).items()
            if meta.offset >= 0
        }
        if group not in listed and not members and not committed:
            continue  # no such group (yet)
        subscriptions = _subscriptions(members)
        if subscriptions is None and group in expected:
            subscriptions = frozenset(expected[group])
        found.append(GroupOffsets(group, state, len(members), committed, subscriptions))
    return found


@dataclass(frozen=True)
class BrokerReading:
    offsets: PartitionOffsets
    groups: list[GroupOffsets]
    # The timestamp of the next record each group would read, per (partition, offset).
    next_record_at: dict[tuple[TopicPartition, int], float]

    def waiting(self, group: GroupOffsets, now: float) -> dict[str, dict[str, Any]]:
        """Per topic the group is behind on: events waiting, and the oldest one's age."""
        topics: dict[str, dict[str, Any]] = {}
        for tp, committed in next_offsets(group, self.offsets).items():
            entry = topics.setdefault(tp.topic, {"waiting": 0, "oldestAgeS": None})
            entry["waiting"] += self.offsets.end[tp] - committed
            stamped = self.next_record_at.get((tp, committed))
            if stamped is not None:
                age = round(max(now - stamped, 0.0), 1)
                entry["oldestAgeS"] = max(entry["oldestAgeS"] or 0.0, age)
        return dict(sorted(topics.items()))


async def read_broker(
    settings: ServiceSettings, expected_groups: Mapping[str, Collection[str]] | None = None
) -> BrokerReading:
    """Offsets of every partition, every consumer group's commits, and the timestamps of the
    records the groups would read next."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    async with reading(settings) as reader:
        try:
            await admin.start()
            partitions = await partitions_of(reader)
            offsets, groups = await asyncio.gather(
                partition_offsets(reader, partitions),
                group_offsets(admin, partitions, expected_groups),
            )
            positions = {
                (tp, committed)
                for group in groups
                for tp, committed in next_offsets(group, offsets).items()
            }
            stamps = await oldest_waiting(reader, positions)
        finally:
            await admin.close()
    return BrokerReading(offsets, groups, stamps)
