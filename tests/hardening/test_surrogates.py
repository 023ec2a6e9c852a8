"""Undecodable input never ends a request in an encoding error (issue 11, item 4): bytes that are not
UTF-8 in argv or on the console's stdin arrive as lone surrogates (Python's surrogateescape), and a
Slack JSON body may carry a `\\ud800` escape. No database can store them: every such request ended in
"internal error (UnicodeEncodeError)" with no ledger row and no reply."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings
from bot.console import repl
from bot.request import Incoming, storable
from bot.startup import create_bot


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BOT_CONFIG", str(tmp_path / "none.yaml"))
    monkeypatch.setenv("BOT_SCHEDULER", "false")
    for var in ("ANTHROPIC_API_KEY", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def texts(env: Path) -> list[str]:
    with sqlite3.connect(env / "home" / "ledger.db") as db:
        return [row[0] for row in db.execute("SELECT text FROM requests")]


def test_storable_replaces_lone_surrogates_only() -> None:
    assert storable("a\udcffb\ud800 \U0001f600 ok") == "a\ufffdb\ufffd \U0001f600 ok"


def test_undecodable_argv_gets_an_answer_and_a_ledger_row(env: Path, capsys) -> None:
    main(["ask", "hello \udcff there"])
    out, err = capsys.readouterr()
    assert "internal error" not in err and "ANTHROPIC_API_KEY" in out
    assert main(["run", "ops.dns-lookup", "--name", "a\udcffb"]) == 1
    out, err = capsys.readouterr()
    assert "internal error" not in err and "ops.dns-lookup" in out
    assert "hello \ufffd there" in texts(env)


def test_a_slack_text_with_an_escaped_lone_surrogate_is_answered(env: Path) -> None:
    bot = create_bot(Settings())
    reply = bot.handle(Incoming(text="hello \ud800 there", user="U1", channel="C1", source="slack",
                                thread=[{"user": "U2", "text": "earlier \udc80"}]))
    assert reply.outcome == "refused" and "ANTHROPIC_API_KEY" in reply.text
    assert texts(env) == ["hello \ufffd there"]


def test_the_console_goes_on_after_a_non_utf8_line(env: Path, capsys) -> None:
    bot = create_bot(Settings())
    assert repl(bot, stdin=io.StringIO("hello \udcff\udcfe there\nrun ops.disk-usage\n")) == 0
    assert "internal error" not in capsys.readouterr().err
    assert len(texts(env)) == 2
