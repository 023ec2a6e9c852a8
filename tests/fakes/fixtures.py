"""Pytest fixtures for the fake Anthropic API.

Enable in a test module with `pytest_plugins = ["tests.fakes.fixtures"]` (or once, in tests/conftest.py).
Outside pytest, use the context manager directly: `with FakeAnthropic() as fake: ...`.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.fakes.anthropic_server import FakeAnthropic


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A started FakeAnthropic; `.base_url` is "http://127.0.0.1:PORT". Stopped after the test."""
    with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def anthropic_client(fake_anthropic: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    """The real SDK client pointed at `fake_anthropic`: no retries, 5 s timeout."""
    with anthropic.Anthropic(
        api_key="test-key", base_url=fake_anthropic.base_url, max_retries=0, timeout=5.0
    ) as client:
        yield client
