"""The fake Slack speaks the real wire protocol: proven with the real slack_sdk and slack_bolt."""

from __future__ import annotations

import time

import pytest
from slack_bolt import Ack, App, Respond, Say
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack_fixtures import bolt_app, socket_mode, web_client
from tests.fakes.slack_server import (
    ALICE,
    GENERAL,
    JSON_CONTENT_TYPE,
    FakeSlack,
    app_mention_event,
    events_api_body,
    signed_request_headers,
    slash_command_body,
)


def test_web_api_round_trip(fake_slack: FakeSlack) -> None:
    client = web_client(fake_slack)
    auth = client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == (fake_slack.bot_user_id, fake_slack.bot_id,
                                                                  fake_slack.team_id)

    parent = client.chat_postMessage(channel=GENERAL, text="deploying…")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*done*"}}]
    reply = client.chat_postMessage(channel=GENERAL, thread_ts=parent["ts"], text="done", blocks=blocks)
    assert reply["message"]["thread_ts"] == parent["ts"]
    client.chat_update(channel=GENERAL, ts=parent["ts"], text="deployed")
    client.reactions_add(channel=GENERAL, timestamp=parent["ts"], name="white_check_mark")
    assert client.chat_postEphemeral(channel=GENERAL, user=ALICE, text="psst")["message_ts"]

    thread = client.conversations_replies(channel=GENERAL, ts=parent["ts"])["messages"]
    assert [m["text"] for m in thread] == ["deployed", "done"]
    assert thread[0]["reply_count"] == 1 and thread[1]["blocks"] == blocks
    assert fake_slack.thread_replies(GENERAL, parent["ts"])[0]["blocks"] == blocks
    assert fake_slack.reactions == [{"channel": GENERAL, "ts": parent["ts"], "name": "white_check_mark",
                                     "user": fake_slack.bot_user_id}]
    assert fake_slack.ephemerals[0]["recipient"] == ALICE
    assert client.users_lookupByEmail(email="alice@example.com")["user"]["id"] == ALICE

    upload = client.files_upload_v2(channel=GENERAL, thread_ts=parent["ts"], filename="report.txt",
                                    content="all green", title="Report", initial_comment="here you go")
    stored = fake_slack.files[upload["file"]["id"]]
    assert (stored["content"], stored["title"]) == (b"all green", "Report")
    assert fake_slack.thread_replies(GENERAL, parent["ts"])[-1]["files"][0]["id"] == stored["id"]

    with pytest.raises(SlackApiError) as bad_token:
        WebClient(token="xoxb-wrong", base_url=fake_slack.api_url).auth_test()
    assert bad_token.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as wrong_type:
        client.apps_connections_open(app_token=fake_slack.bot_token)
    assert wrong_type.value.response["error"] == "not_allowed_token_type"
    client.api_call("views.publish", json={"user_id": ALICE, "view": {"type": "home", "blocks": []}})
    assert fake_slack.unknown_methods == ["views.publish"]


