"""What a service's request handlers may use, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

from shared.broker_epoch import BrokerEpoch
from shared.ratelimit import RateLimiter
from shared.security import KeySet
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


def resources(request: Request) -> Resources:
    found: Resources = request.app.state.resources
    return found


Deps = Annotated[Resources, Depends(resources)]
