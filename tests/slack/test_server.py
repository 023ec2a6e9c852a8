"""serve_slack end to end: Socket Mode from settings alone (SLACK_API_URL → the fake), and the
configuration errors that stop it from starting."""

from __future__ import annotations

import threading

import pytest

from bot.config import ConfigError
from bot.slack.server import build_slackbot, serve_slack
from tests.fakes.slack_server import FakeSlack
from tests.slack.helpers import block_texts, demo_settings, thread_reply


def test_serve_slack_in_socket_mode_answers_and_stops(root, fake_slack: FakeSlack, monkeypatch):
    monkeypatch.setenv("HOME", str(root / "home"))
    settings = demo_settings(root, slack_bot_token=fake_slack.bot_token, slack_app_token=fake_slack.app_token,
                             slack_api_url=fake_slack.api_url, bot_scheduler=False)
    stop = threading.Event()
    server = threading.Thread(target=serve_slack, args=(settings,), kwargs={"stop": stop}, daemon=True)
    server.start()
    try:
        fake_slack.wait_for_connection(1, timeout=10)
        event = fake_slack.app_mention("what is the demo status")
        fake_slack.send_event(event)
        assert block_texts(thread_reply(fake_slack, event)[0])[0] == "all systems go"
        fake_slack.send_slash_command("/ops", "jobs")
        listing = fake_slack.wait_for(lambda: fake_slack.responses)[0]["text"]
        assert "heartbeat" in listing                      # a JobService answers /ops even without the scheduler
    finally:
        stop.set()
        server.join(10)
    assert not server.is_alive()


def test_missing_settings_are_named(root):
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        build_slackbot(demo_settings(root, slack_bot_token="xoxb-1"), http=True)
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        build_slackbot(demo_settings(root, slack_bot_token="xoxb-1"), http=False)
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        build_slackbot(demo_settings(root), http=True)


def test_create_wsgi_app_for_gunicorn(root, fake_slack: FakeSlack):
    from bot.slack.server import create_wsgi_app

    app = create_wsgi_app(demo_settings(root, slack_bot_token=fake_slack.bot_token, slack_api_url=fake_slack.api_url,
                                        slack_signing_secret=fake_slack.signing_secret))
    statuses = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz", "SERVER_PROTOCOL": "HTTP/1.1"}
    assert b"".join(app(environ, lambda status, headers: statuses.append(status))) == b"ok"
    assert statuses == ["200 OK"]


def test_a_restart_tells_threads_a_dead_process_left_unanswered(root, fake_slack: FakeSlack, monkeypatch):
    import subprocess
    import sys

    from bot.ledger import Ledger
    from bot.process import process_identity

    monkeypatch.setenv("HOME", str(root / "home"))
    settings = demo_settings(root, slack_bot_token=fake_slack.bot_token, slack_app_token=fake_slack.app_token,
                             slack_api_url=fake_slack.api_url, bot_scheduler=False)
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # noqa: S603
    dead_worker = f"{victim.pid}@{process_identity(victim.pid)}"
    victim.kill()
    victim.wait()
    ledger = Ledger(settings.ledger_path)
    orphan = ledger.start_request(source="slack", text="what's our MRR?", user="ALICE", channel="CGEN",
                                  thread_ts="1700000000.000100")
    ledger.db["requests"].update(orphan, {"worker": dead_worker})
    in_flight = ledger.start_request(source="slack", text="still being answered here", channel="CGEN",
                                     thread_ts="1700000000.000200")   # this (live) process's own request

    stop = threading.Event()
    server = threading.Thread(target=serve_slack, args=(settings,), kwargs={"stop": stop}, daemon=True)
    server.start()
    try:
        apology = fake_slack.wait_for(lambda: fake_slack.thread_replies("CGEN", "1700000000.000100"))[0]
        assert "I restarted before I could answer this" in apology["text"]
    finally:
        stop.set()
        server.join(10)
    assert ledger.get_request(orphan)["outcome"] == "error"
    assert ledger.get_request(in_flight)["outcome"] is None
    assert fake_slack.thread_replies("CGEN", "1700000000.000200") == []
