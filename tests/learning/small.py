"""A small registry of shell scripts and a bot whose orchestrator is the real one, on the fake Messages API."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from bot.config import Settings
from bot.pipeline import OpsBot
from bot.startup import create_bot
from tests.fakes.anthropic_server import FakeAnthropic

ENTRIES = [
    {"name": "demo.disk", "summary": "Disk usage of the host: how full the disks are",
     "examples": ["how full is the disk", "disk usage"], "side_effects": "read"},
    {"name": "demo.load", "summary": "CPU load and memory of the host",
     "examples": ["what is the cpu load", "memory usage"], "side_effects": "read"},
    {"name": "demo.port", "summary": "Is a TCP port open on a host", "side_effects": "read",
     "args": [{"name": "host", "type": "host", "required": True}, {"name": "port", "type": "int", "required": True}],
     "examples": ["is port 443 open on example.com"]},
    {"name": "demo.prs", "summary": "Open pull requests of a repository", "side_effects": "read",
     "args": [{"name": "repo", "type": "string"}, {"name": "limit", "type": "int", "default": 10}],
     "examples": ["open pull requests in acme/web", "list open prs"]},
    {"name": "demo.restart", "summary": "Restart a service", "side_effects": "write",
     "args": [{"name": "service", "type": "string", "required": True}]},
]


def write_small(root: Path) -> None:
    for entry in ENTRIES:
        service, action = entry["name"].split(".", 1)
        path = root / "scripts" / service / action
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'#!/bin/sh\necho "{entry["name"]} says ok $*"\n')
        path.chmod(0o755)
    (root / "registry").mkdir(parents=True, exist_ok=True)
    (root / "registry" / "demo.yaml").write_text(yaml.safe_dump({"scripts": ENTRIES}, sort_keys=False))
    (root / "skills").mkdir(exist_ok=True)


def small_bot(root: Path, fake: FakeAnthropic, **extra) -> OpsBot:
    settings = Settings(bot_home=root / "home", bot_registry=root / "registry", bot_scripts=root / "scripts",
                        bot_skills=root / "skills", anthropic_api_key="test-key", anthropic_base_url=fake.base_url,
                        bot_daily_budget_usd=1000, bot_llm_max_retries=0, bot_scheduler=False, **extra)
    bot = create_bot(settings, environ={"PATH": "/usr/bin:/bin", "HOME": str(root)})
    assert not bot.registry.problems, bot.registry.problems
    return bot


def month_ago() -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
