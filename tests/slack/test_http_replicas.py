"""HTTP replicas on one PostgreSQL: one signed Slack event delivered to two replicas is answered once.

Two real Bolt HTTP apps (bot/slack/httpserver.py), each with its own BOT_HOME, sharing BOT_DATABASE_URL
on a real PostgreSQL (tests/postgres.py), against the fake Slack Web API; the exactly-once claim is the
event id's unique key in the shared database."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest

from bot.config import load_settings
from bot.pipeline import OpsBot
from bot.slack.server import http_server
from tests.fakes.slack_server import GENERAL, FakeSlack, events_api_body, signed_request_headers
from tests.slack.helpers import bot_replies, demo_environ, make_slackbot, thread_reply
from tests.slack.test_http_mode import post


@pytest.fixture
def replicas(root, pg_url, fake_slack: FakeSlack) -> Iterator[list]:
    started = []
    for name in ("a", "b"):
        settings = load_settings(bot_home=root / f"home-{name}", bot_registry=root / "registry",
                                 bot_scripts=root / "scripts", bot_skills=root / "skills", bot_database_url=pg_url)
        slackbot = make_slackbot(OpsBot(settings, environ=demo_environ(root)), fake_slack)
        server = http_server(slackbot, "127.0.0.1", 0).start()
        started.append((slackbot, server))
    yield started
    for slackbot, server in started:
        server.stop()
        slackbot.close(timeout=5)


def test_one_event_delivered_to_two_replicas_gets_one_answer(replicas, fake_slack: FakeSlack):
    (a, server_a), (b, server_b) = replicas
    event = fake_slack.app_mention("what is the demo status")
    fake_slack._record_user_message(event)
    body = events_api_body(event, event_id="EvREPLICA0001")
    statuses = []

    def deliver(url: str, retry: int | None) -> None:
        extra = {"retry_num": retry, "retry_reason": "http_timeout"} if retry else {}
        headers = signed_request_headers(fake_slack.signing_secret, body, content_type="application/json", **extra)
        statuses.append(post(url, body, headers)[0])

    # The same delivery reaches both replicas at once (a load balancer retrying on a slow ack), then a retry.
    threads = [threading.Thread(target=deliver, args=(url, None)) for url in (server_a.url, server_b.url)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deliver(server_b.url, 1)
    assert statuses == [200, 200, 200]
    assert "all systems go" in json.dumps(thread_reply(fake_slack, event)[0])
    a.drain()
    b.drain()
    assert len(bot_replies(fake_slack, GENERAL, event["ts"])) == 1            # one answer, not two
    shared = a.bot.ledger
    assert shared is not b.bot.ledger and shared.shared
    assert shared.db["requests"].count == 1 and shared.db["script_runs"].count == 1
    assert a.metrics["duplicates"] + b.metrics["duplicates"] == 2
    assert b.bot.ledger.db["processed_events"].count >= 1
