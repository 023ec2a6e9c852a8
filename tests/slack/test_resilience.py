"""Web API 429 and 5xx retried, a dropped websocket reconnects without losing or doubling events, and
any failure still ends in a reply in the thread that leaks neither internals nor secrets."""

from __future__ import annotations

from bot.slack.bot import GENERIC_FAILURE
from tests.fakes.slack_server import GENERAL, FakeSlack
from tests.slack.helpers import block_texts, bot_replies, thread_reply


def test_web_api_429_is_retried_after_retry_after(connected, fake_slack: FakeSlack):
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=0, times=2)
    event = fake_slack.app_mention("what is the demo status")
    fake_slack.send_event(event)
    assert block_texts(thread_reply(fake_slack, event)[0])[0] == "all systems go"
    connected.drain()
    assert len(fake_slack.calls_to("chat.postMessage")) == 3
    assert len(bot_replies(fake_slack, GENERAL, event["ts"])) == 1


def test_transient_server_errors_are_retried(connected, fake_slack: FakeSlack):
    fake_slack.fail_next("chat.postMessage", status=503)
    fake_slack.fail_next("chat.postMessage", status=502)
    event = fake_slack.app_mention("what is the demo status")
    fake_slack.send_event(event)
    assert block_texts(thread_reply(fake_slack, event)[0])[0] == "all systems go"
    connected.drain()
    assert len(fake_slack.calls_to("chat.postMessage")) == 3


def test_websocket_dropped_mid_stream_loses_and_doubles_nothing(connected, fake_slack: FakeSlack):
    events = [fake_slack.app_mention(f"what is the demo status {i}") for i in range(24)]
    ids = [f"EvDROP{i:05d}" for i in range(24)]
    envelopes = {}
    for i, (event, event_id) in enumerate(zip(events, ids, strict=True)):
        if i == 6:                                            # the first six are acked for sure
            for eid in ids[:6]:
                fake_slack.wait_for_ack(envelopes[eid])
        if i == 12:
            assert fake_slack.drop_connections() == 1        # TCP reset in the middle of the stream
        envelopes[event_id] = fake_slack.send_event(event, event_id=event_id)
    fake_slack.wait_for_connection(2, timeout=5)             # the builtin client reconnected
    fake_slack.wait_for_ack(envelopes[ids[-1]])              # queued envelopes were delivered after it
    # Slack redelivers what was not acked; it may also redeliver an event whose ack was lost.
    unacked = [i for i, eid in enumerate(ids) if not fake_slack.acks_for(envelopes[eid])]
    assert not set(unacked) & set(range(6)) and set(unacked) <= set(range(12))
    for i in unacked + [0, 5, 12]:
        fake_slack.wait_for_ack(fake_slack.send_event(events[i], retry_attempt=1, retry_reason="timeout",
                                                      event_id=ids[i]))
    for event in events:
        thread_reply(fake_slack, event)
    connected.drain()
    assert [len(bot_replies(fake_slack, GENERAL, e["ts"])) for e in events] == [1] * 24
    assert len(list(connected.ledger.db["script_runs"].rows)) == 24


def test_a_crash_in_the_pipeline_is_answered_without_internals(connected, fake_slack: FakeSlack):
    def explode(text):
        raise RuntimeError("db password hunter2-very-secret and xoxb-1111111111-abcdefabcdef")

    connected.bot.router.route = explode
    event = fake_slack.app_mention("what is the demo status")
    fake_slack.send_event(event)
    text = block_texts(thread_reply(fake_slack, event)[0])[0]
    assert text.startswith("Sorry, something went wrong on my side (RuntimeError). It is logged as request `")
    assert "hunter2" not in text and "xoxb" not in text


def test_a_failure_in_the_slack_layer_still_replies_with_a_reference(connected, fake_slack: FakeSlack, root):
    fake_slack.fail_next("chat.postEphemeral", status=200, error="user_not_in_channel")
    event = fake_slack.app_mention("run demo.restart --service api")
    fake_slack.send_event(event)
    text = thread_reply(fake_slack, event)[0]["text"]
    connected.drain()
    request = next(connected.ledger.db["requests"].rows)
    assert text == GENERIC_FAILURE.format(ref=request["id"])
    assert request["outcome"] == "error" and "user_not_in_channel" not in text


def test_when_slack_is_down_the_request_is_recorded_as_an_error(connected, fake_slack: FakeSlack):
    fake_slack.fail_next("chat.postMessage", status=500, times=20)
    event = fake_slack.app_mention("what is the demo status")
    fake_slack.wait_for_ack(fake_slack.send_event(event))
    fake_slack.wait_for(lambda: len(fake_slack.calls_to("chat.postMessage")) >= 6, timeout=10)
    connected.drain()
    request = next(connected.ledger.db["requests"].rows)
    assert request["outcome"] == "error" and request["error"].startswith("slack delivery")


def test_secrets_in_script_output_are_redacted(connected, fake_slack: FakeSlack):
    event = fake_slack.app_mention("leaky thing")
    fake_slack.send_event(event)
    reply = thread_reply(fake_slack, event)[0]
    assert "xoxb-1234567890" not in str(reply) and "[REDACTED]" in block_texts(reply)[0]
