"""LLM tiers through Slack: create_bot with ANTHROPIC_API_KEY + ANTHROPIC_BASE_URL pointed at the fake
Anthropic API, so the real orchestrator and SDK run behind the real Bolt app and Socket Mode client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.slack import blocks as bk
from bot.slack.bot import SlackBot
from bot.startup import create_bot
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.slack_server import ALICE, BOB, FakeSlack
from tests.slack.helpers import (
    block_texts,
    button,
    click,
    connect,
    demo_environ,
    demo_settings,
    make_slackbot,
    runs,
    thread_reply,
)

DM = "D0ALICEDM1"


@pytest.fixture
def llm_slackbot(root, fake_slack: FakeSlack, fake_anthropic: FakeAnthropic) -> Iterator[SlackBot]:
    settings = demo_settings(root, anthropic_api_key="test-key", anthropic_base_url=fake_anthropic.base_url,
                             bot_llm_max_retries=0, bot_user_rate_per_min=2)
    bot = create_bot(settings, demo_environ(root))
    assert bot.orchestrator is not None, "create_bot with ANTHROPIC_API_KEY set must wire the orchestrator"
    sb = make_slackbot(bot, fake_slack)
    fake_slack.add_channel(DM, "alice-dm", is_im=True, user=ALICE)
    with connect(sb.app, fake_slack):
        yield sb
    sb.close(timeout=5)


def _dm(fake: FakeSlack, text: str, user: str = ALICE, channel: str = DM) -> dict:
    event = fake.message(text, user=user, channel=channel, channel_type="im")
    fake.send_event(event)
    return thread_reply(fake, event, channel=channel)[0]


def test_dm_is_answered_on_the_llm_tier(llm_slackbot, fake_slack: FakeSlack, fake_anthropic: FakeAnthropic):
    fake_anthropic.reply_text("Fridays are red because the nightly job overlaps the deploy window.")
    reply = _dm(fake_slack, "why is the build red on friday afternoons")
    section, context = block_texts(reply)
    assert section == "Fridays are red because the nightly job overlaps the deploy window."
    assert context.startswith("direct · claude-sonnet-5-5 · ") and " tokens · $" in context
    sent = fake_anthropic.message_requests[0]
    assert "why is the build red on friday afternoons" in str(sent.messages)
    llm_slackbot.drain()
    request_id = button(reply, bk.WHY_ACTION)["value"]
    decision = llm_slackbot.ledger.decisions_for(request_id)[0]
    assert (decision["tier"], decision["decided_by"]) == ("direct", "orchestrator")
    assert llm_slackbot.ledger.llm_calls_for(request_id)[0]["model"] == "claude-sonnet-5-5"


def test_llm_tool_call_is_checked_for_the_requesting_user(llm_slackbot, fake_slack: FakeSlack,
                                                          fake_anthropic: FakeAnthropic):
    fake_anthropic.reply_tool_use("run_script", {"name": "demo.finance", "reason": "finance numbers"})
    fake_anthropic.reply_text("I can't show you the finance numbers.")
    reply = _dm(fake_slack, "how is revenue doing compared with last month, and why")
    assert block_texts(reply)[0] == "I can't show you the finance numbers."
    tool_result = str(fake_anthropic.message_requests[1].messages[-1])
    assert "You are not allowed to run `demo.finance` here." in tool_result
    llm_slackbot.drain()
    assert list(llm_slackbot.ledger.db["script_runs"].rows) == []


def test_write_proposed_by_the_llm_waits_for_the_requesters_confirmation(llm_slackbot, fake_slack: FakeSlack,
                                                                        fake_anthropic: FakeAnthropic, root):
    fake_anthropic.reply_tool_use("run_script", {"name": "demo.restart", "args": {"service": "web"},
                                                 "reason": "user asked to restart web"})
    fake_anthropic.reply_text("I'll restart web once you confirm.")
    event = fake_slack.message("could you bounce the web service for me, it is stuck", channel=DM,
                               channel_type="im")
    fake_slack.send_event(event)
    prompt = fake_slack.wait_for(lambda: fake_slack.ephemerals)[0]
    assert prompt["recipient"] == ALICE and "```demo.restart --service web```" in block_texts(prompt)[0]
    assert runs(root) == []
    click(fake_slack, bk.CONFIRM_ACTION, button(prompt, bk.CONFIRM_ACTION)["value"], ALICE, message_ts=prompt["ts"],
          channel_id=DM)
    reply = thread_reply(fake_slack, event, channel=DM)[0]
    assert block_texts(reply)[0] == "restarted --service=web"
    llm_slackbot.drain()
    assert runs(root) == ["--service=web"]


def test_llm_requests_are_rate_limited_per_user_with_a_friendly_reply(llm_slackbot, fake_slack: FakeSlack,
                                                                      fake_anthropic: FakeAnthropic):
    fake_anthropic.set_responder(lambda request: None)      # echo
    for _ in range(2):
        _dm(fake_slack, "explain our deploy process")
    limited = block_texts(_dm(fake_slack, "explain our deploy process"))[0]
    assert limited.startswith(":snail: You're asking faster than I can think: I take up to 2 questions a minute")
    assert len(fake_anthropic.message_requests) == 2
    assert block_texts(_dm(fake_slack, "what is the demo status"))[0] == "all systems go"   # scripts: no limit
    bob_dm = "D0BOBDM001"
    fake_slack.add_channel(bob_dm, "bob-dm", is_im=True, user=BOB)
    assert not block_texts(_dm(fake_slack, "explain our deploy process", user=BOB, channel=bob_dm))[0] \
        .startswith(":snail:")
    llm_slackbot.drain()
    refused = list(llm_slackbot.ledger.db["decisions"].rows_where("decided_by = 'rate-limit'"))
    assert len(refused) == 1
