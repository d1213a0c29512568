"""The http and memory parts' baseline: a bare FastAPI app answering the customer read with
fixed JSON (no token, no rate limit, no cache, no database, no middleware), served by uvicorn
with the settings `remit serve` uses. Run as `python -m tests.bench.bare_app PORT`."""

from __future__ import annotations

import json
import os
import sys
import uuid
from typing import Any

import uvicorn
from fastapi import FastAPI

BODY_ENV = "BENCH_BARE_BODY"


def create() -> FastAPI:
    body: dict[str, Any] = json.loads(os.environ.get(BODY_ENV, "{}"))
    app = FastAPI()

    @app.get("/api/v1/customers/{customer_id}")
    async def customer(customer_id: uuid.UUID) -> dict[str, Any]:
        return body

    return app


if __name__ == "__main__":
    # As shared.ops.cli's `serve` runs a service (with its default HOST and FORWARDED_ALLOW_IPS).
    uvicorn.run(
        "tests.bench.bare_app:create",
        factory=True,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )
