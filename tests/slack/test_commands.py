"""/run and /ops over Socket Mode: ephemeral usage, results in the channel, help that lists only what
the requesting user may run."""

from __future__ import annotations

from bot.slack import blocks as bk
from tests.fakes.slack_server import ALICE, BOB, GENERAL, FakeSlack
from tests.slack.helpers import block_texts, bot_posts, button, runs


def _ephemeral_text(ack) -> str:
    assert ack.payload["response_type"] == "ephemeral"
    return "\n".join(b["text"]["text"] for b in ack.payload["blocks"] if b["type"] == "section")


def test_run_with_bad_args_is_answered_ephemerally_with_the_scripts_help(connected, fake_slack: FakeSlack, root):
    ack = fake_slack.wait_for_ack(fake_slack.send_slash_command("/run", "demo.top --limit many"))
    text = _ephemeral_text(ack)
    assert "`demo.top`: --limit: expected int (got 'many')" in text
    assert "usage: `demo.top --limit &lt;int&gt;`" in text and "--limit: how many (required)" in text

    missing = _ephemeral_text(fake_slack.wait_for_ack(fake_slack.send_slash_command("/run", "demo.top")))
    assert "missing required argument --limit" in missing
    unknown = _ephemeral_text(fake_slack.wait_for_ack(fake_slack.send_slash_command("/run", "demo.stats")))
    assert unknown.startswith("There is no script `demo.stats`. Did you mean `demo.status`")
    empty = _ephemeral_text(fake_slack.wait_for_ack(fake_slack.send_slash_command("/run", "")))
    assert empty.startswith("usage: `/run <script>")
    connected.drain()
    assert fake_slack.calls_to("chat.postMessage") == [] and fake_slack.responses == []
    refused = list(connected.ledger.db["requests"].rows_where("outcome = 'refused'"))
    assert len(refused) == 4 and {r["user"] for r in refused} == {ALICE}
    assert connected.ledger.decisions_for(refused[0]["id"])[0]["reason"].startswith("/run usage error")


def test_run_posts_the_result_in_the_channel_with_who_asked(connected, fake_slack: FakeSlack):
    ack = fake_slack.wait_for_ack(fake_slack.send_slash_command("/run", "demo.top --limit 3"))
    assert ack.payload is None and ack.latency_ms < 500
    message = fake_slack.wait_for(lambda: bot_posts(fake_slack))[0]
    section, context = block_texts(message)
    assert section == "top --limit=3"
    assert context.startswith(f"<@{ALICE}> via `/run` · script `demo.top` · 0 tokens")
    assert button(message, bk.WHY_ACTION)


def test_run_in_a_channel_the_bot_is_not_in_answers_through_the_response_url(connected, fake_slack: FakeSlack):
    fake_slack.fail_next("chat.postMessage", status=200, error="not_in_channel")
    fake_slack.send_slash_command("/run", "demo.status")
    response = fake_slack.wait_for(lambda: fake_slack.responses)[0]
    assert response["response_type"] == "in_channel" and block_texts(response)[0] == "all systems go"


def _ops(fake: FakeSlack, text: str, user: str = ALICE) -> str:
    before = len(fake.responses)
    fake.send_slash_command("/ops", text, user_id=user)
    response = fake.wait_for(lambda: fake.responses[before:])[0]
    assert response["response_type"] == "ephemeral"
    return "\n".join(b["text"]["text"] for b in response.get("blocks", []) if b["type"] == "section")


def test_ops_help_and_scripts_list_only_what_the_user_may_run(connected, fake_slack: FakeSlack):
    alice = _ops(fake_slack, "help")
    assert "/run &lt;script&gt;" in alice and "*demo*:" in alice and "restart*" in alice
    assert "finance" not in alice and "botonly" not in alice and "oncall" not in alice
    bob = _ops(fake_slack, "help", user=BOB)
    assert "finance" in bob and "botonly" not in bob
    listing = _ops(fake_slack, "scripts")
    assert "`demo.status` — Status of the demo system" in listing and "`demo.restart` ⚠" in listing
    assert "demo.finance" not in listing
    detail = _ops(fake_slack, "scripts demo")
    assert "usage: `demo.top --limit &lt;int&gt;`" in detail
    assert "No scripts you may run in `stripe`" in _ops(fake_slack, "scripts stripe")
    assert "I don't know `/ops frobnicate`" in _ops(fake_slack, "frobnicate")


def test_ops_stats_summarises_the_ledger(connected, fake_slack: FakeSlack, root):
    event = fake_slack.app_mention("what is the demo status")
    fake_slack.send_event(event)
    fake_slack.wait_for(lambda: fake_slack.thread_replies(GENERAL, event["ts"]))
    connected.drain()
    stats = _ops(fake_slack, "stats 1h")
    assert "1 requests · 100% at 0 tokens" in stats and "• *script*: 1" in stats
    assert "expected e.g. 30m, 24h or 7d" in _ops(fake_slack, "stats yesterday")
    assert runs(root) == []
