"""The http part's load: every user GETs one path with a bearer token, without pauses.

Only ever run by the `locust` command in its own process (tests/bench/http_load.py starts it):
importing locust monkeypatches the standard library with gevent.
"""

from __future__ import annotations

import os

from locust import FastHttpUser, task


class Reader(FastHttpUser):
    path = os.environ["BENCH_PATH"]
    headers = {"Authorization": f"Bearer {os.environ['BENCH_TOKEN']}"}

    @task
    def read(self) -> None:
        self.client.get(self.path, headers=self.headers, name="GET customer")
