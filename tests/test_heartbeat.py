"""The heartbeat: each check, the rendered report (healthy, disabled job, stuck request, budget at 90 %,
Slack unreachable), when it posts, and that it costs zero tokens unless something is wrong.

Slack is a local auth.test server (or a closed port), Anthropic the shared fake Messages API, the
ledger a real SQLite file. Disk thresholds are pinned so a nearly full CI disk does not flip "healthy".
"""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from bot.jobs import checks as heartbeat
from bot.jobs.checks import (
    Check,
    Report,
    build_report,
    check_memory,
    check_spend,
    check_stuck_requests,
    should_post,
)
from bot.jobs.commands import health
from tests.test_scheduler_helpers import FakeSlackAuth, RecordingPoster, World, closed_port

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _roomy_disk(monkeypatch):
    monkeypatch.setattr(heartbeat, "DISK_WARN_FREE", 0.0)
    monkeypatch.setattr(heartbeat, "DISK_FAIL_FREE", 0.0)
    monkeypatch.setattr(heartbeat, "DISK_WARN_BYTES", 0)
    monkeypatch.setattr(heartbeat, "DISK_FAIL_BYTES", 0)


@pytest.fixture
def slack():
    with FakeSlackAuth() as fake:
        yield fake


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path)


def healthy_service(world, slack, fake_anthropic, **kwargs):
    settings = world.settings(slack_bot_token="xoxb-test", slack_api_url=slack.api_url,
                              anthropic_api_key="sk-ant-test", anthropic_base_url=fake_anthropic.base_url,
                              **kwargs.pop("settings", {}))
    service = world.service(settings=settings, clock=lambda: NOW, **kwargs)
    assert service.tick(NOW) is True                      # a scheduler holds the lease
    return service


def block_texts(blocks: list[dict]) -> str:
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        for element in block.get("elements", []):
            out.append(element.get("text", ""))
    return "\n".join(out)


# -- the five reports -------------------------------------------------------------------------------


def test_report_all_healthy(world, slack, fake_anthropic):
    service = healthy_service(world, slack, fake_anthropic, summarizer=True)     # the real mid-model summary
    assert service.summarizer is not None
    report = service.health_report()
    assert report.status == "ok", report.to_text()
    assert [c.name for c in report.checks] == ["slack", "anthropic", "ledger", "disk", "scheduler", "jobs",
                                               "requests", "tiers", "spend", "memory", "learning"]
    assert "auth.test ok: opsbot in Acme" in report.check("slack").detail
    assert report.check("anthropic").detail.startswith("key valid (0 tokens)")
    assert fake_anthropic.message_requests == []              # a models.list, never a message
    assert "alive (this process)" in report.check("scheduler").detail
    text = report.to_text()
    assert text.splitlines()[0] == "✅ opsbot heartbeat: all 11 checks ok" and text.endswith("0 tokens")
    assert "learning: 0 requests this week could have been answered at 0 tokens — /ops learn" in text
    blocks = report.to_blocks(full=True)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": text.splitlines()[0],
                                                    "emoji": True}}
    assert len(blocks) == 14 and "full report · 0 tokens" in block_texts(blocks)
    compact = report.to_blocks(full=False)
    assert "Nothing needs attention." in block_texts(compact) and len(compact) == 3
    # The heartbeat job itself: posted, recorded, and zero tokens — the model is never asked.
    assert service.run_now("heartbeat").ok
    assert len(service.poster.to("#heartbeat")) == 1
    assert fake_anthropic.message_requests == []
    assert service.ledger.db.execute("SELECT COUNT(*) FROM llm_calls").fetchone()[0] == 0


def test_report_with_a_disabled_job(world, slack, fake_anthropic):
    service = healthy_service(world, slack, fake_anthropic)
    world.mode("flaky", "fail")
    for _ in range(3):
        service.run_now("flaky")
    report = service.health_report()
    jobs = report.check("jobs")
    assert report.status == "warn" and jobs.status == "warn"
    assert "disabled after failures: flaky (" in jobs.detail and "upstream said no" in jobs.detail
    assert report.to_text().splitlines()[0] == "⚠️ opsbot heartbeat: 1 warning"
    compact = block_texts(report.to_blocks(full=False))
    assert "*jobs*" in compact and "flaky" in compact and "*slack*" not in compact


