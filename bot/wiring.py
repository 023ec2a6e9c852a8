"""Builds the bot from settings: the one place that decides which parts are switched on."""

from __future__ import annotations

import os

from bot.app import OpsBot
from bot.config import Settings


def create_bot(settings: Settings, environ: dict[str, str] | None = None) -> OpsBot:
    environ = dict(os.environ if environ is None else environ)
    bot = OpsBot(settings, environ=environ)
    if settings.llm_configured:  # without a key the pipeline answers LLM requests with a one-line hint
        bot.orchestrator_factory = _build_orchestrator
    return bot


def _build_orchestrator(bot: OpsBot):
    """Imported here, on the first request that needs a model: the SDK costs most of start-up."""
    from bot.orchestrator import build_orchestrator

    return build_orchestrator(bot)
