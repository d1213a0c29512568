"""The http and memory parts' baselines, served by uvicorn with the settings `remit serve` uses
(`python -m tests.bench.bare_app PORT [same-work]`):

- the bare app answers the customer read with fixed JSON: no token, no rate limit, no cache,
  no database, no middleware;
- the same-work app does by hand what the read needs, and no more: it verifies the bearer
  token with PyJWT against the auth service's public keys, reads the cached customer with one
  Redis GET, and answers its JSON. Our platform's layer is what the service costs beyond it."""

from __future__ import annotations

import gc
import json
import os
import sys
import uuid
from typing import Any

import httpx
import jwt
import uvicorn
from fastapi import FastAPI, Request, Response
from redis.asyncio import Redis

from shared.security import ALGORITHM, AUDIENCE, ISSUER

BODY_ENV = "BENCH_BARE_BODY"
AUTH_URL_ENV = "BENCH_AUTH_URL"
REDIS_URL_ENV = "BENCH_REDIS_URL"


def create() -> FastAPI:
    body: dict[str, Any] = json.loads(os.environ.get(BODY_ENV, "{}"))
    app = FastAPI()

    @app.get("/api/v1/customers/{customer_id}")
    async def customer(customer_id: uuid.UUID) -> dict[str, Any]:
        return body

    return _started(app)


def create_same_work() -> FastAPI:
    jwks = httpx.get(f"{os.environ[AUTH_URL_ENV]}/api/v1/auth/.well-known/jwks.json").json()
    keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys}
    redis = Redis.from_url(os.environ[REDIS_URL_ENV])
    app = FastAPI()

    @app.get("/api/v1/customers/{customer_id}")
    async def customer(customer_id: uuid.UUID, request: Request) -> Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        key = keys[jwt.get_unverified_header(token)["kid"]]
        jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER)
        cached = await redis.get(f"cache:campaigns:customer:{customer_id}")
        if cached is None:  # fails the run loudly rather than timing empty answers
            return Response(status_code=500)
        return Response(cached, media_type="application/json")

    return _started(app)


def _started(app: FastAPI) -> FastAPI:
    """As a service does once started (shared/service.py): what lives as long as the process
    is kept out of the collector's full passes."""
    gc.collect()
    gc.freeze()
    return app


if __name__ == "__main__":
    factory = "create_same_work" if sys.argv[2:] == ["same-work"] else "create"
    # As shared.ops.cli's `serve` runs a service (with its default HOST and FORWARDED_ALLOW_IPS).
    uvicorn.run(
        f"tests.bench.bare_app:{factory}",
        factory=True,
        loop="uvloop",
        http="httptools",
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