def test_report_with_a_stuck_request(world, slack, fake_anthropic):
    service = healthy_service(world, slack, fake_anthropic)
    ledger = service.ledger
    stuck = ledger.start_request(source="slack", text="deploy status")
    ledger.db.execute("UPDATE requests SET received_at = ? WHERE id = ?",
                      [(NOW - dt.timedelta(minutes=25)).isoformat(timespec="milliseconds"), stuck])
    ledger.start_request(source="slack", text="just arrived")            # young: not stuck
    report = service.health_report()
    check = report.check("requests")
    assert check.status == "warn" and f"`{stuck}` (slack)" in check.detail
    assert check.detail.startswith("1 stuck without an outcome after 10 min")
    assert stuck in block_texts(report.to_blocks())


def test_report_with_budget_at_90_percent(world, slack, fake_anthropic):
    service = healthy_service(world, slack, fake_anthropic, settings={"bot_daily_budget_usd": 10.0})
    service.ledger.record_llm_call(request_id=None, model="claude-sonnet-5-5", purpose="orchestrator",
                                   cost_usd=9.0)
    report = service.health_report()
    spend = report.check("spend")
    assert spend.status == "warn" and spend.detail == "$9.00 of $10.00 daily budget (90%)"
    assert report.status == "warn" and "$9.00 of $10.00" in block_texts(report.to_blocks(full=False))


def test_report_with_slack_unreachable(world, fake_anthropic):
    url = f"http://127.0.0.1:{closed_port()}/api/"
    settings = world.settings(slack_bot_token="xoxb-test", slack_api_url=url)
    service = world.service(settings=settings, clock=lambda: NOW)
    service.tick(NOW)
    report = service.health_report()
    slack = report.check("slack")
    assert slack.status == "fail" and slack.detail.startswith(f"cannot reach Slack at {url}")
    assert report.status == "fail"
    assert report.to_text().splitlines()[0] == "🔴 opsbot heartbeat: 1 failing"
    assert block_texts(report.to_blocks(full=False)).count("*slack*") == 1


def test_slack_token_rejected_and_checks_not_configured(world, slack):
    slack.ok = False
    service = world.service(settings=world.settings(slack_bot_token="xoxb-bad", slack_api_url=slack.api_url))
    report = service.health_report()
    assert report.check("slack").detail == "auth.test refused: invalid_auth"
    assert report.check("anthropic").status == "skip"
    assert report.check("anthropic").detail.startswith("not configured")
    unconfigured = world.service().health_report()
    assert unconfigured.check("slack").status == "skip"


def test_anthropic_key_rejected(world):
    from tests.fakes.anthropic_server import FakeAnthropic

    with FakeAnthropic(api_key="the-right-key") as fake:
        service = world.service(settings=world.settings(anthropic_api_key="wrong",
                                                        anthropic_base_url=fake.base_url))
        check = service.health_report().check("anthropic")
    assert check.status == "fail" and check.detail == "API key rejected (401)"


# -- individual checks ---------------------------------------------------------------------------------


def test_spend_bands(world):
    ledger = world.service().ledger
    assert check_spend(ledger, 10.0, NOW).status == "ok"
    ledger.record_llm_call(request_id=None, model="m", purpose="x", cost_usd=10.5)
    over = check_spend(ledger, 10.0, NOW)
    assert over.status == "fail" and "(105%)" in over.detail


TEN_MINUTES, THIRTY_DAYS = dt.timedelta(minutes=10), dt.timedelta(days=30)


def test_stuck_requests_ignore_answered_ones(world):
    ledger = world.service().ledger
    rid = ledger.start_request(source="slack", text="x")
    ledger.finish_request(rid, "ok")
    assert check_stuck_requests(ledger, NOW + dt.timedelta(hours=1), TEN_MINUTES).status == "ok"


