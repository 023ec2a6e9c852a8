"""Mentions, DMs and threads over the real Socket Mode client against the local fake Slack."""

from __future__ import annotations

from bot.slack import blocks as bk
from bot.stats import compute_stats, parse_since
from tests.fakes.slack_server import ALICE, BOB, GENERAL, FakeSlack, reaction_added_event
from tests.slack.helpers import block_texts, bot_replies, button, connect, make_slackbot, thread_reply


def test_mention_gets_a_script_answer_in_the_thread_with_context_line(connected, fake_slack: FakeSlack):
    event = fake_slack.app_mention("what is the demo status?")
    envelope = fake_slack.send_event(event)
    ack = fake_slack.wait_for_ack(envelope)
    assert ack.payload is None and ack.latency_ms is not None and ack.latency_ms < 500

    reply = thread_reply(fake_slack, event)[0]
    assert reply["thread_ts"] == event["ts"]
    section, context = block_texts(reply)
    assert section == "all systems go"
    assert context.startswith("script `demo.status` · 0 tokens · ") and context.endswith(" s")
    why = button(reply, bk.WHY_ACTION)
    connected.drain()
    request = connected.ledger.get_request(why["value"])
    assert (request["outcome"], request["reply_ts"], request["user"]) == ("ok", reply["ts"], ALICE)
    assert request["source"] == "slack" and request["thread_ts"] == event["ts"] and request["event_id"]
    assert reply["text"] == "all systems go"           # the notification fallback


def test_acks_stay_fast_while_answers_are_slow(connected, fake_slack: FakeSlack):
    events = [fake_slack.app_mention("slow thing") for _ in range(6)]
    envelopes = [fake_slack.send_event(e) for e in events]

    def acked_or_answered() -> tuple[bool, int] | None:   # looked at under the fake's lock
        acked, answers = all(map(fake_slack.acks_for, envelopes)), len(fake_slack.calls_to("chat.postMessage"))
        return (acked, answers) if acked or answers else None

    assert fake_slack.wait_for(acked_or_answered) == (True, 0)   # all acked before a 0.4 s script was answered
    for event in events:
        assert "slow but done" in block_texts(thread_reply(fake_slack, event)[0])[0]


def test_progress_reaction_is_added_and_removed(opsbot, fake_slack: FakeSlack):
    sb = make_slackbot(opsbot, fake_slack, progress_after_s=0.2)
    try:
        with connect(sb.app, fake_slack):
            slow, fast = fake_slack.app_mention("slow thing"), fake_slack.app_mention("what is the demo status")
            fake_slack.send_event(slow)
            fake_slack.wait_for(lambda: fake_slack.reactions)  # shown while the script runs
            assert fake_slack.reactions[0] == {"channel": GENERAL, "ts": slow["ts"], "name": "hourglass_flowing_sand",
                                               "user": fake_slack.bot_user_id}
            thread_reply(fake_slack, slow)
            fake_slack.wait_for(lambda: not fake_slack.reactions)  # and taken away after the reply
            adds = len(fake_slack.calls_to("reactions.add"))
            fake_slack.send_event(fast)
            thread_reply(fake_slack, fast)
            sb.drain()
            assert len(fake_slack.calls_to("reactions.add")) == adds   # fast answers: no flicker
    finally:
        sb.close()


def test_follow_up_in_a_thread_the_bot_is_in_gets_the_thread_as_context(connected, fake_slack: FakeSlack):
    seen = []
    handle = connected.bot.handle
    connected.bot.handle = lambda incoming: seen.append(incoming) or handle(incoming)

    first = fake_slack.app_mention("what is the demo status")
    fake_slack.send_event(first)
    thread_reply(fake_slack, first)
    follow_up = fake_slack.message("what is the demo status", thread_ts=first["ts"])
    fake_slack.send_event(follow_up)
    replies = thread_reply(fake_slack, first, n=2)
    assert block_texts(replies[1])[0] == "all systems go"
    assert [m["user"] for m in seen[1].thread] == [ALICE, "opsbot"]
    assert seen[1].thread[0]["text"] == "what is the demo status"      # the mention itself is stripped
    assert seen[1].thread_ts == first["ts"] and seen[1].user == ALICE


def test_thread_the_bot_is_not_in_is_ignored_and_cached(connected, fake_slack: FakeSlack):
    root = fake_slack.message("people talking", user=BOB)
    fake_slack.send_event(root)
    for text in ("what is the demo status", "still talking"):
        fake_slack.wait_for_ack(fake_slack.send_event(fake_slack.message(text, thread_ts=root["ts"])))
        connected.drain()
    assert bot_replies(fake_slack, GENERAL, root["ts"]) == []
    assert len(fake_slack.calls_to("conversations.replies")) == 1       # the negative answer is cached
    assert fake_slack.calls_to("chat.postMessage") == []


