"""Budget semantics (issue 11, item 6): BOT_DAILY_BUDGET_USD=0 means no LLM spend at all (scripts still
work, LLM requests get one line); no cap needs an explicit `none`/`off`. The real SDK against the fake
Messages API, settings from the environment as `bot` reads them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.jobs.checks import check_spend
from bot.ledger import Ledger
from bot.request import Incoming
from bot.startup import create_bot
from tests.fakes.anthropic_server import FakeAnthropic

NOTES = {"name": "demo.notes", "summary": "Today's deploy notes", "side_effects": "read"}


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_anthropic: FakeAnthropic) -> Path:
    for folder in ("registry", "skills", "scripts/demo", "home"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "registry" / "demo.yaml").write_text(yaml.safe_dump({"scripts": [NOTES]}))
    script = tmp_path / "scripts" / "demo" / "notes"
    script.write_text("#!/bin/sh\necho deployed web v2\n")
    script.chmod(0o755)
    for var, value in {"BOT_HOME": tmp_path / "home", "BOT_REGISTRY": tmp_path / "registry",
                       "BOT_SCRIPTS": tmp_path / "scripts", "BOT_SKILLS": tmp_path / "skills",
                       "BOT_CONFIG": tmp_path / "none.yaml", "ANTHROPIC_API_KEY": "test-key",
                       "ANTHROPIC_BASE_URL": fake_anthropic.base_url, "BOT_LLM_MAX_RETRIES": "0"}.items():
        monkeypatch.setenv(var, str(value))
    for var in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def ask(text: str):
    return create_bot(load_settings()).handle(Incoming(text, user="U1", channel="C1", source="slack"))


def test_zero_means_no_llm_spend_at_all(monkeypatch, fake_anthropic: FakeAnthropic, capsys) -> None:
    monkeypatch.setenv("BOT_DAILY_BUDGET_USD", "0")
    fake_anthropic.reply_text("A blue-green deploy switches traffic between two environments.")
    reply = ask("explain blue-green deploys")
    assert fake_anthropic.message_requests == []
    assert reply.outcome == "refused" and "\n" not in reply.text
    assert reply.text.startswith("LLM spend is switched off here (BOT_DAILY_BUDGET_USD=0)")
    assert main(["ask", "explain blue-green deploys"]) == 1 and fake_anthropic.message_requests == []
    script = ask("run demo.notes")                        # scripts still work
    assert (script.outcome, script.text, script.tokens) == ("ok", "deployed web v2", 0)


@pytest.mark.parametrize("value", ["none", "off", "NONE"])
def test_no_cap_is_an_explicit_value(env: Path, monkeypatch, fake_anthropic: FakeAnthropic, value: str) -> None:
    monkeypatch.setenv("BOT_DAILY_BUDGET_USD", value)
    Ledger(env / "home" / "ledger.db").record_llm_call(request_id=None, model="claude-sonnet-5-5",
                                                      purpose="earlier", cost_usd=5000.0)
    fake_anthropic.reply_text("Two environments, one switch.")
    reply = ask("explain blue-green deploys")
    assert reply.outcome == "ok" and reply.text.startswith("Two environments, one switch.")
    assert len(fake_anthropic.message_requests) == 1


@pytest.mark.parametrize("value", ["", "lots", "-1"])
def test_a_budget_that_is_not_a_number_or_none_is_a_config_error(monkeypatch, capsys, value: str) -> None:
    monkeypatch.setenv("BOT_DAILY_BUDGET_USD", value)
    with pytest.raises(ConfigError, match="BOT_DAILY_BUDGET_USD"):
        load_settings()
    assert main(["route", "x"]) == 2
    assert capsys.readouterr().err.startswith("bot: invalid configuration: BOT_DAILY_BUDGET_USD: ")


def test_the_heartbeat_says_which_one_it_is(env: Path) -> None:
    ledger = Ledger(env / "home" / "ledger.db")
    now = dt.datetime.now(dt.UTC)
    assert "LLM spend is off" in check_spend(ledger, 0.0, now).detail
    assert "no budget set" in check_spend(ledger, None, now).detail
