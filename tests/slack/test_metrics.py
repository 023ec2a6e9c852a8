"""Prometheus metrics and health endpoints: /metrics on the HTTP-mode server shows the Slack event just
answered (signed, through Bolt, answered at the fake Slack Web API), LLM tokens/cost by model through the
real SDK against the fake Anthropic API, job failures and the ledger-backed disabled-jobs gauge, and the
--metrics-port server for Socket Mode. Counters are per process, so every check compares before/after."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import health
from bot.cli import main
from bot.config import ConfigError
from bot.ledger import Ledger, now_iso
from bot.slack.server import http_server, serve_slack
from bot.startup import create_bot
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.slack_server import (
    ALICE,
    JSON_CONTENT_TYPE,
    FakeSlack,
    events_api_body,
    signed_request_headers,
)
from tests.slack.helpers import block_texts, demo_environ, demo_settings, make_slackbot, thread_reply

Samples = dict[tuple[str, frozenset], float]


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def scrape(base: str) -> Samples:
    status, content_type, body = get(base + "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def post_event(base: str, fake: FakeSlack, event: dict, event_id: str, retry_num: int | None = None) -> int:
    body = events_api_body(event, event_id=event_id)
    headers = signed_request_headers(fake.signing_secret, body, content_type=JSON_CONTENT_TYPE,
                                     **({"retry_num": retry_num, "retry_reason": "http_timeout"} if retry_num else {}))
    request = urllib.request.Request(base + "/slack/events", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


@pytest.fixture
def base(slackbot) -> Iterator[str]:
    server = http_server(slackbot, "127.0.0.1", 0).start()
    yield server.url.removesuffix("/slack/events")
    server.stop()


def scrape_until(base: str, done, timeout: float = 5.0) -> Samples:
    """The reply is posted before the ledger writes the outcome: scrape until the request is counted."""
    deadline = time.monotonic() + timeout
    while not done(samples := scrape(base)):
        assert time.monotonic() < deadline, "the request never showed up in /metrics"
        time.sleep(0.01)
    return samples


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_metrics_show_the_slack_event_just_answered(slackbot, base, fake_slack: FakeSlack):
    before = scrape(base)
    event = fake_slack.app_mention("what is the demo status")
    fake_slack._record_user_message(event)
    assert post_event(base, fake_slack, event, "EvMETRICS001") == 200
    assert block_texts(thread_reply(fake_slack, event)[0])[0] == "all systems go"
    assert post_event(base, fake_slack, event, "EvMETRICS001", retry_num=1) == 200   # a redelivery: no new request
    slackbot.drain()
    after = scrape(base)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("opsbot_requests_total", tier="script", outcome="ok") == 1
    assert delta("opsbot_script_runs_total", script="demo.status", exit_code="0", status="ok") == 1
    assert delta("opsbot_slack_ack_seconds_count", mode="http") == 2          # both deliveries were acked
    assert delta("opsbot_slack_ack_seconds_bucket", mode="http", le="+Inf") == 2
    assert value(after, "opsbot_ledger_up") == 1
    assert value(after, "opsbot_jobs_disabled") == 0


def test_readyz_and_healthz_on_the_http_server(base):
    assert get(base + "/healthz")[0::2] == (200, b"ok")
    assert get(base + "/readyz")[0::2] == (200, b"ready")
    assert get(base + "/nothing")[0] == 404


def test_llm_tokens_cost_and_latency_by_model(root, fake_slack: FakeSlack, fake_anthropic: FakeAnthropic):
    settings = demo_settings(root, anthropic_api_key="test-key", anthropic_base_url=fake_anthropic.base_url,
                             bot_llm_max_retries=0)
    sb = make_slackbot(create_bot(settings, demo_environ(root)), fake_slack)
    server = http_server(sb, "127.0.0.1", 0).start()
    url = server.url.removesuffix("/slack/events")
    try:
        before = scrape(url)
        fake_anthropic.reply_text("The build is red on Fridays because the nightly job overlaps deploys.")
        event = fake_slack.app_mention("why is the build red on friday afternoons")
        fake_slack._record_user_message(event)
        assert post_event(url, fake_slack, event, "EvMETRICSLLM1") == 200
        assert "nightly job" in block_texts(thread_reply(fake_slack, event)[0])[0]
        sb.drain()
        after = scrape(url)
    finally:
        server.stop()
        sb.close(timeout=5)
    calls = sb.ledger.db.execute("SELECT model, SUM(input_tokens), SUM(output_tokens), SUM(cost_usd), COUNT(*) "
                                 "FROM llm_calls GROUP BY model").fetchall()
    assert calls, "the answer must have come from an LLM call"
    for model, input_tokens, output_tokens, cost, count in calls:
        assert value(after, "opsbot_llm_tokens_total", model=model, kind="input") - \
            value(before, "opsbot_llm_tokens_total", model=model, kind="input") == input_tokens
        assert value(after, "opsbot_llm_tokens_total", model=model, kind="output") - \
            value(before, "opsbot_llm_tokens_total", model=model, kind="output") == output_tokens
        assert value(after, "opsbot_llm_cost_usd_total", model=model) - \
            value(before, "opsbot_llm_cost_usd_total", model=model) == pytest.approx(cost)
        assert value(after, "opsbot_llm_latency_seconds_count", model=model) - \
            value(before, "opsbot_llm_latency_seconds_count", model=model) == count
    assert value(after, "opsbot_requests_total", tier="direct", outcome="ok") - \
        value(before, "opsbot_requests_total", tier="direct", outcome="ok") == 1


def test_job_failures_and_disabled_jobs_from_the_ledger(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db")
    other_replica = Ledger(tmp_path / "ledger.db")     # same database, another process's view
    server = health.serve_port(0, other_replica, host="127.0.0.1")
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        before = scrape(url)
        for _ in range(2):
            status, run_id = ledger.start_job_run("nightly-check", started_at=now_iso(), deadline_at=now_iso(),
                                                  holder="test", pid=1, trigger="cron")
            assert status == "started"
            ledger.finish_job_run(run_id, status="error", error="exit 4", finished_at=now_iso(), duration_ms=5,
                                  max_failures=2)
        after = scrape(url)
    finally:
        server.shutdown()
    assert value(after, "opsbot_job_failures_total", job="nightly-check") - \
        value(before, "opsbot_job_failures_total", job="nightly-check") == 2
    assert value(after, "opsbot_job_runs_total", job="nightly-check", status="error") - \
        value(before, "opsbot_job_runs_total", job="nightly-check", status="error") == 2
    assert value(after, "opsbot_job_disables_total", job="nightly-check") - \
        value(before, "opsbot_job_disables_total", job="nightly-check") == 1
    # state, read from the shared ledger at scrape time: what every replica reports
    assert value(before, "opsbot_jobs_disabled") == 0
    assert value(after, "opsbot_job_disabled", job="nightly-check") == 1
    assert value(after, "opsbot_jobs_disabled") == 1


def test_metrics_port_serves_health_and_says_when_the_ledger_is_gone(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db")
    server = health.serve_port(0, ledger, host="127.0.0.1")
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        assert get(url + "/healthz")[0::2] == (200, b"ok")
        assert get(url + "/readyz")[0::2] == (200, b"ready")
        assert get(url + "/other")[0] == 404
        (tmp_path / "ledger.db").unlink()                # each request thread opens the file anew: no tables
        status, _, body = get(url + "/readyz")
        assert status == 503 and body.startswith(b"not ready: ledger unavailable")
        assert value(scrape(url), "opsbot_ledger_up") == 0
        with pytest.raises(ConfigError, match=f"BOT_METRICS_PORT / --metrics-port {server.server_port}: "):
            health.serve_port(server.server_port, ledger, host="127.0.0.1")
    finally:
        server.shutdown()


def test_socket_mode_serves_metrics_on_the_metrics_port(root, fake_slack: FakeSlack, monkeypatch):
    monkeypatch.setenv("HOME", str(root / "home"))
    port = free_port()
    settings = demo_settings(root, slack_bot_token=fake_slack.bot_token, slack_app_token=fake_slack.app_token,
                             slack_api_url=fake_slack.api_url, bot_metrics_port=port)
    stop = threading.Event()
    thread = threading.Thread(target=serve_slack, args=(settings,), kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        fake_slack.wait_for_connection(1, timeout=10)
        url = f"http://127.0.0.1:{port}"
        before = scrape(url)
        event = fake_slack.app_mention("what is the demo status", user=ALICE)
        fake_slack.send_event(event)
        assert block_texts(thread_reply(fake_slack, event)[0])[0] == "all systems go"
        after = scrape_until(url, lambda s: value(s, "opsbot_requests_total", tier="script", outcome="ok")
                             > value(before, "opsbot_requests_total", tier="script", outcome="ok"))
        assert value(after, "opsbot_slack_ack_seconds_count", mode="socket") > \
            value(before, "opsbot_slack_ack_seconds_count", mode="socket")
        assert value(after, "opsbot_scheduler_leader") == 1        # the only process: it holds the lease
    finally:
        stop.set()
        thread.join(10)


def test_bad_metrics_port_is_one_line(capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--metrics-port", "99999"])
    assert exit_.value.code == 2
    assert "--metrics-port: expected a port number 0-65535, got '99999'" in capsys.readouterr().err
    monkeypatch.setenv("BOT_METRICS_PORT", "lots")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bot: invalid configuration: BOT_METRICS_PORT") and err.count("\n") == 1
