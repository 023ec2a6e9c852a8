"""pytest fixtures and context managers around :class:`FakeSlack`.

tests/conftest.py registers this module as a plugin, so every test can ask for ``fake_slack``.
Outside pytest (benchmarks):  ``with FakeSlack() as slack: ...``  and  ``with socket_mode(app, slack): ...``
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient

from bot.slack.server import close_socket_mode
from tests.fakes.slack_server import FakeSlack

__all__ = ["FakeSlack", "bolt_app", "fake_slack", "socket_mode", "web_client"]


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started fake Slack (Web API + Socket Mode); stopped after the test."""
    with FakeSlack() as fake:
        yield fake


def web_client(fake: FakeSlack, **kwargs: object) -> WebClient:
    """The real WebClient pointed at the fake, authenticated with the bot token."""
    return WebClient(token=fake.bot_token, base_url=fake.api_url, **kwargs)  # type: ignore[arg-type]


def bolt_app(fake: FakeSlack, **kwargs: object) -> App:
    """A real Bolt App wired to the fake (its constructor calls auth.test on the fake)."""
    return App(client=web_client(fake), signing_secret=fake.signing_secret, **kwargs)  # type: ignore[arg-type]


@contextmanager
def socket_mode(app: App, fake: FakeSlack, *, ping_interval: float = 0.2, timeout: float = 5.0
                ) -> Iterator[SocketModeHandler]:
    """Connect ``app`` to the fake with the builtin SocketModeHandler; close it on exit.

    ``ping_interval`` also paces the client's reconnect monitor: after an abrupt drop the builtin
    client notices and reconnects within ~1-2 ping intervals (default 10 s in Bolt), so keep it small.
    """
    handler = SocketModeHandler(app, app_token=fake.app_token, ping_interval=ping_interval)
    connects = fake.ws_connects
    handler.connect()  # non-blocking; errors are only logged, so wait for the handshake
    try:
        fake.wait_for_connection(connects + 1, timeout=timeout)
        yield handler
    finally:
        close_socket_mode(handler)  # at once, not in the builtin close()'s ~3-4 s
