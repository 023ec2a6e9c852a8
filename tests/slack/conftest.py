"""Fixtures for the Slack side: a small registry of shell scripts, the OpsBot, a SlackBot wired to the
local fake Slack (tests/fakes/slack_server.py), connected over the real Socket Mode client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.pipeline import OpsBot
from bot.slack.bot import SlackBot
from tests.fakes.slack_server import FakeSlack
from tests.slack.helpers import connect, demo_environ, demo_settings, make_slackbot, write_demo_registry


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_demo_registry(tmp_path)
    return tmp_path


@pytest.fixture
def opsbot(root: Path) -> OpsBot:
    bot = OpsBot(demo_settings(root), environ=demo_environ(root))
    assert not bot.registry.problems, bot.registry.problems
    return bot


@pytest.fixture
def slackbot(opsbot: OpsBot, fake_slack: FakeSlack) -> Iterator[SlackBot]:
    sb = make_slackbot(opsbot, fake_slack)
    yield sb
    sb.close(timeout=5)


@pytest.fixture
def connected(slackbot: SlackBot, fake_slack: FakeSlack) -> Iterator[SlackBot]:
    """The SlackBot connected to the fake over the builtin Socket Mode client."""
    with connect(slackbot.app, fake_slack):
        yield slackbot
