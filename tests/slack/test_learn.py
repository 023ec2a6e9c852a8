"""/ops learn over the real Bolt app and Socket Mode against the fake Slack: suggestions with Apply /
Skip buttons for BOT_ADMINS only, applying writes learned.yaml; a 👎 reaction records a negative."""

from __future__ import annotations

import pytest

from bot.slack import blocks as bk
from bot.slack.learn import APPLY_ACTION, SKIP_ACTION
from bot.startup import create_bot
from tests.fakes.slack_server import ALICE, BOB, FakeSlack, reaction_added_event
from tests.slack.helpers import (
    button,
    click,
    connect,
    demo_environ,
    demo_settings,
    make_slackbot,
    thread_reply,
)

HEALTHY = "tell me whether the demo thing is healthy"
HOLDING = "how is the demo holding up"


@pytest.fixture
def admin_bot(root, fake_slack: FakeSlack, fake_anthropic):
    bot = create_bot(demo_settings(root, bot_admins=f" {ALICE} ,UOTHER", anthropic_api_key="test-key",
                                   anthropic_base_url=fake_anthropic.base_url, bot_daily_budget_usd=1000,
                                   bot_llm_max_retries=0), environ=demo_environ(root))
    sb = make_slackbot(bot, fake_slack)
    with connect(sb.app, fake_slack):
        yield sb
    sb.close(timeout=5)


def _ask_via_model(sb, fake: FakeSlack, fake_anthropic, text: str) -> None:
    assert sb.bot.router.route(text).tier == "orchestrator"
    fake_anthropic.reply_tool_use("run_script", {"name": "demo.status", "reason": "status question"})
    fake_anthropic.reply_text("All systems go.")
    event = fake.app_mention(text)
    fake.send_event(event)
    thread_reply(fake, event)
    sb.drain()


def _ops_learn(fake: FakeSlack, user: str) -> dict:
    before = len(fake.responses)
    fake.send_slash_command("/ops", "learn", user_id=user)
    response = fake.wait_for(lambda: fake.responses[before:], timeout=10)[0]
    assert response["response_type"] == "ephemeral"
    return response


def _after_click(fake: FakeSlack, action: str, value: str, user: str) -> dict:
    before = click(fake, action, value, user)
    return fake.wait_for(lambda: fake.responses[before:], timeout=10)[0]


def test_ops_learn_buttons_are_for_admins_and_apply_writes_learned_yaml(admin_bot, fake_slack, fake_anthropic, root):
    _ask_via_model(admin_bot, fake_slack, fake_anthropic, HEALTHY)
    _ask_via_model(admin_bot, fake_slack, fake_anthropic, HOLDING)

    refused = _ops_learn(fake_slack, BOB)
    assert "Only admins (BOT_ADMINS)" in refused["text"] and not any(
        button(refused, a) for a in (APPLY_ACTION, SKIP_ACTION))

    shown = _ops_learn(fake_slack, ALICE)
    first_button = button(shown, APPLY_ACTION)
    values = [e["value"] for block in shown["blocks"] for e in block.get("elements") or []
              if e.get("action_id") == APPLY_ACTION]
    assert sorted(values) == sorted([f"demo.status|{HEALTHY}", f"demo.status|{HOLDING}"])
    assert first_button["style"] == "primary" and button(shown, SKIP_ACTION)

    learned = root / "registry" / "learned.yaml"
    bob_click = _after_click(fake_slack, APPLY_ACTION, f"demo.status|{HEALTHY}", BOB)
    assert "Only admins" in bob_click["text"] and not learned.exists()

    done = _after_click(fake_slack, APPLY_ACTION, f"demo.status|{HEALTHY}", ALICE)
    assert done["text"].startswith("Learned: “tell me whether the demo thing is healthy” → `demo.status`")
    assert HEALTHY in learned.read_text()
    decision = admin_bot.bot.router.route(HEALTHY)                 # this process answers it at 0 tokens now
    assert (decision.tier, decision.script) == ("script", "demo.status")

    skipped = _after_click(fake_slack, SKIP_ACTION, f"demo.status|{HOLDING}", ALICE)
    assert skipped["text"].startswith("Skipped:") and HOLDING not in learned.read_text()
    again = _ops_learn(fake_slack, ALICE)
    assert "Nothing to learn right now" in again["text"] and not button(again, APPLY_ACTION)


def test_a_thumbs_down_reaction_on_a_script_answer_records_a_negative(admin_bot, fake_slack, root):
    event = fake_slack.app_mention("what is the demo status")
    fake_slack.send_event(event)
    reply = thread_reply(fake_slack, event)[0]
    request_id = button(reply, bk.WHY_ACTION)["value"]
    admin_bot.drain()
    fake_slack.wait_for_ack(fake_slack.send_event(reaction_added_event("-1", item_ts=reply["ts"], user=BOB)))
    admin_bot.drain()
    learned = (root / "registry" / "learned.yaml").read_text()
    assert "negatives:" in learned and "what is the demo status" in learned and request_id in learned
    decision = admin_bot.bot.router.route("What is the demo status?")
    assert decision.tier == "orchestrator" and "👎" in decision.reason
