"""Access control for the requesting Slack user (never the bot's identity) on every path:
mention, slash command, button; the LLM tool-call path is in test_llm_tiers.py."""

from __future__ import annotations

from bot.slack import blocks as bk
from tests.fakes.slack_server import ALICE, BOB, GENERAL, FakeSlack
from tests.slack.helpers import ONCALL, block_texts, bot_posts, bot_replies, button, click, runs, thread_reply


def _answer(fake: FakeSlack, text: str, user: str) -> str:
    event = fake.app_mention(text, user=user)
    fake.send_event(event)
    return block_texts(thread_reply(fake, event)[0])[0]


def test_mention_is_checked_for_the_requesting_user(connected, fake_slack: FakeSlack):
    assert _answer(fake_slack, "finance numbers", ALICE) == "You are not allowed to run `demo.finance` here."
    assert _answer(fake_slack, "finance numbers", BOB) == "revenue is up"


def test_the_bots_own_identity_never_grants_access(connected, fake_slack: FakeSlack):
    assert connected.bot.registry.script("demo.botonly").allowed.users == [fake_slack.bot_user_id]
    assert _answer(fake_slack, "bot only thing", ALICE) == "You are not allowed to run `demo.botonly` here."
    assert _answer(fake_slack, "run demo.botonly", BOB) == "You are not allowed to run `demo.botonly` here."


def test_user_groups_are_looked_up_once_and_cached(connected, fake_slack: FakeSlack):
    fake_slack.add_usergroup(ONCALL, "oncall", [BOB])
    assert _answer(fake_slack, "pager state", ALICE) == "You are not allowed to run `demo.oncall` here."
    assert _answer(fake_slack, "pager state", BOB) == "pager is quiet"
    assert _answer(fake_slack, "pager state", BOB) == "pager is quiet"
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1


def test_slash_command_refusal_is_ephemeral(connected, fake_slack: FakeSlack):
    fake_slack.send_slash_command("/run", "demo.finance", user_id=ALICE)
    response = fake_slack.wait_for(lambda: fake_slack.responses)[0]
    assert response["response_type"] == "ephemeral"
    assert response["text"] == "You are not allowed to run `demo.finance` here."
    connected.drain()
    assert bot_posts(fake_slack) == []


def test_write_script_not_allowed_gets_no_prompt(connected, fake_slack: FakeSlack, root):
    fake_slack.add_usergroup(ONCALL, "oncall", [BOB])
    event = fake_slack.app_mention("run demo.deploy --service api", user=ALICE)
    fake_slack.send_event(event)
    assert block_texts(thread_reply(fake_slack, event)[0])[0] == "You are not allowed to run `demo.deploy` here."
    assert fake_slack.ephemerals == [] and runs(root) == []


def test_button_is_checked_again_at_the_click(connected, fake_slack: FakeSlack, root):
    fake_slack.add_usergroup(ONCALL, "oncall", [BOB])
    event = fake_slack.app_mention("run demo.deploy --service api", user=BOB)
    fake_slack.send_event(event)
    prompt = fake_slack.wait_for(lambda: fake_slack.ephemerals)[0]
    assert prompt["recipient"] == BOB
    fake_slack.add_usergroup(ONCALL, "oncall", [])        # BOB leaves on-call before confirming
    connected.groups._members.clear()
    connected.groups._users.clear()
    click(fake_slack, bk.CONFIRM_ACTION, button(prompt, bk.CONFIRM_ACTION)["value"], BOB, message_ts=prompt["ts"])
    texts = fake_slack.wait_for(lambda: [r["text"] for r in fake_slack.responses if "not allowed" in r["text"]])
    assert texts == ["You are not allowed to run `demo.deploy` here."]
    connected.drain()
    assert runs(root) == [] and bot_replies(fake_slack, GENERAL, event["ts"]) == []
