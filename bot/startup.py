"""Start-up, in one place: the bot from settings, its jobs, its metrics port — whichever front end runs.

    create_bot(settings)            the pipeline (LLM tiers switched on by a key, built on first use)
    start_jobs(bot, settings, …)    the scheduler when this process runs one, and the JobService that
                                    answers /ops jobs and /ops health either way
    serve_metrics(settings, bot)    /metrics, /healthz, /readyz on BOT_METRICS_PORT (no HTTP server)

`bot serve` (console or Slack, bot/cli.py and bot/slack/server.py), the WSGI entry point and `bot jobs`
all start through these.
"""

from __future__ import annotations

import os
from typing import Any

from bot.config import ConfigError, Settings
from bot.errors import check_home
from bot.pipeline import OpsBot
from bot.services import Services


def create_bot(settings: Settings, environ: dict[str, str] | None = None) -> OpsBot:
    environ = dict(os.environ if environ is None else environ)
    if (fault := check_home(settings)) is not None:
        raise ConfigError(fault.line)
    bot = OpsBot(settings, environ=environ)
    if settings.bot_pricing_file:   # a bad price file is a start-up error, not the first question's
        from bot.pricing import PriceTable

        PriceTable.load(settings.bot_pricing_file)
    if settings.llm_configured:  # without a key the pipeline answers LLM requests with a one-line hint
        bot.orchestrator_factory = _build_orchestrator
    return bot


def _build_orchestrator(services: Services):
    """Imported here, on the first request that needs a model: the SDK costs most of start-up."""
    from bot.orchestrator import build_orchestrator

    return build_orchestrator(services)


def start_jobs(bot: OpsBot, settings: Settings, poster: Any = None, *, run_scheduler: bool = True
               ) -> tuple[Any, Any]:
    """(the scheduler's handle or None, a JobService). `poster` is where job output goes (the Slack app's
    client in Slack; by default a WebClient when SLACK_BOT_TOKEN is set, else the log)."""
    from bot import metrics
    from bot.jobs.posters import default_poster
    from bot.jobs.schedule import JobService, start_scheduler

    poster = poster or default_poster(settings)
    if run_scheduler and settings.bot_scheduler:
        handle = start_scheduler(bot, settings, poster)
        metrics.watch_scheduler(handle)
        return handle, handle.service
    return None, JobService(bot, settings, poster=poster)


def serve_metrics(settings: Settings, bot: OpsBot) -> Any:
    """The metrics port's server (its .shutdown()), or None when BOT_METRICS_PORT is not set."""
    if settings.bot_metrics_port is None:
        return None
    from bot.health import serve_port

    return serve_port(settings.bot_metrics_port, bot.ledger)
