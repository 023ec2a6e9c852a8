"""/ops jobs and /ops health on the scheduler's JobService, with the script ACL for changing a job."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.jobs.posters import SlackPoster
from bot.jobs.schedule import JobService
from bot.pipeline import OpsBot
from bot.slack.bot import SlackBot
from tests.fakes.slack_server import ALICE, BOB, GENERAL, FakeSlack
from tests.slack.helpers import connect, demo_environ, demo_settings, make_slackbot, write_demo_registry

JOBS = [
    {"name": "demo-check", "schedule": "every 1h", "script": "demo.status", "post_to": GENERAL},
    {"name": "finance-digest", "schedule": "0 9 * * 1", "script": "demo.finance", "post_to": GENERAL},
]


@pytest.fixture
def jobs_slackbot(tmp_path, fake_slack: FakeSlack) -> Iterator[SlackBot]:
    write_demo_registry(tmp_path, jobs=JOBS)
    bot = OpsBot(demo_settings(tmp_path, bot_scheduler=False), environ=demo_environ(tmp_path))
    assert not bot.registry.problems, bot.registry.problems
    sb = make_slackbot(bot, fake_slack)
    sb.jobs = JobService(bot, poster=SlackPoster(sb.client), summarizer=False)
    with connect(sb.app, fake_slack):
        yield sb
    sb.close(timeout=5)


def _response(fake: FakeSlack, text: str, user: str = ALICE) -> dict:
    before = len(fake.responses)
    fake.send_slash_command("/ops", text, user_id=user)
    response = fake.wait_for(lambda: fake.responses[before:], timeout=10)[0]
    assert response["response_type"] == "ephemeral"
    return response


def _ops(fake: FakeSlack, text: str, user: str = ALICE) -> str:
    return _response(fake, text, user)["text"]


def test_jobs_list_run_and_acl_for_changes(jobs_slackbot, fake_slack: FakeSlack):
    listing = _ops(fake_slack, "jobs")
    assert "demo-check" in listing and "finance-digest" in listing
    ran = _ops(fake_slack, "jobs run demo-check")
    assert "`demo-check` run" in ran and ": ok in" in ran
    assert fake_slack.wait_for(lambda: [m for m in fake_slack.history(GENERAL) if "all systems go" in m["text"]])
    assert _ops(fake_slack, "jobs disable finance-digest") == (
        "You are not allowed to run `demo.finance` here, so you cannot change job `finance-digest`.")
    assert jobs_slackbot.ledger.job_state("finance-digest") is None or \
        jobs_slackbot.ledger.job_state("finance-digest")["enabled"]
    assert "disabled" in _ops(fake_slack, "jobs disable finance-digest", user=BOB)
    assert not jobs_slackbot.ledger.job_state("finance-digest")["enabled"]
    assert "usage: /ops jobs" in _ops(fake_slack, "jobs run")


def test_health_answers_with_the_heartbeat_report(jobs_slackbot, fake_slack: FakeSlack):
    response = _response(fake_slack, "health")
    assert response["text"].startswith("✅ opsbot heartbeat: all")
    blocks = str(response["blocks"])
    assert "ledger" in blocks and "jobs" in blocks and "scheduler" in blocks


def test_without_a_job_service_jobs_and_health_say_so(connected, fake_slack: FakeSlack):
    assert _ops(fake_slack, "jobs") == "Scheduled jobs are not available in this process."
    assert _ops(fake_slack, "health") == "Health checks are not available in this process."
