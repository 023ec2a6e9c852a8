"""Builds the bot from settings: the one place that decides which parts are switched on."""

from __future__ import annotations

import os

from bot.config import ConfigError, Settings
from bot.errors import check_home
from bot.pipeline import OpsBot
from bot.services import Services


def create_bot(settings: Settings, environ: dict[str, str] | None = None) -> OpsBot:
    environ = dict(os.environ if environ is None else environ)
    if (fault := check_home(settings)) is not None:
        raise ConfigError(fault.line)
    bot = OpsBot(settings, environ=environ)
    if settings.llm_configured:  # without a key the pipeline answers LLM requests with a one-line hint
        if settings.bot_pricing_file:   # a bad price file is a start-up error, not the first question's
            from bot.pricing import PriceTable

            PriceTable.load(settings.bot_pricing_file)
        bot.orchestrator_factory = _build_orchestrator
    return bot


def _build_orchestrator(services: Services):
    """Imported here, on the first request that needs a model: the SDK costs most of start-up."""
    from bot.orchestrator import build_orchestrator

    return build_orchestrator(services)
