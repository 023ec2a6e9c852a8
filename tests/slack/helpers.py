"""Helpers for the Slack tests: a small registry of shell scripts, the OpsBot, a SlackBot wired to the
local fake Slack (tests/fakes/slack_server.py), connected over the real Socket Mode client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.config import load_settings
from bot.pipeline import OpsBot
from bot.slack.bot import SlackBot
from bot.slack.webclient import make_web_client
from tests.fakes.slack_fixtures import socket_mode
from tests.fakes.slack_server import ALICE, BOB, BOT_USER_ID, GENERAL, FakeSlack, new_ts

ONCALL = "S0ONCALL01"
FINANCE = "C0FINANCE1"

SCRIPTS = {
    "demo.status": 'echo "all systems go"',
    "demo.restart": 'echo "$*" >> "$HOME/runs.txt"; echo "restarted $*"',
    "demo.finance": 'echo "revenue is up"',
    "demo.oncall": 'echo "pager is quiet"',
    "demo.botonly": 'echo "for the bot"',
    "demo.big": 'i=0; while [ $i -lt 400 ]; do echo "line $i of the big report ................................"; '
                'i=$((i+1)); done',
    "demo.slow": 'sleep 0.4; echo "slow but done"',
    "demo.top": 'echo "top $*"',
    "demo.leak": 'echo "token xoxb-1234567890-abcdefabcdefab is secret"',
    "demo.deploy": 'echo "$*" >> "$HOME/runs.txt"; echo "deployed $*"',
}

ENTRIES = [
    {"name": "demo.status", "summary": "Status of the demo system",
     "patterns": [r"^(?:what is |whats )?(?:the )?demo status\??$"],
     "examples": ["what is the demo status", "is the demo system ok"]},
    {"name": "demo.restart", "summary": "Restart a demo service", "side_effects": "write",
     "args": [{"name": "service", "required": True, "help": "which service"}]},
    {"name": "demo.finance", "summary": "Finance numbers", "patterns": [r"^finance numbers$"],
     "allowed": {"users": [BOB]}},
    {"name": "demo.oncall", "summary": "On-call pager state", "patterns": [r"^pager state$"],
     "allowed": {"groups": [ONCALL]}},
    {"name": "demo.botonly", "summary": "Only the bot user is listed", "patterns": [r"^bot only thing$"],
     "allowed": {"users": [BOT_USER_ID]}},
    {"name": "demo.big", "summary": "A very long report", "patterns": [r"^big report$"]},
    {"name": "demo.slow", "summary": "Takes a while", "patterns": [r"^slow thing$"]},
    {"name": "demo.top", "summary": "Top N things", "patterns": [r"^top things$"],
     "args": [{"name": "limit", "type": "int", "required": True, "help": "how many"}]},
    {"name": "demo.leak", "summary": "Prints a token", "patterns": [r"^leaky thing$"]},
    {"name": "demo.deploy", "summary": "Deploy a demo service", "side_effects": "write",
     "args": [{"name": "service", "required": True}], "allowed": {"groups": [ONCALL]}},
]


def write_demo_registry(root: Path, scripts: dict[str, str] | None = None, entries: list[dict] | None = None,
                        jobs: list[dict] | None = None) -> None:
    for name, body in (scripts or SCRIPTS).items():
        service, action = name.split(".", 1)
        path = root / "scripts" / service / action
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(0o755)
    (root / "registry").mkdir(parents=True, exist_ok=True)
    data: dict = {"scripts": [{"side_effects": "read", **e} for e in entries or ENTRIES], **({"jobs": jobs} if jobs else {})}
    (root / "registry" / "demo.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (root / "home").mkdir(exist_ok=True)
    (root / "skills").mkdir(exist_ok=True)      # `bot serve` refuses a missing BOT_SKILLS folder


def demo_settings(root: Path, **overrides):
    return load_settings(bot_home=root / "home", bot_registry=root / "registry", bot_scripts=root / "scripts",
                         bot_skills=root / "skills", **overrides)


def demo_environ(root: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root / "home")}


def runs(root: Path) -> list[str]:
    path = root / "home" / "runs.txt"
    return path.read_text().splitlines() if path.exists() else []


@contextmanager
def connect(app: App, fake: FakeSlack, **kwargs) -> Iterator[SocketModeHandler]:
    """socket_mode(), then wait until the fake has seen the socket go: stopping the fake while a closed
    socket is still in its live list makes its abrupt drop fail on a dead file descriptor."""
    with socket_mode(app, fake, **kwargs) as handler:
        yield handler
    fake.wait_for(lambda: fake.connected_clients == 0, timeout=5, message="(client gone)")


def make_slackbot(bot: OpsBot, fake: FakeSlack, **kwargs) -> SlackBot:
    kwargs.setdefault("workers", 4)
    kwargs.setdefault("progress_after_s", 5.0)
    client = make_web_client(fake.bot_token, fake.api_url, server_backoff_s=0.01)
    return SlackBot(bot, client, signing_secret=fake.signing_secret, **kwargs)


def bot_posts(fake: FakeSlack, channel: str = GENERAL) -> list[dict]:
    """The bot's messages in `channel`, top level and in threads, oldest first."""
    return [m for m in fake.history(channel) if m.get("user") == fake.bot_user_id]


def bot_replies(fake: FakeSlack, channel: str, thread_ts: str) -> list[dict]:
    return [m for m in fake.thread_replies(channel, thread_ts) if m.get("user") == fake.bot_user_id]


def thread_reply(fake: FakeSlack, event: dict, n: int = 1, channel: str = GENERAL, timeout: float = 5.0) -> list[dict]:
    """Wait until the thread of `event` has at least `n` bot replies; return them."""
    ts = event.get("thread_ts") or event["ts"]
    return fake.wait_for(lambda: r if len(r := bot_replies(fake, channel, ts)) >= n else None, timeout,
                         f"({n} bot replies in {channel}/{ts})")


def click(fake: FakeSlack, action: str, value: str, user: str, *, message_ts: str | None = None,
          channel_id: str = GENERAL) -> int:
    """`user` clicks button `action` (value `value`) on a bot message; returns len(fake.responses) before it."""
    before = len(fake.responses)
    message = {"type": "message", "user": fake.bot_user_id, "ts": message_ts or new_ts(), "text": ""}
    fake.send_interactive(fake.block_actions(action, value=value, user_id=user, channel_id=channel_id,
                                             message=message))
    return before


def block_texts(message: dict) -> list[str]:
    out = []
    for block in message.get("blocks") or []:
        if block["type"] == "section":
            out.append(block["text"]["text"])
        elif block["type"] == "context":
            out.extend(e.get("text", "") for e in block["elements"])
    return out


def button(message: dict, action_id: str) -> dict | None:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return element
    return None


__all__ = ["ALICE", "BOB", "BOT_USER_ID", "FINANCE", "GENERAL", "ONCALL"]