def test_memory_triage_counts_stale_and_near_duplicates(tmp_path):
    memory = tmp_path / "memory"
    memory.mkdir()
    front = "---\nsummary: {s}\ncreated_by: U1\ncreated_at: 2026-01-01\n---\n"
    (memory / "deploys.md").write_text(front.format(s="deploys") + "Deploys to production happen on "
                                       "Tuesdays and Thursdays after 14:00, never on Fridays.\n")
    (memory / "deploy-days.md").write_text(front.format(s="deploy days") + "Deploys to production happen "
                                           "on Tuesdays and Thursdays after 14:00 — never on Fridays!\n")
    (memory / "oncall.md").write_text(front.format(s="on-call") + "The on-call rota lives in PagerDuty, "
                                      "schedule 'Platform primary'.\n")
    old = (NOW - dt.timedelta(days=45)).timestamp()
    os.utime(memory / "oncall.md", (old, old))
    check = check_memory(memory, NOW, THIRTY_DAYS)
    assert check.status == "warn"
    assert check.data["notes"] == 3 and check.data["stale"] == ["oncall.md"]
    assert check.data["duplicates"] == [("deploy-days.md", "deploys.md")]
    assert "1 near-duplicate pair: deploy-days.md ≈ deploys.md" in check.detail
    (memory / "deploy-days.md").unlink()
    assert check_memory(memory, NOW, THIRTY_DAYS).status == "ok"
    assert check_memory(tmp_path / "none", NOW, THIRTY_DAYS).detail == "no notes yet"


def test_tier_error_rate_and_latency(world):
    service = world.service()
    ledger = service.ledger
    for i in range(6):
        rid = ledger.start_request(source="slack", text=f"q{i}")
        ledger.record_decision(rid, tier="direct", decided_by="orchestrator", reason="r")
        ledger.finish_request(rid, "error" if i < 2 else "ok", latency_ms=1000.0 * (i + 1))
    check = service.health_report().check("tiers")
    assert check.status == "warn" and "direct 6 req, 33% errors, p95 5.8s" in check.detail
    assert check.key == "direct:errors"


def test_a_crashing_check_is_a_failed_check_not_a_broken_heartbeat():
    def boom() -> Check:
        raise RuntimeError("disk probe exploded")

    report = build_report([("ledger", lambda: Check("ledger", "ok", "writable")), ("disk", boom)], NOW)
    assert [c.status for c in report.checks] == ["ok", "fail"] and report.status == "fail"
    assert "RuntimeError: disk probe exploded" in report.check("disk").detail


# -- when it posts, and that it costs nothing when all is well -----------------------------------------


def test_should_post_on_change_on_trouble_and_daily_in_full():
    ok = Report([Check("a", "ok", "fine, 10 GB")], NOW)
    post, full = should_post(ok, last_fingerprint=None, last_full_day=None, now=NOW)
    assert (post, full) == (True, True)
    today = NOW.date().isoformat()
    same = Report([Check("a", "ok", "fine, 9 GB")], NOW)                  # details moved, status did not
    assert should_post(same, last_fingerprint=ok.fingerprint(), last_full_day=today, now=NOW) == (False, False)
    warn = Report([Check("a", "warn", "hmm", key="x")], NOW)
    assert should_post(warn, last_fingerprint=ok.fingerprint(), last_full_day=today, now=NOW) == (True, False)
    assert should_post(warn, last_fingerprint=warn.fingerprint(), last_full_day=today, now=NOW)[0] is False
    fail = Report([Check("a", "fail", "down", key="x")], NOW)
    assert should_post(fail, last_fingerprint=fail.fingerprint(), last_full_day=today, now=NOW)[0] is True
    tomorrow = NOW + dt.timedelta(days=1)
    assert should_post(ok, last_fingerprint=ok.fingerprint(), last_full_day=today, now=tomorrow) == (True, True)


def test_heartbeat_job_posts_on_change_and_records_itself(world, slack, fake_anthropic):
    poster = RecordingPoster()
    summaries = []
    service = healthy_service(world, slack, fake_anthropic, poster=poster,
                              summarizer=lambda report: summaries.append(report.status) or "Look at jobs.")
    first = service.run_now("heartbeat")
    assert first.ok and len(poster.to("#heartbeat")) == 1              # first of the day: full report
    assert "full report · 0 tokens" in block_texts(poster.to("#heartbeat")[0]["blocks"])
    service.run_now("heartbeat")
    assert len(poster.to("#heartbeat")) == 1                            # nothing changed: silent
    assert summaries == []                                              # healthy: no model call
    world.mode("flaky", "fail")
    for _ in range(3):
        service.run_now("flaky")
    service.run_now("heartbeat")
    posts = poster.to("#heartbeat")
    assert len(posts) == 2 and summaries == ["warn"]
    assert posts[1]["text"].splitlines()[1] == "Look at jobs."          # the summary, under the headline
    assert "changes only" in block_texts(posts[1]["blocks"])
    assert [r["status"] for r in service.history("heartbeat")] == ["ok", "ok", "ok"]


