"""`remit up` (what `make run` calls) on a fresh state directory: everything embedded, served
through the gateway, stopped without leftovers, and Postgres data kept across restarts."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from shared.devstack.processes import free_port
from tests.helpers import run_remit

pytestmark = pytest.mark.servers  # each test runs a whole `remit up`


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start(state_dir, ports, *, sigint_ignored=False):
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DATABASE_URL",
            "REDIS_URL",
            "KAFKA_BOOTSTRAP_SERVERS",
            "SMTP_HOST",
            "ADMIN_PASSWORD",
        )
    }
    env.update({name: str(port) for name, port in ports.items()})
    env["STATE_DIR"] = str(state_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.ops.cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # As a background job of a script (`make run &`) or under nohup-like wrappers are.
        preexec_fn=_ignore_sigint if sigint_ignored else None,
    )
    output = []
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if line.startswith("Ctrl-C stops everything"):
            return process, "".join(output)
    process.kill()
    pytest.fail("remit up did not come up within 60 s:\n" + "".join(output))


def _stop(process, sig, within=60):
    tree = psutil.Process(process.pid).children(recursive=True)
    assert len(tree) >= 9  # postgres, redis, broker, smtp sink, four services, gateway
    process.send_signal(sig)
    try:
        assert process.wait(within) == 0
    finally:
        _reap(process, tree)
    _, alive = psutil.wait_procs(tree, timeout=15)
    assert alive == [], f"left behind: {[p.info if hasattr(p, 'info') else p for p in alive]}"


def _reap(process, tree):
    """A `remit up` that did not stop when asked (a failed test) leaves nothing running."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for child in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.is_running():
                child.kill()


def _ports():
    return {
        name: free_port()
        for name in (
            "GATEWAY_PORT",
            "AUTH_PORT",
            "CAMPAIGNS_PORT",
            "AGENTS_PORT",
            "NOTIFIER_PORT",
            "CONSOLE_PORT",
            "POSTGRES_PORT",
            "REDIS_PORT",
            "KAFKA_PORT",
            "SMTP_PORT",
        )
    }


def _ignores_sigint(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False


def test_up_serves_health_stops_cleanly_and_keeps_data(tmp_path):
    ports = _ports()
    gateway = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
    started = time.monotonic()
    process, output = _start(tmp_path / "state", ports)
    assert time.monotonic() - started < 60
    assert f"Remit is up: {gateway}" in output
    found = re.search(r"admin:\s+admin@example.com / (\S+)", output)
    assert found, output
    password = found.group(1)
    health = httpx.get(f"{gateway}/api/v1/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    login = httpx.post(
        f"{gateway}/api/v1/auth/login", json={"email": "admin@example.com", "password": password}
    )
    assert login.status_code == 200
    _stop(process, signal.SIGINT)

    process, output = _start(tmp_path / "state", ports)
    assert "admin:" not in output  # the admin exists: no new password is printed
    login = httpx.post(
        f"{gateway}/api/v1/auth/login", json={"email": "admin@example.com", "password": password}
    )
    assert login.status_code == 200, "Postgres data did not survive the restart"
    _stop(process, signal.SIGTERM)


def test_up_started_with_sigint_ignored_still_stops_on_it(tmp_path):
    """Ctrl-C (SIGINT) stops `remit up` and everything it started, even when it was started
    with SIGINT ignored, which its children would otherwise inherit."""
    process, _ = _start(tmp_path / "state", _ports(), sigint_ignored=True)
    children = psutil.Process(process.pid).children()
    try:
        ignoring = [child.cmdline()[:3] for child in children if _ignores_sigint(child.pid)]
        assert ignoring == [], f"children that would not stop on SIGINT: {ignoring}"
    except BaseException:
        _reap(process, psutil.Process(process.pid).children(recursive=True))
        raise
    _stop(process, signal.SIGINT, within=45)


def test_taken_port_stops_up_with_a_clear_error(tmp_path):
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        env = {**os.environ, "STATE_DIR": str(tmp_path), "GATEWAY_PORT": str(taken)}
        result = run_remit("up", env=env, timeout=60)
    assert result.returncode == 1
    assert f"port {taken} (GATEWAY_PORT) is already in use" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("GATEWAY_PORT", "eighty", "GATEWAY_PORT is invalid"),
        ("LOG_LEVEL", "verbose", "LOG_LEVEL is invalid"),
    ],
)
def test_bad_setting_stops_up_naming_it(tmp_path, variable, value, message):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    ports = {
        name: str(free_port())
        for name in ("GATEWAY_PORT", "POSTGRES_PORT", "REDIS_PORT", "KAFKA_PORT", "SMTP_PORT")
    }
    env.update({**ports, "STATE_DIR": str(tmp_path), variable: value})
    result = run_remit("up", env=env, timeout=120)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_needs_only_the_database(settings):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    env["DATABASE_URL"] = settings.database_url
    result = run_remit("migrate", env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "migrations applied" in result.stdout


def test_create_admin_is_a_no_op_once_an_admin_exists(platform):
    result = run_remit("create-admin", env=platform.env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "an admin exists already: nothing to do" in result.stdout


def test_diagnose_runs_every_check(platform):
    result = run_remit("diagnose", env=platform.env, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in ("== database", "connections by state:", "database size:", "active queries:",
                     "slowest statements:", "stuck tasks (over TASK_STUCK_AFTER, 3600 s):", "== redis", "used memory:", "keys:"):  # fmt: skip
        assert expected in out
    assert "mean_ms" in out  # pg_stat_statements is created on the embedded Postgres
