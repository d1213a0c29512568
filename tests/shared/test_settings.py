"""A missing or malformed setting stops start-up with a message naming the variable; each
service reads the shared settings and its own."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys

import pytest
from pydantic_settings import BaseSettings

from shared.db import create_pool
from shared.devstack.processes import PortInUseError, ensure_port_free
from shared.errors import ConfigurationError
from shared.kafka import client_options
from shared.ops.cli import SERVED_SETTINGS, SERVICE_SETTINGS, every_service_settings
from shared.settings import SERVICE_NAMES, ServiceSettings, forget_settings, load_settings

GOOD = {
    "DATABASE_URL": "postgresql://u@127.0.0.1:5432/db",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
}


@pytest.fixture
def environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env file around
    for name in (*GOOD, "DATABASE_POOL_MAX"):
        monkeypatch.delenv(name, raising=False)
    forget_settings()
    yield monkeypatch
    forget_settings()


def test_missing_required_variable_is_named(environment):
    environment.setenv("REDIS_URL", GOOD["REDIS_URL"])
    environment.setenv("KAFKA_BOOTSTRAP_SERVERS", GOOD["KAFKA_BOOTSTRAP_SERVERS"])
    with pytest.raises(ConfigurationError, match="DATABASE_URL is required but not set"):
        every_service_settings()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DATABASE_POOL_MAX", "lots", "DATABASE_POOL_MAX is invalid"),
        (
            "DATABASE_URL",
            "mysql://x",
            "DATABASE_URL is invalid: Value error, must start with postgresql://",
        ),
        ("KAFKA_BOOTSTRAP_SERVERS", "nohostport", "KAFKA_BOOTSTRAP_SERVERS is invalid"),
        ("SMTP_TLS", "maybe", "SMTP_TLS is invalid"),
        ("CONTACT_DAYS", "mon,funday", "CONTACT_DAYS is invalid"),
        ("CONTACT_HOLIDAYS", "christmas", "CONTACT_HOLIDAYS is invalid"),
        ("CONTACT_WINDOW_END", "07:00", "CONTACT_WINDOW_START must be before CONTACT_WINDOW_END"),
        ("REDIS_URL", "unix:///tmp/redis.sock", "REDIS_URL is invalid"),
        ("SEND_DEADLINE_S", "20", "SEND_DEADLINE_S must be at least twice SMTP_TIMEOUT_S"),
        (
            "TWILIO_SEND_CONCURRENCY",
            "5000",
            "TWILIO_SEND_CONCURRENCY is invalid: Input should be less than or equal to 1000",
        ),
    ],
)
def test_malformed_variable_is_named(environment, variable, value, message):
    for name, good in GOOD.items():
        environment.setenv(name, good)
    environment.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=message):
        every_service_settings()


def test_a_bad_variable_is_named_once_whichever_services_read_it(environment):
    for name, good in GOOD.items():
        environment.setenv(name, good)
    environment.setenv("LOG_LEVEL", "verbose")  # every service reads it
    environment.setenv("SMTP_TLS", "maybe")  # the notifier reads it
    with pytest.raises(ConfigurationError) as raised:
        every_service_settings()
    assert str(raised.value).count("LOG_LEVEL is invalid") == 1
    assert str(raised.value).count("SMTP_TLS is invalid") == 1


def test_each_service_reads_its_own_class():
    assert set(SERVICE_SETTINGS) == set(SERVICE_NAMES)
    for name, kind in SERVICE_SETTINGS.items():
        assert importlib.import_module(f"services.{name}.main").SPEC.settings is kind
        assert issubclass(kind, ServiceSettings)


def _own(kind: type[BaseSettings]) -> set[str]:
    return set(kind.model_fields) - set(ServiceSettings.model_fields)


def test_a_setting_belongs_to_one_service_or_to_all():
    for name, kind in SERVICE_SETTINGS.items():
        for other, other_kind in SERVICE_SETTINGS.items():
            if other != name:
                assert not _own(kind) & _own(other_kind), (name, other)


def test_service_refuses_to_start_naming_the_variable():
    env = {k: v for k, v in os.environ.items() if k not in GOOD}
    env.update({"REDIS_URL": GOOD["REDIS_URL"], "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"})
    result = subprocess.run(
        [sys.executable, "-m", "shared.ops.cli", "serve", "auth", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert result.returncode == 2
    assert "DATABASE_URL is required but not set" in result.stderr


async def test_pool_size_follows_database_pool_max(settings):
    pool = await create_pool(settings.model_copy(update={"database_pool_max": 3}), "auth")
    try:
        assert pool.get_max_size() == 3
    finally:
        await pool.close()


def test_taken_port_is_reported_with_its_variable():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(
            PortInUseError, match=f"port {port} \\(GATEWAY_PORT\\) is already in use"
        ):
            ensure_port_free(port, "GATEWAY_PORT")


def test_env_example_lists_every_setting():

    from shared.devstack.platform import REPO_ROOT, StackSettings

    listed = REPO_ROOT.joinpath(".env.example").read_text()
    classes: tuple[type[BaseSettings], ...] = (*SERVED_SETTINGS.values(), StackSettings)
    for name in {name for kind in classes for name in kind.model_fields}:
        assert f"{name.upper()}=" in listed, f"{name.upper()} missing from .env.example"


def _required() -> dict[str, str]:
    return {name.lower(): value for name, value in GOOD.items()}


def test_kafka_sasl_needs_credentials_and_reaches_every_client(environment):
    environment.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    for name, good in GOOD.items():
        environment.setenv(name, good)
    with pytest.raises(ConfigurationError, match="KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        load_settings(ServiceSettings)
    environment.delenv("KAFKA_SECURITY_PROTOCOL")
    plain = load_settings(ServiceSettings, **_required())
    assert "security_protocol" not in client_options(plain)
    sasl = load_settings(
        ServiceSettings,
        **_required(),
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="remit",
        kafka_sasl_password="s3cret-s3cret",
    )
    options = client_options(sasl)
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "remit",
        "s3cret-s3cret",
    )
    assert "s3cret" not in repr(sasl)  # a secret, never shown
