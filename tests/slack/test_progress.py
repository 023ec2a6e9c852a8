"""A premium answer in Slack: progress on ONE message (edited in place while the premium model streams),
which the answer then replaces — as text, or as a preview with the module attached as a file. Slack
redelivering the event, the premium model failing once (529) and a chat.update 500 still give exactly
one answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.slack.bot import SlackBot
from bot.startup import create_bot
from tests.fakes.anthropic_server import Failure, FakeAnthropic, Reply
from tests.fakes.slack_server import ALICE, FakeSlack
from tests.slack.helpers import block_texts, bot_replies, connect, demo_environ, demo_settings, make_slackbot
from tests.test_orchestrator import PerModel

DM = "D0ALICEDM1"
MID, PREMIUM = "claude-sonnet-5-5", "claude-opus-5-5"


@pytest.fixture
def sb(root, fake_slack: FakeSlack, fake_anthropic: FakeAnthropic) -> Iterator[SlackBot]:
    settings = demo_settings(root, anthropic_api_key="test-key", anthropic_base_url=fake_anthropic.base_url,
                             bot_llm_max_retries=2, bot_progress_interval_s=0.01,
                             bot_model_mid=MID, bot_model_premium=PREMIUM)
    bot = create_bot(settings, demo_environ(root))
    bot.orchestrator.llm.retry.backoff_base_s = 0.001
    slackbot = make_slackbot(bot, fake_slack)
    fake_slack.add_channel(DM, "alice-dm", is_im=True, user=ALICE)
    with connect(slackbot.app, fake_slack):
        yield slackbot
    slackbot.close(timeout=5)


def _ask(fake_slack: FakeSlack, text: str, *, redeliver: bool = False) -> dict:
    event = fake_slack.message(text, user=ALICE, channel=DM, channel_type="im")
    fake_slack.send_event(event, event_id="Ev0PREMIUM1")
    if redeliver:
        fake_slack.send_event(event, retry_attempt=1, retry_reason="timeout", event_id="Ev0PREMIUM1")
    return event


def test_premium_code_answer_shows_progress_on_one_message_then_one_file(
        sb: SlackBot, fake_slack: FakeSlack, fake_anthropic: FakeAnthropic) -> None:
    module = "```python title=retry.py\n" + "def retry(call):\n    return call()  # with jittered backoff\n" * 600 + "```"
    PerModel(fake_anthropic).on(MID, Reply.tool_use("delegate_premium", {"task": "Write retry.py."})).on(
        PREMIUM, Failure(529), Reply(content=[{"type": "text", "text": module}], chunk_delay=0.002))
    fake_slack.fail_next("chat.update", status=500)          # the WebClient retries it
    event = _ask(fake_slack, "write a python retry module with jittered backoff", redeliver=True)

    fake_slack.wait_for(lambda: fake_slack.files, timeout=10, message="(the module uploaded)")
    sb.drain()
    replies = bot_replies(fake_slack, DM, event["ts"])
    texts = [r for r in replies if not r.get("files")]
    assert len(texts) == 1, replies                          # the placeholder became the answer
    assert [f["name"] for r in replies for f in r.get("files") or []] == ["retry.py"]
    posts = [c for c in fake_slack.calls_to("chat.postMessage") if c.get("channel") == DM]
    assert len(posts) == 1 and "premium model" in posts[0]["text"] and "tokens so far" in posts[0]["text"]
    updates = fake_slack.calls_to("chat.update")
    assert len(updates) >= 3 and all(u["ts"] == texts[0]["ts"] for u in updates)
    assert any("writing" in u["text"] for u in updates)      # progress while the premium model streamed
    final = texts[0]
    shown = " ".join(block_texts(final))
    assert "attached as `retry.py`" in shown and "tokens so far" not in shown and "premium" in shown
    assert len(fake_slack.files) == 1
    premium = [r for r in fake_anthropic.message_requests if r.model == PREMIUM]
    assert len(premium) == 2 and all(r.body.get("stream") for r in premium)   # 529, then the answer


def test_short_premium_answer_replaces_the_placeholder_in_place(
        sb: SlackBot, fake_slack: FakeSlack, fake_anthropic: FakeAnthropic) -> None:
    PerModel(fake_anthropic).on(MID, Reply.tool_use("delegate_premium", {"task": "Explain the trace."})).on(
        PREMIUM, Reply.text("*Root cause:* the pool is exhausted."))
    event = _ask(fake_slack, "why does this stack trace happen?")
    fake_slack.wait_for(lambda: any("Root cause" in m["text"] for m in bot_replies(fake_slack, DM, event["ts"])),
                        timeout=10)
    sb.drain()
    replies = bot_replies(fake_slack, DM, event["ts"])
    assert len(replies) == 1 and replies[0]["text"].startswith("*Root cause:*")
    assert not fake_slack.files
