"""The built-in heartbeat job: its spec, the checks it runs over a JobService, and when it posts.

Zero tokens when all is well: the checks and the report are bot/jobs/checks.py; `should_post` decides
whether a scheduled run posts (on change, on trouble, once a day in full); only a report that is not ok
may be summarised by the mid model, never over the daily budget. The name is reserved in bot/jobs/spec.py
(BUILT_IN_JOBS) so the registry cannot define a job that shadows it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from bot.jobs.checks import (
    Check,
    Report,
    anthropic_summarizer,
    build_report,
    check_anthropic,
    check_disk,
    check_jobs,
    check_ledger,
    check_memory,
    check_scheduler,
    check_slack,
    check_spend,
    check_stuck_requests,
    check_tiers,
    should_post,
)
from bot.jobs.posters import deliver
from bot.jobs.run import Outcome
from bot.jobs.spec import JobSpec
from bot.jobs.triggers import HEARTBEAT, build_trigger
from bot.learn_ops import zero_token_check
from bot.ledger import iso

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.jobs.posters import Poster
    from bot.ledger import Ledger
    from bot.pipeline import OpsBot

log = logging.getLogger(__name__)

TIMEOUT_S = 120.0
Summarizer = Callable[[Report], "str | None"]


class JobService(Protocol):
    """What the heartbeat uses of bot.jobs.schedule.JobService (which runs it: typed here, not imported)."""

    settings: Settings
    ledger: Ledger
    bot: OpsBot
    poster: Poster
    holder: str
    lease_name: str
    summarizer: Summarizer | None

    def clock(self) -> dt.datetime: ...

    def list_jobs(self, now: dt.datetime | None = None) -> list[dict[str, Any]]: ...


def spec(settings: Settings) -> JobSpec:
    """The heartbeat as a job (BOT_HEARTBEAT_CRON, BOT_HEARTBEAT_CHANNEL). Raises ValueError on a bad cron."""
    build_trigger(settings.bot_heartbeat_cron)
    return JobSpec(name=HEARTBEAT, schedule=settings.bot_heartbeat_cron, timezone="UTC", kind="builtin",
                   target=HEARTBEAT, post_to=settings.bot_heartbeat_channel, alert_to=settings.bot_alert_channel,
                   timeout_s=TIMEOUT_S, description="Built-in health check: zero tokens when all is well")


def summarizer(service: JobService) -> Summarizer | None:
    """The mid-model summary of a troubled report, within what is left of the daily budget."""
    settings, ledger = service.settings, service.ledger

    def budget_left() -> float:
        budget = settings.bot_daily_budget_usd          # None: no cap
        return float("inf") if budget is None else budget - ledger.spend_today(service.clock())

    return anthropic_summarizer(settings, ledger, budget_left=budget_left, redactor=service.bot.redactor)


def checks(service: JobService, now: dt.datetime) -> list[tuple[str, Callable[[], Check]]]:
    settings, ledger, bot = service.settings, service.ledger, service.bot
    jobs: list[dict] = []

    def job_list() -> list[dict]:
        if not jobs:
            jobs.extend(service.list_jobs(now))
        return jobs

    return [
        ("slack", lambda: check_slack(settings)),
        ("anthropic", lambda: check_anthropic(settings)),
        ("ledger", lambda: check_ledger(ledger, now)),
        ("disk", lambda: check_disk(settings.bot_home)),
        ("scheduler", lambda: check_scheduler(ledger, job_list(), now, enabled=settings.bot_scheduler,
                                              lease_name=service.lease_name, this_holder=service.holder)),
        ("jobs", lambda: check_jobs(job_list())),
        ("requests", lambda: check_stuck_requests(
            ledger, now, dt.timedelta(minutes=settings.bot_stuck_request_minutes))),
        ("tiers", lambda: check_tiers(ledger, now)),
        ("spend", lambda: check_spend(ledger, settings.bot_daily_budget_usd, now)),
        ("memory", lambda: check_memory(bot.memory if bot.memory.ledger else settings.memory_dir,
                                        now, dt.timedelta(days=settings.bot_memory_stale_days))),
        ("learning", lambda: zero_token_check(bot, now)),
    ]


def report(service: JobService, now: dt.datetime) -> Report:
    """Every check now, at zero tokens."""
    return build_report(checks(service, now), now)


def run(service: JobService, now: dt.datetime) -> Outcome:
    """One scheduled (or manual) heartbeat: report, and post it when `should_post` says so."""
    ledger = service.ledger
    result = report(service, now)
    post, full = should_post(result, last_fingerprint=ledger.get_state("heartbeat.fingerprint"),
                             last_full_day=ledger.get_state("heartbeat.full_day"), now=now)
    result.full = full
    if post:
        if result.status != "ok" and service.summarizer is not None:
            try:
                result.summary = service.summarizer(result)
            except Exception as exc:
                log.warning("heartbeat summary failed: %s", exc)
        channel = service.settings.bot_heartbeat_channel
        if deliver(service.poster, channel, result.to_text(), result.to_blocks()):
            ledger.set_state("heartbeat.fingerprint", result.fingerprint(), iso(now))
            if full:
                ledger.set_state("heartbeat.full_day", now.astimezone(dt.UTC).date().isoformat(), iso(now))
    log.info("heartbeat: %s (%s)", result.status, "posted" if post else "unchanged, not posted")
    return Outcome("ok", result.to_text())