def test_heartbeat_without_slack_logs_its_report_only_on_change(world, caplog):
    from bot.jobs.posters import LogPoster

    service = world.service(poster=LogPoster())
    assert service.run_now("heartbeat").ok and service.run_now("heartbeat").ok
    logged = [r for r in caplog.records if r.name == "bot.jobs.posts" and "opsbot heartbeat" in r.getMessage()]
    assert len(logged) == 1 and logged[0].getMessage().startswith("[#heartbeat] ")


def test_heartbeat_retries_a_post_that_failed(world):
    class Down:
        def post(self, channel, text, blocks=None):
            raise ConnectionError("slack down")

    service = world.service(poster=Down())
    assert service.run_now("heartbeat").ok                               # the run itself succeeded
    assert service.ledger.get_state("heartbeat.fingerprint") is None    # so the next one posts again


def test_summary_by_the_mid_model_only_when_wrong_and_recorded(world, fake_anthropic):
    fake_anthropic.reply_text("Job flaky is disabled; fix the upstream and re-enable it.",
                              usage={"input_tokens": 120, "output_tokens": 20})
    settings = world.settings(anthropic_api_key="sk-ant-test", anthropic_base_url=fake_anthropic.base_url)
    service = world.service(settings=settings, summarizer=True)
    assert service.summarizer is not None
    assert service.summarizer(Report([Check("a", "ok", "fine")], NOW)) is None
    text = service.summarizer(Report([Check("jobs", "warn", "flaky disabled")], NOW))
    assert text.startswith("Job flaky is disabled")
    request = fake_anthropic.message_requests[0]
    assert request.body["max_tokens"] == 2_000 and request.model == settings.bot_model_mid   # thinking counts
    assert request.body["output_config"]["effort"] == "low"
    call = service.ledger.db.execute("SELECT purpose, input_tokens, output_tokens, cost_usd FROM llm_calls"
                                     ).fetchone()
    assert call[:3] == ("heartbeat-summary", 120, 20) and call[3] > 0
    service.ledger.record_llm_call(request_id=None, model="m", purpose="x", cost_usd=19.99)   # budget spent
    assert service.summarizer(Report([Check("jobs", "warn", "x")], NOW)) is None
    assert len(fake_anthropic.message_requests) == 1


def test_cli_health_json(world, monkeypatch, capsys):
    from bot.cli import main

    world.use_for_cli(monkeypatch)
    assert main(["health", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    checks = {c["name"]: c for c in report["checks"]}
    assert len(checks) == 11 and checks["slack"]["status"] == "skip" and checks["anthropic"]["status"] == "skip"
    assert checks["scheduler"]["detail"].startswith("no scheduler has run yet")   # no `bot serve` ran
    assert report["status"] == "warn"
    assert main(["health"]) == 0
    assert "opsbot heartbeat" in capsys.readouterr().out


def test_ops_health_command(world):
    result = health(world.service())
    assert result.blocks[0]["type"] == "header" and "opsbot heartbeat" in result.text


def test_budget_zero_means_the_heartbeat_never_asks_the_model(world, fake_anthropic):
    fake_anthropic.reply_text("Job flaky is disabled.")
    settings = world.settings(anthropic_api_key="sk-ant-test", anthropic_base_url=fake_anthropic.base_url,
                              bot_daily_budget_usd=0)
    service = world.service(settings=settings, summarizer=True)
    assert service.summarizer(Report([Check("jobs", "warn", "flaky disabled")], NOW)) is None
    assert fake_anthropic.message_requests == []
    unlimited = world.service(settings=world.settings(anthropic_api_key="sk-ant-test", bot_daily_budget_usd="none",
                                                      anthropic_base_url=fake_anthropic.base_url), summarizer=True)
    unlimited.ledger.record_llm_call(request_id=None, model="m", purpose="x", cost_usd=500.0)
    assert unlimited.summarizer(Report([Check("jobs", "warn", "flaky disabled")], NOW)) == "Job flaky is disabled."
