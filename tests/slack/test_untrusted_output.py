"""Untrusted text reaching Slack (script output, upstream error bodies, echoed user text, model output)
cannot ping everyone, mention people or disguise links; ANSI escapes never arrive; the bot's own
formatting still works. Over the real Bolt app and Socket Mode client against the fake Slack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.jobs.posters import SlackPoster
from bot.mrkdwn import for_terminal, sanitize, strip_ansi
from bot.pipeline import OpsBot
from bot.slack.webclient import make_web_client
from bot.startup import create_bot
from tests.fakes.slack_server import FakeSlack
from tests.slack.helpers import (
    GENERAL,
    block_texts,
    connect,
    demo_environ,
    demo_settings,
    make_slackbot,
    thread_reply,
    write_demo_registry,
)

# What a DNS TXT record or an API field can carry.
EVIL = ("TXT <!channel> ping <!here> and <@U0BOSS0001> "
        "<https://evil.example|https://acme.slack.com/sso> \x1b[31mred\x1b[0m")
HONEST = "<https://acme.atlassian.net/browse/ABC-1|ABC-1> Fix &lt;login&gt;"

SCRIPTS = {
    "demo.txt": f"printf '%s\\n' {json.dumps(EVIL)} {json.dumps(HONEST)}",
    "demo.upstream": f"printf 'demo.upstream: GET /v1: HTTP 500: %s\\n' {json.dumps(EVIL)} >&2; exit 4",
    "demo.top": 'echo "top $*"',
    "demo.say": 'echo "$*"',
}
ENTRIES = [
    {"name": "demo.txt", "summary": "TXT records", "side_effects": "read", "patterns": [r"^txt records$"]},
    {"name": "demo.upstream", "summary": "Upstream error", "side_effects": "read", "patterns": [r"^upstream$"]},
    {"name": "demo.top", "summary": "Top N", "side_effects": "read",
     "args": [{"name": "limit", "type": "int", "required": True}]},
    {"name": "demo.say", "summary": "Say", "side_effects": "read", "args": [{"name": "text"}]},
]


def _assert_safe(text: str) -> None:
    for bad in ("<!channel>", "<!here>", "<@U0BOSS0001>", "<https://evil.example", "\x1b"):
        assert bad not in text, (bad, text)


@pytest.fixture
def evil_bot(tmp_path: Path) -> OpsBot:
    write_demo_registry(tmp_path, SCRIPTS, ENTRIES)
    bot = OpsBot(demo_settings(tmp_path), environ=demo_environ(tmp_path))
    assert not bot.registry.problems
    return bot


def test_script_output_and_upstream_errors_arrive_escaped(evil_bot, fake_slack: FakeSlack):
    sb = make_slackbot(evil_bot, fake_slack)
    try:
        with connect(sb.app, fake_slack):
            for text in ("txt records", "upstream"):
                event = fake_slack.app_mention(text)
                fake_slack.send_event(event)
                message = thread_reply(fake_slack, event)[0]
                shown = "\n".join(block_texts(message)) + message["text"]
                _assert_safe(shown)
                assert "&lt;!channel&gt;" in shown and "&lt;https://evil.example|https://acme.slack.com/sso&gt;" in shown
            first = [m for m in fake_slack.calls_to("chat.postMessage")][0]
            body = block_texts(first)[0] if first.get("blocks") else first["text"]
            assert HONEST in body                                   # the script's own honest link still works
            context = block_texts(thread_reply(fake_slack, event)[0])[-1]
            assert context.startswith("script `demo.upstream`")     # the bot's own formatting is untouched
    finally:
        sb.close()


def test_echoed_user_text_in_a_run_refusal_is_escaped(evil_bot, fake_slack: FakeSlack):
    sb = make_slackbot(evil_bot, fake_slack)
    try:
        with connect(sb.app, fake_slack):
            ack = fake_slack.wait_for_ack(fake_slack.send_slash_command("/run", "demo.top --limit <!channel>"))
            text = json.dumps(ack.payload)
            assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    finally:
        sb.close()


def test_job_and_heartbeat_posts_are_escaped(fake_slack: FakeSlack):
    poster = SlackPoster(make_web_client(fake_slack.bot_token, fake_slack.api_url))
    poster.post(GENERAL, f"job failed: {EVIL}")
    posted = fake_slack.calls_to("chat.postMessage")[-1]
    _assert_safe(posted["text"])


def test_model_output_arrives_escaped(tmp_path, fake_slack: FakeSlack, fake_anthropic):
    write_demo_registry(tmp_path, SCRIPTS, ENTRIES)
    settings = demo_settings(tmp_path, anthropic_api_key="test-key", anthropic_base_url=fake_anthropic.base_url,
                             bot_llm_max_retries=0)
    sb = make_slackbot(create_bot(settings, demo_environ(tmp_path)), fake_slack)
    fake_anthropic.reply_text(f"Here you go: {EVIL}")
    try:
        with connect(sb.app, fake_slack):
            event = fake_slack.app_mention("what do you make of the weather on friday afternoons")
            fake_slack.send_event(event)
            message = thread_reply(fake_slack, event)[0]
            shown = "\n".join(block_texts(message)) + message["text"]
            _assert_safe(shown)
            assert "&lt;!here&gt;" in shown and block_texts(message)[-1].startswith("direct · ")
    finally:
        sb.close()


@pytest.mark.parametrize(("raw", "safe"), [
    ("<!channel>", "&lt;!channel&gt;"),
    ("<!subteam^S123|@oncall>", "&lt;!subteam^S123|@oncall&gt;"),
    ("<#C123|general>", "&lt;#C123|general&gt;"),
    ("<https://evil.example|acme.slack.com>", "&lt;https://evil.example|acme.slack.com&gt;"),
    ("<javascript:alert(1)|x>", "&lt;javascript:alert(1)|x&gt;"),
    # a host name shown with look-alike dots, full-width forms or invisible characters is still a host name
    ("<https://evil.example|acme。slack。com>", "&lt;https://evil.example|acme。slack。com&gt;"),
    ("<https://evil.example|acme．slack．com/sso>", "&lt;https://evil.example|acme．slack．com/sso&gt;"),
    ("<https://evil.example|acme\u200b.slack.com>", "&lt;https://evil.example|acme\u200b.slack.com&gt;"),
    ("<https://evil.example|https：／／acme.slack.com>", "&lt;https://evil.example|https：／／acme.slack.com&gt;"),
    ("<https://ci.acme.io/run/7|run 7>", "<https://ci.acme.io/run/7|run 7>"),
    ("<https://docs.acme.io/x|docs.acme.io>", "<https://docs.acme.io/x|docs.acme.io>"),
    ("<https://acme.io>", "<https://acme.io>"),
    ("a & b &amp; c > d", "a &amp; b &amp; c &gt; d"),
    ("\x1b[1;31mbold red\x1b[0m \x1b]0;title\x07x", "bold red x"),
])
def test_sanitize(raw, safe):
    assert sanitize(raw) == safe
    assert sanitize(safe) == safe                                  # idempotent: safe to apply twice


def test_terminal_shows_plain_text_without_escapes():
    assert for_terminal(sanitize("<!here> & \x1b[2Jcleared")) == "<!here> & cleared"
    assert strip_ansi("\x9b31mx") == "x"


def test_a_ledger_fault_still_gets_the_user_a_reply(opsbot, fake_slack: FakeSlack):
    """Locked past the busy timeout (shortened here): the person still hears back, in one plain line."""
    import sqlite3

    from bot.request import Incoming

    sb = make_slackbot(opsbot, fake_slack)
    try:
        opsbot.ledger.db.execute("PRAGMA busy_timeout = 50")
        other = sqlite3.connect(opsbot.ledger.path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            sb.answer(Incoming("what is the demo status", user="U0ALICE001", channel=GENERAL, source="slack"),
                      channel=GENERAL, thread_ts=None)
        finally:
            other.execute("ROLLBACK")
            other.close()
        posts = fake_slack.calls_to("chat.postMessage")
        assert len(posts) == 1 and "my ledger is busy; try again in a moment" in posts[0]["text"]
    finally:
        sb.close()


def test_nul_byte_in_a_run_command_gets_a_clear_answer(evil_bot, fake_slack: FakeSlack):
    sb = make_slackbot(evil_bot, fake_slack)
    try:
        with connect(sb.app, fake_slack):
            fake_slack.send_slash_command("/run", "demo.say --text a\x00b")
            answer = fake_slack.wait_for(lambda: fake_slack.responses)[0]
            sb.drain()
        assert "an argument contains a NUL byte" in json.dumps(answer)
        assert sb.metrics["failures"] == 0
        assert not list(evil_bot.ledger.db["script_runs"].rows_where("status != 'usage'"))
    finally:
        sb.close()


def test_a_dns_txt_record_with_a_broadcast_arrives_escaped(tmp_path, fake_slack: FakeSlack, monkeypatch):
    """The real ops.dns-lookup against a local DNS server whose TXT record carries Slack markup."""
    from bot.config import PROJECT_ROOT, load_settings
    from tests.scripts.test_ops import ZONE, FakeDNS

    monkeypatch.setitem(ZONE, ("evil.example.test", "TXT"),
                        [("TXT", 120, ["<!channel> log in at <https://evil.example|https://acme.slack.com/sso>"])])
    dns = FakeDNS()
    (tmp_path / "home").mkdir()
    bot = OpsBot(load_settings(bot_home=tmp_path / "home", bot_registry=PROJECT_ROOT / "registry",
                               bot_scripts=PROJECT_ROOT / "scripts", bot_skills=PROJECT_ROOT / "skills"),
                 environ=demo_environ(tmp_path))
    sb = make_slackbot(bot, fake_slack)
    try:
        with connect(sb.app, fake_slack):
            event = fake_slack.app_mention(f"run ops.dns-lookup --name evil.example.test --type TXT "
                                           f"--server 127.0.0.1:{dns.port}")
            fake_slack.send_event(event)
            message = thread_reply(fake_slack, event)[0]
        shown = "\n".join(block_texts(message)) + message["text"]
        assert "evil.example.test" in shown and "TXT" in shown, shown
        _assert_safe(shown)
        assert "&lt;!channel&gt;" in shown
    finally:
        sb.close()
        dns.close()
