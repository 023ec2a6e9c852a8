"""Every event (and command trigger) runs once: Socket Mode retries, concurrent duplicates, a restart,
and two processes (a real `bot serve --http` subprocess next to this one) sharing one ledger."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from bot.config import PROJECT_ROOT
from bot.pipeline import OpsBot
from bot.slack.server import http_server
from tests.fakes.slack_server import (
    GENERAL,
    JSON_CONTENT_TYPE,
    FakeSlack,
    events_api_body,
    signed_request_headers,
)
from tests.slack.helpers import (
    block_texts,
    bot_replies,
    connect,
    demo_environ,
    demo_settings,
    make_slackbot,
    thread_reply,
)
from tests.slack.test_http_mode import post


def test_the_same_event_delivered_three_times_runs_once(connected, fake_slack: FakeSlack):
    event = fake_slack.app_mention("what is the demo status")
    envelopes = [fake_slack.send_event(event, event_id="EvSAME00001")]
    envelopes += [fake_slack.send_event(event, retry_attempt=n, retry_reason="timeout", event_id="EvSAME00001")
                  for n in (1, 2)]
    for envelope in envelopes:
        fake_slack.wait_for_ack(envelope)                    # every delivery is acked…
    thread_reply(fake_slack, event)
    connected.drain()
    assert len(bot_replies(fake_slack, GENERAL, event["ts"])) == 1       # …and answered once
    assert len(list(connected.ledger.db["requests"].rows)) == 1
    assert len(list(connected.ledger.db["script_runs"].rows)) == 1
    assert connected.metrics["duplicates"] == 2


def test_concurrent_duplicates_run_once(connected, fake_slack: FakeSlack):
    event = fake_slack.app_mention("what is the demo status")
    threads = [threading.Thread(target=fake_slack.send_event, args=(event,), kwargs={"event_id": "EvRACE00001"})
               for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fake_slack.wait_for(lambda: len(fake_slack.acks) == 5)
    thread_reply(fake_slack, event)
    connected.drain()
    assert len(bot_replies(fake_slack, GENERAL, event["ts"])) == 1
    assert len(list(connected.ledger.db["script_runs"].rows)) == 1


def test_a_redelivery_after_a_restart_is_dropped(root, fake_slack: FakeSlack):
    event = fake_slack.app_mention("what is the demo status")
    first = make_slackbot(OpsBot(demo_settings(root), environ=demo_environ(root)), fake_slack)
    with connect(first.app, fake_slack):
        fake_slack.send_event(event, event_id="EvRESTART01")
        thread_reply(fake_slack, event)
        first.drain()
    first.close()

    second = make_slackbot(OpsBot(demo_settings(root), environ=demo_environ(root)), fake_slack)  # a new process
    try:
        with connect(second.app, fake_slack):
            fake_slack.wait_for_ack(fake_slack.send_event(event, retry_attempt=1, event_id="EvRESTART01"))
            other = fake_slack.app_mention("what is the demo status")
            fake_slack.send_event(other)
            thread_reply(fake_slack, other)
            second.drain()
    finally:
        second.close()
    assert len(bot_replies(fake_slack, GENERAL, event["ts"])) == 1
    assert second.metrics["duplicates"] == 1


def eventually(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def replica(root, fake_slack: FakeSlack):
    """`python -m bot serve --http` in its own process, sharing BOT_HOME (the ledger) with this one."""
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root / "home"), "PYTHONPATH": str(PROJECT_ROOT),
        "SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_SIGNING_SECRET": fake_slack.signing_secret,
        "SLACK_API_URL": fake_slack.api_url, "BOT_HOME": str(root / "home"), "BOT_REGISTRY": str(root / "registry"),
        "BOT_SCRIPTS": str(root / "scripts"), "BOT_SKILLS": str(root / "skills"), "BOT_SCHEDULER": "false",
        "BOT_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--http", "--port", str(port), "--no-scheduler"],
                            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("replica did not start: " + proc.stderr.read().decode()[-2000:]) from None
            time.sleep(0.05)
    yield base + "/slack/events"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_two_processes_sharing_the_ledger_run_an_event_once(slackbot, replica, fake_slack: FakeSlack):
    server = http_server(slackbot, "127.0.0.1", 0).start()
    here = server.url
    try:
        events = [fake_slack.app_mention("what is the demo status") for _ in range(6)]
        orders = [(replica, here), (replica, here), (here, replica), (here, replica)]   # each wins two…
        orders += [(here, replica, here, replica)] * 2                                  # …then a race
        for event, urls in zip(events, orders, strict=True):
            fake_slack._record_user_message(event)
            body = events_api_body(event)
            headers = signed_request_headers(fake_slack.signing_secret, body, content_type=JSON_CONTENT_TYPE)
            if len(urls) == 2:                   # a redelivery after the first process answered
                assert post(urls[0], body, headers)[0] == 200
                thread_reply(fake_slack, event)
                assert post(urls[1], body, headers)[0] == 200
                continue
            results: list[int] = []
            posts = [threading.Thread(target=lambda u=url, b=body, h=headers, r=results: r.append(post(u, b, h)[0]))
                     for url in urls]
            for t in posts:
                t.start()
            for t in posts:
                t.join()
            assert results == [200] * 4
        for event in events:
            assert block_texts(thread_reply(fake_slack, event)[0])[0] == "all systems go"
        slackbot.drain()
        done = "SELECT COUNT(*) FROM requests WHERE reply_ts IS NOT NULL"   # both processes write here
        eventually(lambda: slackbot.ledger.db.execute(done).fetchone()[0] == 6)
        assert 2 <= slackbot.metrics["accepted"] <= 4 and slackbot.metrics["duplicates"] >= 3
        for event in events:
            assert len(bot_replies(fake_slack, GENERAL, event["ts"])) == 1
        assert len(list(slackbot.ledger.db["script_runs"].rows)) == 6
    finally:
        server.stop()
