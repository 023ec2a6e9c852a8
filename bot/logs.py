"""Logging: one line per event, secrets redacted on the way out."""

from __future__ import annotations

import logging
import os
import sys

from bot.mrkdwn import strip_ansi
from bot.redact import default_redactor


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = strip_ansi(default_redactor()(record.getMessage()))
        record.args = ()
        return True


def setup_logging(settings) -> None:
    root = logging.getLogger()
    if getattr(root, "_opsbot_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(os.environ.get("BOT_LOG_LEVEL", settings.bot_log_level).upper())
    for noisy in ("slack_bolt", "slack_sdk", "httpx", "httpx2", "anthropic", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    root._opsbot_configured = True  # type: ignore[attr-defined]
