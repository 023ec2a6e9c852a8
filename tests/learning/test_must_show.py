"""The issue's must-show, through the `bot` command: learn → apply → route at 0 tokens → check → replay."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from bot.config import PROJECT_ROOT
from tests.learning.helpers import DISK, copy_registry, make_bot, orchestrated


@pytest.fixture
def env(tmp_path, monkeypatch):
    copy_registry(tmp_path)
    for name, value in {"BOT_HOME": tmp_path / "home", "BOT_REGISTRY": tmp_path / "registry",
                        "BOT_SCRIPTS": PROJECT_ROOT / "scripts", "BOT_SKILLS": PROJECT_ROOT / "skills"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    return tmp_path


def _json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_learn_apply_route_check_replay(env, fake_anthropic, capsys):
    bot = make_bot(env, fake_anthropic)
    first = orchestrated(bot, fake_anthropic, DISK, "ops.disk-usage", channel="C1", thread_ts="1.0")
    orchestrated(bot, fake_anthropic, DISK.capitalize() + "?", "ops.disk-usage", channel="C1", thread_ts="2.0")
    assert first.tokens > 0
    bot.ledger.close()

    learned = _json(capsys, ["learn", "--json"])
    assert set(learned) == {"suggestions", "refused"}
    [suggestion] = learned["suggestions"]
    assert suggestion["script"] == "ops.disk-usage" and suggestion["support"] == 2
    assert suggestion["example"].lower().rstrip("?") == DISK and first.request_id in suggestion["requests"]

    assert main(["learn", "--apply"]) == 0
    capsys.readouterr()
    text = (env / "registry" / "learned.yaml").read_text()
    assert "ops.disk-usage" in text and DISK in text.lower()
    assert (env / "registry" / "scripts" / "ops.yaml").read_text() == (
        PROJECT_ROOT / "registry" / "scripts" / "ops.yaml").read_text()

    routed = _json(capsys, ["route", "--json", DISK])
    assert routed["tier"] == "script" and routed["script"] == "ops.disk-usage"
    assert main(["registry", "check"]) == 0
    assert "registry ok" in capsys.readouterr().out

    replayed = _json(capsys, ["replay", "--json"])
    assert set(replayed) == {"requests", "changed", "now_zero_token", "regressions", "changes"}
    assert replayed["requests"] == 2 and replayed["changed"] == 2 and replayed["now_zero_token"] == 2
    assert replayed["regressions"] == 0
    change = next(c for c in replayed["changes"] if c["request"] == first.request_id)
    assert change == {"request": first.request_id, "text": DISK, "was": "orchestrator", "now": "ops.disk-usage"}

    again = _json(capsys, ["learn", "--json"])      # learned: nothing left to suggest
    assert again["suggestions"] == []


def test_replay_and_learn_read_the_shared_ledger_of_bot_database_url(env, fake_anthropic, pg_url, capsys,
                                                                    monkeypatch):
    """With BOT_DATABASE_URL set the history is in PostgreSQL, not in BOT_HOME: replay and learn read it."""
    bot = make_bot(env, fake_anthropic, bot_database_url=pg_url)
    first = orchestrated(bot, fake_anthropic, DISK, "ops.disk-usage")
    bot.ledger.close()
    monkeypatch.setenv("BOT_DATABASE_URL", pg_url)

    [suggestion] = _json(capsys, ["learn", "--json"])["suggestions"]
    assert suggestion["script"] == "ops.disk-usage" and suggestion["requests"] == [first.request_id]
    assert main(["learn", "--apply"]) == 0
    capsys.readouterr()
    replayed = _json(capsys, ["replay", "--json"])
    assert replayed["requests"] == 1 and replayed["now_zero_token"] == 1
    assert replayed["changes"] == [{"request": first.request_id, "text": DISK, "was": "orchestrator",
                                    "now": "ops.disk-usage"}]
