"""The agents tests that run the service's handlers in this process configure it first."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from services.agents.brain import shared_brain
from shared.settings import forget_settings


@pytest.fixture
def service_environment(monkeypatch, platform) -> Iterator[Callable[..., None]]:
    """This process configured as the agents service is (its settings, its brain)."""

    def configure(**extra: str) -> None:
        for name, value in {**platform.env, **extra}.items():
            monkeypatch.setenv(name, value)
        forget_settings()
        shared_brain.cache_clear()

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    yield configure
    forget_settings()
    shared_brain.cache_clear()
