"""A thread follow-up that is only an acknowledgement runs no script (issue 11, item 2): the real
registry, over the real Socket Mode client against the fake Slack. "ok" used to run supabase.health and
"got it" github.recent-commits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, load_settings
from bot.pipeline import OpsBot
from tests.fakes.slack_server import FakeSlack
from tests.slack.helpers import block_texts, thread_reply


@pytest.fixture
def opsbot(tmp_path: Path) -> OpsBot:
    (tmp_path / "home").mkdir()
    settings = load_settings(bot_home=tmp_path / "home", bot_registry=PROJECT_ROOT / "registry",
                             bot_scripts=PROJECT_ROOT / "scripts", bot_skills=PROJECT_ROOT / "skills",
                             anthropic_api_key=None)
    return OpsBot(settings, environ={"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"),
                                     "SUPABASE_URL": "http://127.0.0.1:9", "SUPABASE_SERVICE_KEY": "k",
                                     "GITHUB_TOKEN": "t", "GITHUB_REPO": "acme/web",
                                     "GITHUB_API_URL": "http://127.0.0.1:9"})


@pytest.mark.parametrize("ack", ["ok", "got it", "thanks 👍"])
def test_an_acknowledgement_in_a_thread_runs_no_script(connected, fake_slack: FakeSlack, ack: str):
    first = fake_slack.app_mention("run ops.system-load")
    fake_slack.send_event(first)
    thread_reply(fake_slack, first)
    fake_slack.send_event(fake_slack.message(ack, thread_ts=first["ts"]))
    replies = thread_reply(fake_slack, first, n=2)
    assert block_texts(replies[1])[0] == "👍"
    connected.drain()
    ledger = connected.bot.ledger
    assert [r["script"] for r in ledger.db["script_runs"].rows] == ["ops.system-load"]
    [follow_up] = [r["id"] for r in ledger.db["requests"].rows_where("text = ?", [ack])]
    assert [(d["tier"], d["script"]) for d in ledger.decisions_for(follow_up)] == [("none", None)]