def test_edits_joins_and_bot_messages_are_ignored(connected, fake_slack: FakeSlack):
    dm = "D0ALICEDM1"
    fake_slack.add_channel(dm, "alice-dm", is_im=True, user=ALICE)
    noise = [
        {**fake_slack.message("edited", channel=dm, channel_type="im"), "subtype": "message_changed"},
        {**fake_slack.message("joined"), "subtype": "channel_join"},
        {**fake_slack.message("from another bot", channel=dm, channel_type="im"), "bot_id": "B0OTHER"},
        {**fake_slack.app_mention("another bot asking"), "bot_id": "B0OTHER"},
    ]
    for event in noise:
        fake_slack.wait_for_ack(fake_slack.send_event(event))
    connected.drain()
    assert fake_slack.calls_to("chat.postMessage") == []


def test_a_mention_in_a_thread_arrives_twice_and_is_answered_once(connected, fake_slack: FakeSlack):
    first = fake_slack.app_mention("what is the demo status")
    fake_slack.send_event(first)
    thread_reply(fake_slack, first)
    mention = fake_slack.app_mention("what is the demo status", thread_ts=first["ts"])
    as_message = {**mention, "type": "message", "channel_type": "channel"}   # message.channels, other event id
    fake_slack.wait_for_ack(fake_slack.send_event(as_message))
    fake_slack.wait_for_ack(fake_slack.send_event(mention))
    thread_reply(fake_slack, first, n=2)
    connected.drain()
    assert len(bot_replies(fake_slack, GENERAL, first["ts"])) == 2


def test_dm_without_llm_explains_what_to_set(connected, fake_slack: FakeSlack):
    dm = "D0ALICEDM1"
    fake_slack.add_channel(dm, "alice-dm", is_im=True, user=ALICE)
    event = fake_slack.message("why is the build red on friday afternoons", channel=dm, channel_type="im")
    fake_slack.send_event(event)
    reply = thread_reply(fake_slack, event, channel=dm)[0]
    assert "ANTHROPIC_API_KEY" in block_texts(reply)[0]


def test_long_output_goes_up_as_a_file_in_the_thread(connected, fake_slack: FakeSlack):
    event = fake_slack.app_mention("big report")
    fake_slack.send_event(event)
    replies = thread_reply(fake_slack, event, n=2)
    summary, with_file = replies
    assert "attached as `demo.big.txt`" in block_texts(summary)[0]
    assert len(block_texts(summary)[0]) < 1200
    file = fake_slack.files[with_file["files"][0]["id"]]
    assert file["content"].decode().count("\n") == 400 and file["shares"][0]["thread_ts"] == event["ts"]
    assert button(summary, bk.WHY_ACTION)


def test_why_button_shows_the_decision_record(connected, fake_slack: FakeSlack):
    event = fake_slack.app_mention("what is the demo status")
    fake_slack.send_event(event)
    reply = thread_reply(fake_slack, event)[0]
    request_id = button(reply, bk.WHY_ACTION)["value"]
    fake_slack.send_interactive(fake_slack.block_actions(bk.WHY_ACTION, value=request_id, user_id=BOB, message=reply))
    response = fake_slack.wait_for(lambda: fake_slack.responses)[0]
    assert response["response_type"] == "ephemeral" and not response.get("replace_original")
    text = response["blocks"][0]["text"]["text"]
    assert f"request `{request_id}`" in text
    assert "*script* decided by pre-router → `demo.status`" in text and "score 1.00" in text
    assert "reason: pattern" in text and "no LLM calls (0 tokens)" in text and "ran `demo.status` · ok" in text


def test_thumbs_down_marks_a_possible_misclassification(connected, fake_slack: FakeSlack):
    event = fake_slack.app_mention("what is the demo status")
    fake_slack.send_event(event)
    reply = thread_reply(fake_slack, event)[0]
    request_id = button(reply, bk.WHY_ACTION)["value"]
    connected.drain()                                  # reply_ts is recorded just after the post
    fake_slack.wait_for_ack(fake_slack.send_event(reaction_added_event("-1::skin-tone-2", item_ts=reply["ts"])))
    fake_slack.wait_for_ack(fake_slack.send_event(reaction_added_event("-1", item_ts=event["ts"], item_user=ALICE)))
    connected.drain()
    assert connected.ledger.get_request(request_id)["feedback"] == "down"
    stats = compute_stats(connected.ledger, parse_since("1h"))
    assert stats["possible_misclassifications"] == 1 and stats["by_tier"]["script"]["thumbs_down"] == 1
    assert "possible misclassifications: 1" in connected.commands.ops.stats_text("24h")


def test_an_empty_mention_gets_help(connected, fake_slack: FakeSlack):
    event = fake_slack.app_mention("")
    fake_slack.send_event(event)
    text = block_texts(thread_reply(fake_slack, event)[0])[0]
    assert "/run <script>" in text and "demo.finance" not in text and "finance" not in text.split("run")[-1]
