"""The operators' commands of `remit`: `trace`, `logs`, `diagnose`, `dlq` and `cache`.

They reach a running platform: with no variables set, they find the one `remit up` runs on
this machine (shared/devstack/discovery.py; `remit` adopts it before running them)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from shared.errors import ConfigurationError
from shared.kafka import client_options
from shared.ops.log_reader import LEVELS
from shared.settings import SERVICE_NAMES, DatabaseSettings, ServiceSettings, load_settings

NAMES = ("trace", "logs", "diagnose", "dlq", "cache")


def cmd_trace(args: argparse.Namespace) -> int:
    from pathlib import Path

    from shared.db import DATABASE_ERRORS
    from shared.devstack import discovery
    from shared.ops.trace import from_database, from_logs, render, service_log_lines

    notes = []
    steps = []
    try:
        settings = load_settings(DatabaseSettings)
        steps = asyncio.run(from_database(settings.database_url, args.request_id))
    except ConfigurationError as error:
        notes.append(f"database: not configured ({error}): events, tasks and messages not shown")
    except DATABASE_ERRORS as error:
        notes.append(f"database: unavailable: {error!r} (events, tasks and messages not shown)")
    running = discovery.find()
    logs = args.logs or (running.log_dir if running else discovery.state_dir() / "logs")
    lines = sys.stdin if logs == "-" else service_log_lines(Path(logs))
    steps += from_logs(lines, args.request_id)
    print(render(steps, notes))
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def cmd_logs(args: argparse.Namespace) -> int:
    from collections import deque
    from pathlib import Path

    from shared.devstack import discovery
    from shared.ops.log_reader import LogFilter, files, merged

    running = discovery.find()
    log_dir = Path(args.logs or (running.log_dir if running else discovery.state_dir() / "logs"))
    sources = files(log_dir)
    if not sources:
        print(f"error: no log files in {log_dir} (give --logs DIR)", file=sys.stderr)
        return 2
    keep = LogFilter(args.level, frozenset(args.service or ()), args.path, args.request_id)
    lines = merged(sources, keep)
    for line in deque(lines, maxlen=args.tail) if args.tail else lines:
        print(line.text)
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    import json

    from shared.ops import diagnostics
    from shared.redis_client import connect_redis

    settings = load_settings(ServiceSettings)

    async def gather() -> diagnostics.Report:
        pool = await diagnostics.operator_pool(
            settings.operator_database_url or settings.database_url, "remit diagnose"
        )
        client = connect_redis(settings.redis_url)
        try:
            return await diagnostics.collect(settings, pool, client)
        finally:
            await client.aclose()
            await pool.close()

    report = asyncio.run(gather())
    if args.json:
        print(json.dumps(diagnostics.as_json(report), indent=2, default=str))
    else:
        print(diagnostics.render(report))
    return 0


def _dead_letter_topic(topic: str) -> str | None:
    from shared.ops import dead_letters

    if dead_letters.is_known(topic):
        return topic
    print(
        f"error: {topic} is not a dead-letter topic; they are named <event type>.dlq, "
        "e.g. user.created.dlq (remit dlq list shows them)",
        file=sys.stderr,
    )
    return None


def _dlq_counts(settings: ServiceSettings) -> tuple[list[dict[str, object]], list[str]]:
    """The dead-letter topics that hold messages, with the replays Postgres recorded; and notes
    on what could not be read (a database down leaves the broker's counts standing)."""
    from shared.ops import diagnostics

    async def counts() -> tuple[list[dict[str, object]], list[str]]:
        pool = await diagnostics.operator_pool(settings.database_url, "remit dlq")
        try:
            items, notes = await diagnostics.dead_letter_summary(settings, pool)
        finally:
            await pool.close()
        return [item for item in items if item["messages"]], notes

    return asyncio.run(counts())


def _dlq_messages(settings: ServiceSettings, topic: str) -> tuple[list[dict[str, Any]], list[str]]:
    from shared.db import DATABASE_ERRORS
    from shared.ops import dead_letters, diagnostics

    async def read() -> tuple[list[dict[str, Any]], list[str]]:
        letters = await dead_letters.read(settings, topic)
        notes: list[str] = []
        pool = await diagnostics.operator_pool(settings.database_url, "remit dlq")
        try:
            async with pool.acquire() as connection:
                done = await dead_letters.replays(connection, topic)
        except DATABASE_ERRORS as error:
            done = {}
            notes.append(f"replays: unavailable: database: {error!r} (replayedAt not known)")
        finally:
            await pool.close()
        return dead_letters.listed(letters, done), notes

    return asyncio.run(read())


class _DatabaseDown(Exception):
    """Postgres could not be reached (the broker errors look alike: both raise OSError)."""


def _broker_unavailable(error: Exception) -> int:
    print(f"dead letters: unavailable: Kafka: {error!r}", file=sys.stderr)
    return 1


def cmd_dlq_list(args: argparse.Namespace) -> int:
    import json

    from shared.kafka import KAFKA_DOWN

    settings = load_settings(ServiceSettings)
    if args.topic is None:
        try:
            topics, notes = _dlq_counts(settings)
        except KAFKA_DOWN as error:
            return _broker_unavailable(error)
        if args.json:
            total = sum(int(str(item["messages"])) for item in topics)
            print(json.dumps({"items": topics, "total": total, "notes": notes}, indent=2))
            return 0
        for item in topics:
            replayed = "?" if item["replayed"] is None else item["replayed"]
            print(f"{item['topic']}: {item['messages']} messages ({replayed} replayed)")
        if not topics:
            print("no dead letters")
        for note in notes:
            print(note)
        return 0
    topic = _dead_letter_topic(args.topic)
    if topic is None:
        return 2
    try:
        letters, notes = _dlq_messages(settings, topic)
    except KAFKA_DOWN as error:
        return _broker_unavailable(error)
    shown = letters[: args.limit]
    if args.json:
        print(json.dumps({"items": shown, "total": len(letters), "notes": notes}, indent=2))
        return 0
    print(
        f"{topic}: {len(letters)} messages"
        + (f", the first {len(shown)} shown" if len(shown) < len(letters) else "")
    )
    for item in shown:
        replayed = f"  replayed {item['replayedAt']}" if item["replayedAt"] else ""
        print(
            f"{item['partition']}:{item['offset']}  {item['deadLetteredAt']}  "
            f"event {item['eventId'] or '-'} ({item['eventType'] or 'not an event'}){replayed}"
        )
        print(f"    consumer: {item['consumer']}  original topic: {item['originalTopic']}")
        print(f"    error: {item['error']}")
        body = json.dumps(item["payload"]) if item["payload"] is not None else item["raw"]
        print(f"    key: {item['key']}  payload: {body}")
    for note in notes:
        print(note)
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    import getpass

    import asyncpg
    from aiokafka import AIOKafkaProducer

    from shared.db import DATABASE_ERRORS
    from shared.kafka import KAFKA_DOWN
    from shared.ops import dead_letters
    from shared.topics import all_topics

    topic = _dead_letter_topic(args.topic)
    if topic is None:
        return 2
    wanted: list[tuple[int, int]] = []
    for position in args.message or ():
        partition, _, offset = position.partition(":")
        if not (partition.isdigit() and offset.isdigit()):
            print(f"error: {position!r} is not PARTITION:OFFSET, e.g. 0:12", file=sys.stderr)
            return 2
        wanted.append((int(partition), int(offset)))
    if bool(wanted) == args.all:
        print("error: give either --all or one or more --message PARTITION:OFFSET", file=sys.stderr)
        return 2
    settings = load_settings(ServiceSettings)
    try:
        operator = getpass.getuser()
    except (KeyError, OSError):
        operator = "unknown"

    async def run() -> dead_letters.ReplayOutcome:
        letters = await dead_letters.read(settings, topic)
        outcome = dead_letters.ReplayOutcome()
        if wanted:
            letters, outcome = dead_letters.chosen(letters, wanted, topic)
        try:
            connection = await asyncpg.connect(settings.database_url, timeout=10)
        except DATABASE_ERRORS as error:
            raise _DatabaseDown(error) from error
        producer = AIOKafkaProducer(
            acks="all", enable_idempotence=False, **client_options(settings)
        )
        try:
            await producer.start()

            async def publish(
                to: str, key: bytes | None, value: bytes, headers: dict[str, str]
            ) -> None:
                encoded = [(name, text.encode()) for name, text in headers.items()]
                await producer.send_and_wait(to, value, key=key, headers=encoded)

            done = await dead_letters.replay(
                connection, letters, publish, all_topics(), replayed_by=f"cli:{operator}"
            )
        except DATABASE_ERRORS as error:
            if not isinstance(error, KAFKA_DOWN) or connection.is_closed():
                raise _DatabaseDown(error) from error
            raise
        finally:
            await producer.stop()
            await connection.close()
        done.skipped = outcome.skipped + done.skipped
        return done

    try:
        outcome = asyncio.run(run())
    except _DatabaseDown as down:
        print(
            f"replay: unavailable: database: {down.__cause__!r} (each replay is recorded with "
            "its publish: run the command again once the database is back)",
            file=sys.stderr,
        )
        return 1
    except KAFKA_DOWN as error:
        return _broker_unavailable(error)
    for item in outcome.replayed:
        print(
            f"replayed {item['partition']}:{item['offset']} (event {item['eventId']}) "
            f"to {item['originalTopic']}"
        )
    for item in outcome.skipped:
        print(f"skipped {item['partition']}:{item['offset']}: {item['reason']}")
    print(f"{len(outcome.replayed)} replayed, {len(outcome.skipped)} skipped")
    failed = any(item["reason"].startswith("not replayed:") for item in outcome.skipped)
    return 1 if failed else 0


def cmd_cache_clear(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from shared.cache_clear import MAX_PATTERN_LENGTH, clear
    from shared.redis_client import connect_redis

    if not args.pattern or len(args.pattern) > MAX_PATTERN_LENGTH:
        print(f"error: the pattern must be 1 to {MAX_PATTERN_LENGTH} characters", file=sys.stderr)
        return 2
    settings = load_settings(ServiceSettings)

    async def run() -> str:
        client = connect_redis(settings.redis_url, socket_timeout=5)
        try:
            cleared = await clear(client, args.pattern, include_protected=args.include_protected)
        finally:
            await client.aclose()
        return cleared.describe()

    try:
        print(asyncio.run(run()))
    except (RedisError, OSError) as error:
        print(f"error: Redis is unavailable: {error!r}", file=sys.stderr)
        return 1
    return 0


def add_to(commands: Any) -> None:
    """Add the operators' commands to `remit`'s subcommands (argparse's subparsers)."""
    trace = commands.add_parser("trace", help="one request's timeline across the services")
    trace.add_argument("request_id")
    trace.add_argument(
        "--logs",
        help="the services' log directory (default: the running platform's, or "
        "STATE_DIR/logs), or - for JSON log lines on stdin "
        "(e.g. docker compose logs --no-log-prefix | remit trace ID --logs -)",
    )
    trace.set_defaults(run=cmd_trace)
    logs = commands.add_parser(
        "logs",
        help="the services' and the gateway's JSON logs merged in time order, filtered",
    )
    logs.add_argument(
        "--logs", help="the log directory (default: the running platform's, or STATE_DIR/logs)"
    )
    logs.add_argument(
        "--level", default="DEBUG", choices=LEVELS, help="this level and above (e.g. WARNING)"
    )
    logs.add_argument(
        "--service",
        action="append",
        choices=(*SERVICE_NAMES, "gateway"),
        help="only this service's lines, replicas included (repeatable)",
    )
    logs.add_argument("--path", help="only requests whose path starts so, e.g. /api/v1/customers")
    logs.add_argument("--request-id", help="only this request's lines")
    logs.add_argument("--tail", type=_positive, help="only the last N lines kept")
    logs.set_defaults(run=cmd_logs)
    diagnose = commands.add_parser(
        "diagnose",
        help="the first checks when something is wrong: database, pools, Redis, Kafka lag, "
        "dead letters",
    )
    diagnose.add_argument("--json", action="store_true", help="print the report as JSON")
    diagnose.set_defaults(run=cmd_diagnose)
    dlq = commands.add_parser("dlq", help="dead letters: list and replay").add_subparsers(
        dest="dlq_command", required=True
    )
    dlq_list = dlq.add_parser("list", help="dead letters per topic, or one topic's messages")
    dlq_list.add_argument("topic", nargs="?", help="a dead-letter topic, e.g. user.created.dlq")
    dlq_list.add_argument("--limit", type=int, default=100, help="messages shown (default 100)")
    dlq_list.add_argument("--json", action="store_true", help="print JSON")
    dlq_list.set_defaults(run=cmd_dlq_list)
    dlq_replay = dlq.add_parser("replay", help="republish dead letters to their original topic")
    dlq_replay.add_argument("topic", help="a dead-letter topic, e.g. user.created.dlq")
    dlq_replay.add_argument(
        "--message",
        action="append",
        metavar="PARTITION:OFFSET",
        help="one message to replay (repeatable)",
    )
    dlq_replay.add_argument("--all", action="store_true", help="every message not replayed yet")
    dlq_replay.set_defaults(run=cmd_dlq_replay)
    cache = commands.add_parser("cache", help="Redis keys").add_subparsers(
        dest="cache_command", required=True
    )
    cache_clear = cache.add_parser(
        "clear", help="delete keys matching a pattern (SCAN + UNLINK; never KEYS)"
    )
    cache_clear.add_argument(
        "pattern",
        nargs="?",
        default="*",
        help="Redis glob pattern (default *: every key but the protected ones)",
    )
    cache_clear.add_argument(
        "--include-protected",
        action="store_true",
        help="also delete rate limits, token revocations, lock-outs and the clock offset",
    )
    cache_clear.set_defaults(run=cmd_cache_clear)
