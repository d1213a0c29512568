"""What a service's request handlers may use, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

from shared.broker_epoch import BrokerEpoch
from shared.cache import Cache
from shared.ratelimit import RateLimiter
from shared.security import KeySet, VerifiedTokens
from shared.settings import ServiceSettings


@dataclass
class Resources:
    settings: ServiceSettings
    pool: asyncpg.Pool
    redis: Redis
    broker: KafkaBroker
    keys: KeySet
    limiter: RateLimiter
    epoch: BrokerEpoch
    cache: Cache
    verified: VerifiedTokens = field(default_factory=VerifiedTokens)


def resources(request: Request) -> Resources:
    found: Resources = request.app.state.resources
    return found


async def _resources(request: Request) -> Resources:
    # An async dependency runs in the event loop; FastAPI runs a plain `def` one in its
    # thread pool, a thread hop on every request for what is an attribute read.
    return resources(request)


Deps = Annotated[Resources, Depends(_resources)]
