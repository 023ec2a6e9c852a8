"""A ledger with history, made the way production makes it: the real OpsBot and orchestrator, the real
anthropic SDK against the local fake Messages API (tests/fakes/anthropic_server.py), real scripts."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.config import PROJECT_ROOT, Settings
from bot.pipeline import OpsBot
from bot.request import Incoming, Reply
from bot.startup import create_bot
from tests.fakes.anthropic_server import FakeAnthropic

DISK = "could you peek at how much room the host's drives still have"


def copy_registry(tmp: Path) -> Path:
    """The real registry, in a folder the test may write learned.yaml to."""
    target = tmp / "registry"
    shutil.copytree(PROJECT_ROOT / "registry", target)
    return target


def settings_for(tmp: Path, fake: FakeAnthropic | None = None, **extra) -> Settings:
    values = {"bot_home": tmp / "home", "bot_registry": tmp / "registry", "bot_skills": PROJECT_ROOT / "skills",
              "bot_scripts": PROJECT_ROOT / "scripts", "bot_daily_budget_usd": 1000, "bot_llm_max_retries": 0,
              "bot_scheduler": False}
    if fake is not None:
        values.update(anthropic_api_key="test-key", anthropic_base_url=fake.base_url)
    values.update(extra)
    return Settings(**values)


def make_bot(tmp: Path, fake: FakeAnthropic, **extra) -> OpsBot:
    return create_bot(settings_for(tmp, fake, **extra), environ={"PATH": "/usr/bin:/bin", "HOME": str(tmp)})


def orchestrated(bot: OpsBot, fake: FakeAnthropic, text: str, script: str, args: dict | None = None,
                 **incoming) -> Reply:
    """`text` goes to the orchestrator (the pre-router must miss it), whose model runs `script`."""
    assert bot.router.route(text).tier == "orchestrator", text
    fake.reply_tool_use("run_script", {"name": script, "args": args or {}, "reason": "that script answers it"})
    fake.reply_text("Here is what the script says.")
    incoming.setdefault("user", "U0ALICE001")
    incoming.setdefault("source", "slack")
    reply = bot.handle(Incoming(text, **incoming))
    assert reply.decided_by == "orchestrator" and reply.script == script, reply
    return reply
