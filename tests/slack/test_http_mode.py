"""HTTP mode (`bot serve --http`): POST /slack/events through the one-thread asyncio server
(bot/slack/httpserver.py) and the WSGI app, with Slack's signature and 5-minute timestamp checks,
retries by X-Slack-Retry-Num, and ack payloads over HTTP."""

from __future__ import annotations

import io
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from bot.slack.server import http_server
from tests.fakes.slack_server import (
    FORM_CONTENT_TYPE,
    GENERAL,
    JSON_CONTENT_TYPE,
    FakeSlack,
    events_api_body,
    signed_request_headers,
    slash_command_body,
    url_verification_body,
)
from tests.slack.helpers import block_texts, bot_posts, bot_replies, thread_reply


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, float]:
    started = time.monotonic()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), (time.monotonic() - started) * 1000
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), (time.monotonic() - started) * 1000


@pytest.fixture
def events_url(slackbot) -> Iterator[str]:
    server = http_server(slackbot, "127.0.0.1", 0).start()
    yield server.url
    server.stop()


def _signed(fake: FakeSlack, body: bytes, **kwargs) -> dict[str, str]:
    kwargs.setdefault("content_type", JSON_CONTENT_TYPE)
    return signed_request_headers(fake.signing_secret, body, **kwargs)


def test_signed_event_is_acked_and_answered_in_the_thread(slackbot, events_url, fake_slack: FakeSlack):
    event = fake_slack.app_mention("what is the demo status")
    fake_slack._record_user_message(event)
    body = events_api_body(event, event_id="EvHTTP00001")
    status, _, latency = post(events_url, body, _signed(fake_slack, body))
    assert status == 200 and latency < 500
    assert block_texts(thread_reply(fake_slack, event)[0])[0] == "all systems go"

    for attempt in (1, 2):                # Slack's retries of the same event: acked, not run again
        retry = _signed(fake_slack, body, retry_num=attempt, retry_reason="http_timeout")
        assert post(events_url, body, retry)[0] == 200
    slackbot.drain()
    assert len(bot_replies(fake_slack, GENERAL, event["ts"])) == 1
    assert slackbot.metrics["duplicates"] == 2


def test_bad_signature_and_stale_timestamp_are_refused(slackbot, events_url, fake_slack: FakeSlack):
    event = fake_slack.app_mention("what is the demo status")
    body = events_api_body(event)
    forged = signed_request_headers("not-the-secret", body, content_type=JSON_CONTENT_TYPE)
    stale = _signed(fake_slack, body, timestamp=int(time.time()) - 6 * 60)
    tampered = _signed(fake_slack, body)
    assert post(events_url, body, forged)[0] == 401
    assert post(events_url, body, stale)[0] == 401
    assert post(events_url, body.replace(b"demo status", b"demo statu$"), tampered)[0] == 401
    assert post(events_url, body, {"Content-Type": JSON_CONTENT_TYPE})[0] == 401
    fresh_enough = _signed(fake_slack, body, timestamp=int(time.time()) - 4 * 60)
    assert post(events_url, body, fresh_enough)[0] == 200
    slackbot.drain()
    assert list(slackbot.ledger.db["processed_events"].rows_where("key = ?", [f"slack:event:{json.loads(body)['event_id']}"]))
    assert slackbot.metrics["accepted"] == 1                  # refused requests never reached the ledger


def test_url_verification_health_and_unknown_paths(events_url, fake_slack: FakeSlack):
    body = url_verification_body("abc123")
    status, answer, _ = post(events_url, body, _signed(fake_slack, body))
    assert status == 200 and json.loads(answer)["challenge"] == "abc123"
    base = events_url.removesuffix("/slack/events")
    with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
        assert response.read() == b"ok"
    assert post(base + "/other", body, _signed(fake_slack, body))[0] == 404


def test_slash_command_over_http_acks_usage_and_runs_a_trigger_once(slackbot, events_url, fake_slack: FakeSlack):
    bad = slash_command_body("/run", "demo.top --limit lots", response_url=fake_slack.new_response_url(GENERAL, "U0ALICE001"))
    status, answer, _ = post(events_url, bad, _signed(fake_slack, bad, content_type=FORM_CONTENT_TYPE))
    payload = json.loads(answer)
    assert status == 200 and payload["response_type"] == "ephemeral"
    assert "--limit: expected int" in payload["blocks"][0]["text"]["text"]

    good = slash_command_body("/run", "demo.status", trigger_id="1.2.same-trigger",
                              response_url=fake_slack.new_response_url(GENERAL, "U0ALICE001"))
    for _ in range(3):
        assert post(events_url, good, _signed(fake_slack, good, content_type=FORM_CONTENT_TYPE))[0] == 200
    slackbot.drain()
    posted = bot_posts(fake_slack)
    assert [block_texts(m)[0] for m in posted] == ["all systems go"]


def _raw(url: str, data: bytes) -> bytes:
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as conn:
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_keep_alive_and_malformed_requests(slackbot, events_url, fake_slack: FakeSlack):
    body = url_verification_body("k1")
    headers = "".join(f"{k}: {v}\r\n" for k, v in _signed(fake_slack, body).items())
    one = f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body
    last = one.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n")
    answers = _raw(events_url, one + last)                     # two requests on one connection
    assert answers.count(b"HTTP/1.1 200 OK") == 2 and answers.count(b'"challenge": "k1"') + \
        answers.count(b'"challenge":"k1"') == 2
    assert _raw(events_url, b"GET /slack/events HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 405 Method Not Allowed")
    assert _raw(events_url, b"POST /slack/events HTTP/1.1\r\nContent-Length: 9999999\r\n\r\n").startswith(
        b"HTTP/1.1 413 ")
    assert _raw(events_url, b"POST /slack/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").startswith(
        b"HTTP/1.1 411 ")
    assert _raw(events_url, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert slackbot.acks._busy == 0                          # every request left the ack gate


def test_the_wsgi_app_serves_the_same_endpoint(slackbot, fake_slack: FakeSlack):
    from wsgiref.util import setup_testing_defaults

    from bot.slack.server import wsgi_app

    body = url_verification_body("w1")
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events", "CONTENT_LENGTH": str(len(body)),
               "CONTENT_TYPE": JSON_CONTENT_TYPE, "wsgi.input": io.BytesIO(body)}
    setup_testing_defaults(environ)
    for name, value in _signed(fake_slack, body).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    statuses = []
    answer = b"".join(wsgi_app(slackbot)(environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["200 OK"] and json.loads(answer)["challenge"] == "w1"
