"""Memory: the peak RSS of each service process while the pipeline part runs, sampled every
200 ms with psutil; baseline: the bare FastAPI app under uvicorn (tests/bench/bare_app.py),
idle after its first request."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from types import TracebackType

import httpx
import psutil

from tests.bench.live import bare_app
from tests.bench.report import Row

INTERVAL_S = 0.2
MIB = 1024 * 1024


class RssSampler:
    """While entered, samples each process's RSS every INTERVAL_S: the first and the peak."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.first = {name: process.memory_info().rss for name, process in self.processes.items()}
        self.peaks = dict(self.first)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        while True:
            for name, process in self.processes.items():
                self.peaks[name] = max(self.peaks[name], process.memory_info().rss)
            if self._stop.wait(INTERVAL_S):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


class CpuClock:
    """CPU seconds (user and system) each named process, with its children (Postgres's
    backends), used while entered."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.seconds: dict[str, float] = {}
        self._first: dict[str, dict[int, float]] = {}

    def _now(self) -> dict[str, dict[int, float]]:
        now: dict[str, dict[int, float]] = {}
        for name, process in self.processes.items():
            now[name] = {}
            for each in (process, *process.children(recursive=True)):
                try:
                    times = each.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                now[name][each.pid] = times.user + times.system
        return now

    def __enter__(self) -> CpuClock:
        self._first = self._now()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for name, last in self._now().items():
            first = self._first[name]
            self.seconds[name] = sum(used - first.get(pid, 0.0) for pid, used in last.items())


def bare_rss(log_dir: Path) -> float:
    """The bare app's RSS in MiB once it has answered one request."""
    with bare_app("{}", log_dir) as (url, process):
        httpx.get(f"{url}/api/v1/customers/{uuid.uuid4()}").raise_for_status()
        return float(psutil.Process(process.pid).memory_info().rss) / MIB


def rows(sampler: RssSampler, log_dir: Path) -> list[Row]:
    bare = bare_rss(log_dir)
    return [
        Row.of("RSS bare FastAPI app, idle (baseline)", bare, "MiB", None, "uvicorn"),
        *(
            Row.of(
                f"RSS peak {name} during pipeline",
                peak / MIB,
                "MiB",
                bare,
                f"{sampler.first[name] / MIB:.0f} MiB before the run",
            )
            for name, peak in sampler.peaks.items()
        ),
    ]
