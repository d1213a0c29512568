"""`remit`: run the platform (`up`), one service (`serve`), or the migrations (`migrate`)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING

from shared.errors import ConfigurationError

if TYPE_CHECKING:
    from services.auth.bootstrap import FirstAdmin
from shared.settings import SERVICE_NAMES, DatabaseSettings, Settings, get_settings, load_settings


def migrate_all(database_url: str) -> None:
    from shared.migrations import migrate_url

    async def run() -> None:
        for name in SERVICE_NAMES:
            await migrate_url(database_url, name, f"services.{name}")

    asyncio.run(run())


def bootstrap_admin(settings: Settings) -> FirstAdmin:
    from services.auth.bootstrap import ensure_first_admin

    return asyncio.run(ensure_first_admin(settings))


def cmd_migrate(_: argparse.Namespace) -> int:
    migrate_all(load_settings(DatabaseSettings).database_url)
    print("migrations applied")
    return 0


def cmd_create_admin(_: argparse.Namespace) -> int:
    """For deployments: the first admin, from ADMIN_EMAIL/ADMIN_PASSWORD or a printed password."""
    settings = load_settings(Settings)
    admin = bootstrap_admin(settings)
    if not admin.created:
        print("an admin exists already: nothing to do")
    elif admin.generated_password:
        print(f"admin created: {settings.admin_email} / {admin.generated_password}  (shown once)")
    else:
        print(f"admin created: {settings.admin_email} with ADMIN_PASSWORD")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from pathlib import Path

    from shared.trace import from_database, from_logs, render

    settings = load_settings(DatabaseSettings)
    steps = asyncio.run(from_database(settings.database_url, args.request_id))
    steps += from_logs(Path(args.logs), args.request_id)
    print(render(steps))
    return 0


def cmd_diagnose(_: argparse.Namespace) -> int:
    from shared import diagnostics

    settings = load_settings(Settings)

    async def gather() -> dict[str, dict[str, object]]:
        return {
            "database": await diagnostics.database(settings.database_url),
            "redis": await diagnostics.redis(settings.redis_url),
        }

    print(diagnostics.render(asyncio.run(gather())))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        f"services.{args.service}.main:create",
        factory=True,
        host=settings.host,
        port=args.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    return 0


def cmd_up(_: argparse.Namespace) -> int:
    from shared.stack.platform import Platform, StackSettings

    platform = Platform(load_settings(StackSettings))

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        print("starting the embedded stack…", flush=True)
        platform.start_infrastructure()
        settings = platform.service_settings()
        migrate_all(settings.database_url)
        admin = bootstrap_admin(settings)
        platform.start_services()
        platform.wait_healthy()
        assert platform.gateway is not None
        print(f"\nRemit is up: {platform.gateway.url}", flush=True)
        print(f"  API docs:  {platform.gateway.url}/api/v1/docs")
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
    trace = commands.add_parser("trace", help="one request's timeline across the services")
    trace.add_argument("request_id")
    trace.add_argument("--logs", default=".state/logs", help="where the services' logs are")
    trace.set_defaults(run=cmd_trace)
    commands.add_parser(
        "diagnose", help="the troubleshooting guide's database and Redis checks"
    ).set_defaults(run=cmd_diagnose)
    serve = commands.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=SERVICE_NAMES)
    serve.add_argument("--port", type=int, required=True)
    serve.set_defaults(run=cmd_serve)
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except ConfigurationError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
