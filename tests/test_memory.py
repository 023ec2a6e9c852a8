"""Memory notes: the three commands at 0 tokens, files under BOT_HOME, redaction, lookups."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, Settings
from bot.memory import MemoryStore, parse_command
from bot.pipeline import OpsBot
from bot.redact import Redactor
from bot.request import Incoming


@pytest.fixture
def bot(tmp_path: Path) -> OpsBot:
    (tmp_path / "registry").mkdir()
    settings = Settings(bot_home=tmp_path / ".bot", bot_registry=tmp_path / "registry",
                        bot_scripts=tmp_path / "scripts", bot_skills=PROJECT_ROOT / "skills")
    return OpsBot(settings, environ={"STRIPE_API_KEY": "sk_live_zzzzzz999999"})


def say(bot: OpsBot, text: str, user: str = "U1"):
    return bot.handle(Incoming(text, user=user, source="slack", channel="C1"))


@pytest.mark.parametrize("text, expected", [
    ("remember that deploys freeze on Fridays", ("remember", "deploys freeze on Fridays")),
    ("<@U0BOT> please remember: the VPN is vpn.example.com", ("remember", "the VPN is vpn.example.com")),
    ("forget deploys-freeze-fridays", ("forget", "deploys-freeze-fridays")),
    ("forget about the VPN.", ("forget", "the VPN")),
    ("what do you remember about deploys?", ("recall", "deploys")),
    ("What do you remember?", ("recall", "")),
    ("do you remember how to deploy?", None),
    ("remember to deploy", None),
    ("how do I forget a git commit", None),
])
def test_parse_command(text: str, expected) -> None:
    assert parse_command(text) == expected


def test_remember_recall_forget_at_zero_tokens(bot: OpsBot) -> None:
    reply = say(bot, "remember that deploys freeze on Fridays after 15:00 CET. Hotfixes need two approvals.")
    assert reply.tier == "memory" and reply.decided_by == "command" and reply.tokens == 0 and reply.outcome == "ok"
    assert "`deploys-freeze-fridays-after-15-00`" in reply.text
    decisions = bot.ledger.decisions_for(reply.request_id)
    assert [(d["tier"], d["decided_by"], d["reason"]) for d in decisions] == [("memory", "command", "memory: remember")]
    path = bot.settings.memory_dir / "deploys-freeze-fridays-after-15-00.md"
    text = path.read_text()
    assert text.startswith("---\nsummary: Deploys freeze on Fridays after 15:00 CET\ncreated_by: U1\n")
    assert "Hotfixes need two approvals." in text

    assert "already remember" in say(bot, "remember that deploys freeze on Fridays after 15:00 CET. "
                                          "Hotfixes need two approvals.").text
    say(bot, "remember that the VPN endpoint is vpn.example.com")
    recall = say(bot, "what do you remember about deploys?")
    assert "Hotfixes need two approvals" in recall.text and "VPN" not in recall.text
    everything = say(bot, "what do you remember?")
    assert "2 thing(s)" in everything.text and "VPN" in everything.text

    assert "No note" not in (gone := say(bot, "forget the VPN")).text and "Forgot `vpn-endpoint" in gone.text
    assert "no note matching" in say(bot, "forget the VPN").text
    assert [n.name for n in bot.memory.notes()] == ["deploys-freeze-fridays-after-15-00"]
    assert bot.ledger.llm_calls_for(reply.request_id) == []


def test_forget_asks_when_several_match(bot: OpsBot) -> None:
    say(bot, "remember that staging deploys run at noon")
    say(bot, "remember that production deploys need approval")
    reply = say(bot, "forget deploys")
    assert "Several notes match" in reply.text and len(bot.memory.notes()) == 2


def test_secrets_never_reach_a_note(bot: OpsBot) -> None:
    reply = say(bot, "remember that the stripe key is sk_live_zzzzzz999999 and slack uses xoxb-1234567890-abcdefgh")
    assert "left secrets out" in reply.text
    body = bot.memory.notes()[0].body
    assert "sk_live_zzzzzz999999" not in body and "xoxb-1234567890" not in body and "[REDACTED]" in body


def test_store_lookups_are_safe(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "memory", Redactor())
    assert store.notes() == [] and store.index_lines() == []
    note, created = store.remember("On-call handover is Monday 10:00. Use the #oncall channel.", "U9")
    assert created and store.get(note.name) == note and store.get(f"{note.name}.md") == note
    assert store.get("../../etc/passwd") is None and store.get("") is None
    assert store.index_lines() == [f"{note.name}: On-call handover is Monday 10:00"]
    (tmp_path / "memory" / "hand-written.md").write_text("A note someone wrote by hand.\nMore detail.\n")
    assert store.get("hand-written").summary == "A note someone wrote by hand"


def test_a_hand_edited_note_is_redacted_when_read(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "memory", Redactor(["hunter2-very-secret"]))
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "db-login.md").write_text(
        "---\nsummary: DB login is hunter2-very-secret\n---\nUse hunter2-very-secret or ghp_abcdefghijklmnopqrstuvwxyz123456\n")
    note = store.get("db-login")
    assert note.summary == "DB login is [REDACTED]" and note.body == "Use [REDACTED] or [REDACTED]"
    assert "hunter2" not in "".join(store.index_lines()) + "".join(n.body for n in store.search("db login"))
