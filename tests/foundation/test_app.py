"""The request pipeline: ACL, confirmation of writes, replies that always come, secrets kept out."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from bot.config import load_settings
from bot.pipeline import OpsBot
from bot.request import Incoming
from tests.foundation.helpers import write_registry, write_script

COUNTER = """
import os, sys
path = os.path.join(os.environ["HOME"], "runs.txt")
with open(path, "a") as fh:
    fh.write(" ".join(sys.argv[1:]) + "\\n")
print("done:", " ".join(sys.argv[1:]))
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def bot(request, tmp_path):
    """The pipeline on a SQLite ledger, then on a real PostgreSQL (tests/postgres.py)."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    write_script(tmp_path, "demo.status", "print('all systems go')\n")
    write_script(tmp_path, "demo.write", COUNTER)
    write_script(tmp_path, "demo.boom", "raise SystemExit(4)\n")
    write_script(tmp_path, "demo.leak", "print('key is xoxb-123456789012-abcdefabcdef')\n")
    write_registry(tmp_path, [
        {"name": "demo.status", "summary": "Status of the demo system",
         "examples": ["what is the demo status", "is the demo system ok"]},
        {"name": "demo.write", "summary": "Change the demo", "side_effects": "write",
         "args": [{"name": "value", "required": True}]},
        {"name": "demo.boom", "summary": "Always fails", "examples": ["explode the boom thing"]},
        {"name": "demo.leak", "summary": "Prints a token", "examples": ["leaky output please"]},
        {"name": "demo.secret", "path": "demo/status", "summary": "Finance only numbers",
         "examples": ["finance only numbers"], "allowed": {"users": ["UFIN"], "channels": ["CFIN"]}},
    ])
    settings = load_settings(bot_home=tmp_path / "home", bot_registry=tmp_path / "registry",
                             bot_scripts=tmp_path / "scripts", bot_skills=tmp_path / "skills",
                             bot_database_url=url)
    home = tmp_path / "home"
    home.mkdir()
    return OpsBot(settings, environ={"PATH": os.environ["PATH"], "HOME": str(home)})


def slack(text, user="U1", channel="C1", **kw):
    return Incoming(text, user=user, channel=channel, source="slack", **kw)


def runs(bot):
    path = bot.settings.bot_home / "runs.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_script_answer_is_recorded_at_zero_tokens(bot):
    reply = bot.handle(slack("is the demo system ok?"))
    assert reply.text == "all systems go"
    assert (reply.tier, reply.script, reply.tokens, reply.outcome) == ("script", "demo.status", 0, "ok")
    assert reply.why_line().startswith("script `demo.status` · 0 tokens")
    row = bot.ledger.get_request(reply.request_id)
    assert row["outcome"] == "ok" and row["latency_ms"] is not None
    decision = bot.ledger.decisions_for(reply.request_id)[0]
    assert (decision["tier"], decision["decided_by"], decision["script"]) == ("script", "pre-router", "demo.status")


def test_write_script_waits_for_the_requester(bot):
    reply = bot.handle(slack("run demo.write --value 42", user="UA"))
    assert reply.outcome == "awaiting_confirmation" and reply.confirmation
    assert runs(bot) == []
    other = bot.resolve_confirmation(reply.confirmation.id, slack("", user="UB"), approve=True)
    assert other.outcome == "refused" and "Only <@UA>" in other.text
    assert runs(bot) == []
    done = bot.resolve_confirmation(reply.confirmation.id, slack("", user="UA"), approve=True)
    assert done.outcome == "ok" and "done: --value=42" in done.text
    again = bot.resolve_confirmation(reply.confirmation.id, slack("", user="UA"), approve=True)
    assert again.outcome == "refused"
    assert runs(bot) == ["--value=42"]
    row = next(bot.ledger.db["confirmations"].rows)
    assert (row["status"], row["decided_by"]) == ("confirmed", "UA")


def test_cancel_and_expiry_are_recorded(bot):
    reply = bot.handle(slack("run demo.write --value 1", user="UA"))
    cancelled = bot.resolve_confirmation(reply.confirmation.id, slack("", user="UA"), approve=False)
    assert cancelled.outcome == "cancelled"
    assert bot.ledger.get_request(reply.request_id)["outcome"] == "cancelled"

    reply = bot.handle(slack("run demo.write --value 2", user="UA"))
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat(timespec="seconds")
    bot.ledger.db["confirmations"].update(reply.confirmation.id, {"expires_at": past})
    assert bot.expire_confirmations() == 1
    late = bot.resolve_confirmation(reply.confirmation.id, slack("", user="UA"), approve=True)
    assert late.outcome == "refused" and "expired" in late.text
    assert runs(bot) == []
    statuses = sorted(r["status"] for r in bot.ledger.db["confirmations"].rows)
    assert statuses == ["cancelled", "expired"]


def test_acl_is_the_requesting_users(bot):
    refused = bot.handle(slack("finance only numbers", user="UX", channel="CFIN"))
    assert refused.outcome == "refused" and "not allowed" in refused.text
    wrong_channel = bot.handle(slack("run demo.secret", user="UFIN", channel="CGEN"))
    assert wrong_channel.outcome == "refused"
    allowed = bot.handle(slack("run demo.secret", user="UFIN", channel="CFIN"))
    assert allowed.outcome == "ok"


def test_upstream_failure_says_which_service(bot):
    reply = bot.handle(slack("run demo.boom"))
    assert reply.outcome == "error"
    assert "Demo API error in `demo.boom`" in reply.text


def test_secrets_never_reach_replies_or_the_ledger(bot):
    reply = bot.handle(slack("leaky output please"))
    assert "xoxb-" not in reply.text and "[REDACTED]" in reply.text
    bot.handle(slack("please use sk_live_abcdefghijklmnop for this"))
    dump = json.dumps([list(bot.ledger.db[t].rows) for t in bot.ledger.db.table_names()])
    assert "sk_live_abcdefghijklmnop" not in dump and "xoxb-123456789012" not in dump


def test_without_llm_the_reply_says_what_to_set(bot):
    reply = bot.handle(slack("why did the demo break yesterday?"))
    assert reply.outcome == "refused" and "ANTHROPIC_API_KEY" in reply.text
    assert bot.ledger.decisions_for(reply.request_id)[0]["tier"] == "none"


def test_a_crash_inside_the_pipeline_still_replies(bot, monkeypatch):
    def broken(text):
        raise RuntimeError("router exploded with xoxb-123456789012-abcdefabcdef")

    monkeypatch.setattr(bot.router, "route", broken)
    reply = bot.handle(slack("anything"))
    assert reply.outcome == "error" and reply.request_id in reply.text
    row = bot.ledger.get_request(reply.request_id)
    assert row["outcome"] == "error" and "RuntimeError" in row["error"] and "xoxb-1234" not in row["error"]
    assert row["answered_at"] is not None
