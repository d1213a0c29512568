"""Composition root shared by the four services: one app factory, one lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor

from shared import asyncapi
from shared.broker_epoch import BrokerEpoch
from shared.cache import Cache
from shared.clock import clock
from shared.consumer import EventConsumer, Subscription
from shared.db import create_pool, pool_usage
from shared.docs_pages import API_PREFIX, PLATFORM_PAGE, install_docs
from shared.health import dependency_health, overall, platform_health, with_epoch
from shared.http import install_http_edge
from shared.kafka import create_broker, create_relay_producer, ensure_topics, raw_publisher
from shared.logs import configure_logging
from shared.openapi import document_errors, error_responses
from shared.outbox import OutboxRelay
from shared.process_watch import process_usage, watch_memory
from shared.ratelimit import RateLimiter
from shared.redis_client import connect_redis
from shared.resources import Resources, resources
from shared.retention import prune_forever
from shared.security import KeySet, enforce_api_limit
from shared.settings import ServiceName, ServiceSettings, settings_of
from shared.topics import all_topics
from shared.tracing import TraceContextMiddleware, configure_tracing, redact_addresses

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceSpec:
    """What makes one service different from another; everything else is shared."""

    name: ServiceName
    title: str
    description: str
    # The service's settings class (its settings.py): read and checked when the app is made;
    # `Resources.settings` is that instance, which the runtime library sees as the shared base.
    settings: type[ServiceSettings]
    routers: Sequence[APIRouter] = ()
    # Routes for machines that authenticate otherwise (signed webhooks): no per-caller API limit.
    unlimited_routers: Sequence[APIRouter] = ()
    subscriptions: Sequence[Subscription] = ()
    # Loops the service runs beside its HTTP API (e.g. the campaigns scheduler).
    background: Sequence[Callable[[Resources], Coroutine[Any, Any, None]]] = ()
    # Whether its routes keep reads in the process (`Resources.cache`): the process then listens
    # for invalidations; without it, the cache reads through to Redis only.
    caches_reads: bool = False
    # Facts shown in the service's health that do not make it unhealthy (e.g. OpenAI's state).
    health_notes: Callable[[Resources], dict[str, str]] | None = None
    openapi_tags: Sequence[dict[str, Any]] = field(default_factory=tuple)


@asynccontextmanager
async def _lifespan(app: FastAPI, spec: ServiceSpec) -> AsyncIterator[None]:
    settings = settings_of(spec.settings)
    async with contextlib.AsyncExitStack() as cleanup:
        pool = await create_pool(settings, spec.name)
        _on_stop(cleanup, "database pool", pool.close)
        redis = connect_redis(settings.redis_url)
        _on_stop(cleanup, "redis client", redis.aclose)
        broker = create_broker(settings, client_id=spec.name)
        await ensure_topics(settings, all_topics())
        await broker.start()
        _on_stop(cleanup, "broker client", broker.stop)
        relay_producer = create_relay_producer(settings, client_id=spec.name)
        await relay_producer.start()
        _on_stop(cleanup, "relay producer", relay_producer.stop)
        epoch = BrokerEpoch(settings, raw_publisher(broker))
        consumer = EventConsumer(
            pool, settings, spec.name, spec.subscriptions, raw_publisher(broker)
        )
        relay = OutboxRelay(
            pool,
            relay_producer,
            spec.name,
            epoch,
            batch_size=settings.outbox_batch_size,
            poll_interval=settings.outbox_poll_interval_ms / 1000,
            max_failures=settings.outbox_max_failures,
        )

        async def broker_lost() -> None:
            await ensure_topics(settings, all_topics())
            consumer.broker_lost()
            relay.wake()

        found = Resources(
            settings,
            pool,
            redis,
            broker,
            KeySet(settings),
            RateLimiter(redis, settings.rate_limit_window),
            epoch,
            Cache(redis, spec.name, settings.cache_ttl, settings.cache_local_ttl),
        )
        app.state.resources = found
        # Stopped last, in this order: intake ends, then the batches in flight commit, then
        # the outbox is published, so a clean stop leaves nothing half done.
        _on_stop(
            cleanup,
            "outbox drain",
            functools.partial(_drain_outbox, relay, settings.shutdown_drain_s),
        )
        _start(cleanup, "outbox relay", relay.run)
        _start(cleanup, "broker epoch", functools.partial(epoch.watch, pool, broker_lost))
        consumer_task = _start(cleanup, "event consumer", consumer.run)
        _on_stop(
            cleanup,
            "event consumer drain",
            functools.partial(_stop_consumer, consumer, consumer_task, settings),
        )
        jobs: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
            ("pruning", functools.partial(prune_forever, pool, settings)),
            ("memory watch", functools.partial(watch_memory, settings.memory_warn_mb)),
            *((job.__name__, functools.partial(job, found)) for job in spec.background),
        ]
        if spec.caches_reads:
            jobs.append(("cache invalidations", found.cache.listen))
        if settings.clock_control:
            jobs.append(("clock", functools.partial(clock.follow, redis)))
        for name, start in jobs:
            _start(cleanup, name, start)
        settle_collector()
        logger.info("service started")
        yield
        logger.info("service stopping: draining")


# Container allocations between two collections of a started service's young generation.
GC_YOUNG_THRESHOLD = 10_000


def settle_collector() -> None:
    """The garbage collector's settings for a started service.

    Everything made so far (modules, the app, pools) lives as long as the process: frozen out
    of the collector's sight, a full collection walks only what requests made, in a few ms
    rather than the 40 ms that stalled every request in flight 3 times a second.

    A busy service allocates containers by the million, nearly all freed by their reference
    counts within the request or batch that made them: the young generation is collected
    every GC_YOUNG_THRESHOLD allocations rather than every 700, and its survivors promoted
    less often, so the collector no longer walks objects about to die anyway (7% of the
    services' time in the pipeline benchmark, a few MiB more at most held meanwhile)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 50, 50)


def _start(
    cleanup: contextlib.AsyncExitStack, name: str, start: Callable[[], Coroutine[Any, Any, None]]
) -> asyncio.Task[None]:
    """Run a supervised job, cancelled when the service stops (jobs started last stop first)."""
    task = asyncio.create_task(_supervised(name, start))
    _on_stop(cleanup, name, functools.partial(_cancel, task))
    return task


# A stop step taking longer than this says so, and again each time as long again: a stop that
# hangs names the step it hangs on before the process is killed.
STOP_STEP_WARN_S = 5.0


def _on_stop(
    cleanup: contextlib.AsyncExitStack, step: str, stop: Callable[[], Awaitable[object]]
) -> None:
    cleanup.push_async_callback(_watched_stop, step, stop)


async def _watched_stop(step: str, stop: Callable[[], Awaitable[object]]) -> None:
    task = asyncio.ensure_future(stop())
    waited_s = 0.0
    try:
        while not (await asyncio.wait([task], timeout=STOP_STEP_WARN_S))[0]:
            waited_s += STOP_STEP_WARN_S
            logger.warning(
                "service stopping: still waiting", extra={"step": step, "waited_s": waited_s}
            )
    except BaseException:  # the stop itself was cancelled: so is its step, as when it ran inline
        task.cancel()
        await asyncio.wait([task])
        raise
    task.result()


async def _stop_consumer(
    consumer: EventConsumer, task: asyncio.Task[None], settings: ServiceSettings
) -> None:
    await consumer.stop()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(settings.shutdown_drain_s):
            await asyncio.shield(task)


async def _drain_outbox(relay: OutboxRelay, within_s: float) -> None:
    try:
        published = await relay.drain(within_s)
    except Exception as error:
        logger.warning("outbox not drained on stop", extra={"error": repr(error)})
        return
    logger.info("outbox drained on stop", extra={"published": published})


async def _supervised(name: str, start: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a background job for the life of the service: a crash is logged and it restarts."""
    while True:
        try:
            await start()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("background job crashed; restarting in 1 s", extra={"job": name})
            await asyncio.sleep(1)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _health_router(spec: ServiceSpec) -> APIRouter:
    router = APIRouter(tags=["health"])

    async def own_dependencies(request: Request) -> dict[str, str]:
        found = resources(request)
        return await dependency_health(
            found.pool,
            found.settings.database_url,
            found.redis,
            found.broker,
            found.settings.health_timeout_ms / 1000,
        )

    @router.get(f"/{spec.name}/health", summary=f"Health of the {spec.name} service")
    async def service_health(request: Request) -> JSONResponse:
        epoch = resources(request).epoch
        parts = with_epoch(await own_dependencies(request), epoch.known.is_set())
        pool = pool_usage(resources(request).pool)
        body: dict[str, Any] = {
            "status": overall({**parts, "pool": pool["status"]}),
            "service": spec.name,
            "services": parts,
            "pool": pool,
        }
        body["process"] = process_usage()
        body["broker"] = epoch.describe()
        if spec.health_notes is not None:
            body["notes"] = spec.health_notes(resources(request))
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @router.get("/docs", include_in_schema=False)
    async def platform_docs() -> HTMLResponse:
        return HTMLResponse(PLATFORM_PAGE)

    @router.get("/asyncapi.json", include_in_schema=False)
    async def event_catalogue() -> JSONResponse:
        return JSONResponse(asyncapi.as_json())

    @router.get("/asyncapi", include_in_schema=False)
    async def event_catalogue_page() -> HTMLResponse:
        return HTMLResponse(asyncapi.as_html())

    @router.get("/health", summary="Health of the whole platform (any service answers)")
    async def health(request: Request) -> JSONResponse:
        body = await platform_health(resources(request).settings, await own_dependencies(request))
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    return router


def create_app(spec: ServiceSpec) -> FastAPI:
    """The service's FastAPI app: its routes under /api/v1, docs, health, events, telemetry."""
    settings = settings_of(spec.settings)
    configure_logging(spec.name, settings.log_level)
    configure_tracing(spec.name, settings.otel_exporter_otlp_endpoint)
    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version="0.1.0",
        docs_url=None,  # install_docs serves it, with local assets
        openapi_url=f"{API_PREFIX}/{spec.name}/openapi.json",
        redoc_url=None,
        openapi_tags=list(spec.openapi_tags) or None,
        lifespan=lambda app: _lifespan(app, spec),
        # FastAPI's own telemetry stays off: spans come from the instrumentation below, or none.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_http_edge(app, spec.name, settings.slow_request_ms, settings.max_body_bytes)
    install_docs(app, spec.name, spec.title)
    document_errors(app)
    app.include_router(_health_router(spec), prefix=API_PREFIX)
    for router in spec.routers:
        app.include_router(
            router,
            prefix=API_PREFIX,
            dependencies=[Depends(enforce_api_limit)],
            responses=error_responses(429),
        )
    for router in spec.unlimited_routers:
        app.include_router(router, prefix=API_PREFIX)
    if settings.otel_exporter_otlp_endpoint:
        # One server span per request (the per-message receive/send spans cost more than they
        # tell), and a span per SQL statement and Redis command: seen where spans are exported.
        FastAPIInstrumentor.instrument_app(
            app, exclude_spans=["receive", "send"], server_request_hook=redact_addresses
        )
        AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
        RedisInstrumentor().instrument()
    else:
        app.add_middleware(TraceContextMiddleware)
    return app