def test_rate_limit_is_retried_only_with_the_handler(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=0)
    with pytest.raises(SlackApiError) as limited:  # WebClient's default handlers skip 429s
        web_client(fake_slack).chat_postMessage(channel=GENERAL, text="x")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "0"
    assert limited.value.response["error"] == "ratelimited"

    fake_slack.fail_next("chat.postMessage", status=429, retry_after=0)
    client = web_client(fake_slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    assert client.chat_postMessage(channel=GENERAL, text="y")["ok"]
    assert [p["text"] for p in fake_slack.calls_to("chat.postMessage")] == ["x", "y", "y"]

    fake_slack.fail_next("*", status=500)
    with pytest.raises(SlackApiError) as server_error:
        client.auth_test()
    assert server_error.value.response.status_code == 500


@pytest.fixture
def echo_app(fake_slack: FakeSlack) -> App:
    app = bolt_app(fake_slack)

    @app.event("app_mention")
    def mention(event: dict, say: Say) -> None:
        say(text=f"echo: {event['text']}", thread_ts=event.get("thread_ts") or event["ts"])

    @app.command("/run")
    def run(ack: Ack, respond: Respond, command: dict) -> None:
        ack(f"running {command['text']}")
        respond(response_type="in_channel", text=f"finished {command['text']}")

    @app.action("approve")
    def approve(ack: Ack, respond: Respond, body: dict) -> None:
        ack()
        respond(replace_original=True, text=f"approved by <@{body['user']['id']}>")

    return app


def test_socket_mode_event_is_acked_once_and_answered_in_thread(fake_slack: FakeSlack, echo_app: App) -> None:
    with socket_mode(echo_app, fake_slack):
        for _ in range(2):  # the second one shows steady-state latency
            event = fake_slack.app_mention("status")
            envelope_id = fake_slack.send_event(event)
            fake_slack.wait_for_ack(envelope_id)  # Bolt acks and runs the listener concurrently:
            reply = fake_slack.wait_for(lambda e=event: fake_slack.thread_replies(GENERAL, e["ts"]))
            assert reply[0]["text"] == f"echo: <@{fake_slack.bot_user_id}> status"  # either may come first
            acks = fake_slack.acks_for(envelope_id)
            assert len(acks) == 1 and acks[0].payload is None
            assert acks[0].latency_ms is not None and acks[0].latency_ms < 1000
        assert acks[0].latency_ms < 100
        # the user's own message is in the channel history too, so replies include it
        thread = web_client(fake_slack).conversations_replies(channel=GENERAL, ts=event["ts"])["messages"]
        assert [m["user"] for m in thread] == [ALICE, fake_slack.bot_user_id]


def test_socket_mode_reconnects_and_gets_queued_events(fake_slack: FakeSlack, echo_app: App) -> None:
    with socket_mode(echo_app, fake_slack, ping_interval=0.2):
        assert fake_slack.drop_connections() == 1
        event = fake_slack.app_mention("after drop")
        envelope_id = fake_slack.send_event(event)  # nobody connected: queued
        fake_slack.wait_for_ack(envelope_id)
        assert fake_slack.connections_opened == 2 and fake_slack.ws_connects == 2
        fake_slack.wait_for(lambda: fake_slack.thread_replies(GENERAL, event["ts"]))

        fake_slack.send_disconnect("refresh_requested", close_after=0)  # the client reconnects at once
        fake_slack.wait_for_connection(3, timeout=2)
        fake_slack.wait_for_ack(fake_slack.send_event(fake_slack.app_mention("after refresh")))
        assert fake_slack.connections_opened == 3 and len(fake_slack.acks) == 2


def test_slash_command_and_button_via_socket_mode(fake_slack: FakeSlack, echo_app: App) -> None:
    with socket_mode(echo_app, fake_slack):
        envelope_id = fake_slack.send_slash_command("/run", "backup --db main")
        assert fake_slack.wait_for_ack(envelope_id).payload == {"text": "running backup --db main"}
        fake_slack.wait_for(lambda: fake_slack.responses)
        assert fake_slack.history(GENERAL)[-1]["text"] == "finished backup --db main"

        original = web_client(fake_slack).chat_postMessage(channel=GENERAL, text="approve?")["message"]
        fake_slack.send_interactive(fake_slack.block_actions("approve", value="job-1", message=original))
        fake_slack.wait_for(lambda: fake_slack.find_message(GENERAL, original["ts"])["text"] != "approve?")
        assert fake_slack.find_message(GENERAL, original["ts"])["text"] == f"approved by <@{ALICE}>"


def test_http_mode_signature_is_accepted(fake_slack: FakeSlack, echo_app: App) -> None:
    event = app_mention_event("over http", bot_user_id=fake_slack.bot_user_id)
    body = events_api_body(event)
    headers = signed_request_headers(fake_slack.signing_secret, body, content_type=JSON_CONTENT_TYPE)
    verifier = SignatureVerifier(fake_slack.signing_secret)
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + b" ", headers)
    old = signed_request_headers(fake_slack.signing_secret, body, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(body, old)

    response = echo_app.dispatch(BoltRequest(body=body.decode(), headers=headers))
    assert response.status == 200
    fake_slack.wait_for(lambda: fake_slack.thread_replies(GENERAL, event["ts"]))

    form = slash_command_body("/run", "x")
    forged = signed_request_headers("not-the-secret", form)
    assert echo_app.dispatch(BoltRequest(body=form.decode(), headers=forged)).status == 401
