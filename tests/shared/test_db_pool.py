"""A request that finds every pooled connection in use waits DATABASE_POOL_TIMEOUT, then gets
503 "Connection pool exhausted" (the message operators look for) instead of queueing forever."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shared.db import create_pool, pool_usage
from shared.http import install_http_edge


async def test_an_exhausted_pool_answers_503_and_recovers(settings):
    tight = settings.model_copy(
        update={"database_pool_min": 1, "database_pool_max": 1, "database_pool_timeout": 0.3}
    )
    pool = await create_pool(tight, "campaigns")
    app = FastAPI()
    install_http_edge(app, "tests", slow_request_ms=10_000)

    @app.get("/count")
    async def count() -> dict[str, int]:
        async with pool.acquire() as connection:
            return {"customers": await connection.fetchval("SELECT count(*) FROM customers")}

    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://remit") as http:
            async with pool.acquire():  # someone holds the only connection
                assert pool_usage(pool)["inUse"] == pool_usage(pool)["max"] == 1
                exhausted = await http.get("/count")
            assert exhausted.status_code == 503
            body = exhausted.json()
            assert body["error"] == "Service unavailable"
            assert body["details"] == "Connection pool exhausted"
            assert body["requestId"] == exhausted.headers["x-request-id"]
            served = await http.get("/count")
            assert served.status_code == 200 and served.json()["customers"] >= 0
    finally:
        await pool.close()
