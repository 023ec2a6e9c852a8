"""Shared set-up for the scheduler and heartbeat tests: a throw-away registry, scripts, ledger and bot.

`World(tmp_path)` writes registry/*.yaml and small shell scripts whose behaviour is switched by a file
(`world.mode("flaky", "fail")`), so one job can fail, succeed or hang on demand — real subprocesses,
real SQLite file, no mocks of our own modules.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from bot.config import Settings
from bot.jobs.schedule import JobService
from bot.pipeline import OpsBot

# Each script appends a line to ../state/<name>.runs (so tests count real executions), then acts on
# ../state/<name>.mode: ok | fail | hang (writes its pid, then sleeps).
SCRIPT = """#!/bin/sh
name="{name}"
echo run >> ../state/$name.runs
mode=$(cat ../state/$name.mode 2>/dev/null || echo ok)
case "$mode" in
  ok) echo "all good from $name";;
  fail) echo "$name: upstream said no (HTTP 503)" >&2; exit 4;;
  hang) echo $$ > ../state/$name.pid; exec sleep 60;;
esac
"""

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)    # a Monday


class RecordingPoster:
    def __init__(self):
        self.posts: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def post(self, channel, text, blocks=None):
        with self.lock:
            self.posts.append({"channel": channel, "text": text, "blocks": blocks})

    def to(self, channel: str) -> list[dict[str, Any]]:
        return [p for p in self.posts if p["channel"] == channel]


class Clock:
    def __init__(self, now: dt.datetime = T0):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kwargs) -> dt.datetime:
        self.now += dt.timedelta(**kwargs)
        return self.now


class World:
    def __init__(self, root: Path, jobs: list[dict] | None = None, scripts: list[dict] | None = None,
                 skills: dict[str, str] | None = None, database_url: str | None = None):
        self.root = root
        self.database_url = database_url          # None: SQLite in home/; else the shared PostgreSQL
        self.registry = root / "registry"
        self.scripts = root / "scripts"
        self.skills = root / "skills"
        self.state = root / "state"
        self.home = root / "home"
        for d in (self.registry, self.scripts / "test", self.skills, self.state, self.home):
            d.mkdir(parents=True, exist_ok=True)
        scripts = scripts or [{"name": "test.flaky"}, {"name": "test.ok"}]
        entries = []
        for spec in scripts:
            short = spec["name"].split(".", 1)[1]
            path = self.scripts / "test" / short
            path.write_text(SCRIPT.format(name=short))
            path.chmod(0o755)
            entries.append({"summary": "a test script", "timeout_s": 10, "side_effects": "read", **spec})
        (self.registry / "scripts.yaml").write_text(yaml.safe_dump({"scripts": entries}))
        jobs = jobs if jobs is not None else [{"name": "flaky", "schedule": "0 * * * *", "script": "test.flaky",
                                               "post_to": "#reports", "alert_to": "#alerts"}]
        (self.registry / "jobs.yaml").write_text(yaml.safe_dump({"jobs": jobs}))
        for name, description in (skills or {}).items():
            (self.skills / name).mkdir(exist_ok=True)
            (self.skills / name / "SKILL.md").write_text(
                f"---\nname: {name}\ndescription: {description}\n---\nDo the thing.\n")

    def settings(self, **overrides) -> Settings:
        values = dict(bot_home=self.home, bot_registry=self.registry, bot_scripts=self.scripts,
                      bot_skills=self.skills, slack_bot_token=None, slack_app_token=None,
                      anthropic_api_key=None, slack_api_url=None, bot_heartbeat_channel="#heartbeat",
                      bot_alert_channel="#ops-alerts", bot_daily_budget_usd=20.0, bot_scheduler=True,
                      bot_scheduler_lease_s=60.0, bot_heartbeat_cron="0 * * * *",
                      bot_database_url=self.database_url)
        values.update(overrides)
        return Settings(**values)

    def environ(self, **extra: str) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.root), **extra}

    def bot(self, settings: Settings | None = None, orchestrator=None, **env: str) -> OpsBot:
        return OpsBot(settings or self.settings(), orchestrator=orchestrator, environ=self.environ(**env))

    def service(self, *, settings: Settings | None = None, poster=None, clock=None, orchestrator=None,
                env: dict[str, str] | None = None, **kwargs) -> JobService:
        settings = settings or self.settings()
        kwargs.setdefault("summarizer", None)
        return JobService(self.bot(settings, orchestrator, **(env or {})), settings,
                          poster=poster if poster is not None else RecordingPoster(), clock=clock, **kwargs)

    def use_for_cli(self, monkeypatch) -> None:
        """Point `bot …` (bot.cli.main) at this world, with no Slack or Anthropic credentials."""
        for key, value in {"BOT_HOME": self.home, "BOT_REGISTRY": self.registry, "BOT_SCRIPTS": self.scripts,
                           "BOT_SKILLS": self.skills, "BOT_CONFIG": self.root / "none.yaml"}.items():
            monkeypatch.setenv(key, str(value))
        for key in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ANTHROPIC_API_KEY", "BOT_HEARTBEAT_CHANNEL"):
            monkeypatch.delenv(key, raising=False)
        # main() would attach a handler to capsys' stream, which is closed after the test (later logging breaks).
        monkeypatch.setattr(logging.getLogger(), "_opsbot_configured", True, raising=False)

    def mode(self, script: str, mode: str) -> None:
        (self.state / f"{script}.mode").write_text(mode)

    def runs(self, script: str) -> int:
        path = self.state / f"{script}.runs"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def settings_json(self, **overrides: Any) -> dict[str, Any]:
        """What a child process needs to build this world's Settings."""
        return {"bot_home": str(self.home), "bot_registry": str(self.registry), "bot_scripts": str(self.scripts),
                "bot_skills": str(self.skills), "bot_database_url": self.database_url, **overrides}

    def _child_prelude(self, *, service_args: str = "", **settings: Any) -> str:
        """Python that builds `service`, a JobService on this world's ledger, in a child process."""
        return (
            "import json, os, threading, time\n"
            "from pathlib import Path\n"
            "from apscheduler.triggers.cron import CronTrigger\n"
            "from bot.pipeline import OpsBot\n"
            "from bot.config import Settings\n"
            "from bot.jobs.posters import LogPoster\n"
            "from bot.jobs.schedule import JobService, start_scheduler\n"
            f"settings = Settings(**json.loads({json.dumps(json.dumps(self.settings_json(**settings)))}))\n"
            f"bot = OpsBot(settings, environ={self.environ()!r})\n"
            f"service = JobService(bot, settings, poster=LogPoster(), summarizer=None{service_args})\n"
        )

    def subprocess_code(self, job: str, *, runs: int = 1, start_signal: Path | None = None) -> str:
        """Python for a child process that runs `job` up to `runs` times against this world's ledger (until
        it is disabled), printing each status. With `start_signal`, it first writes
        <start_signal>.<pid>.ready, then waits for `start_signal` to exist (so children start together)."""
        wait = "" if start_signal is None else (
            f"Path({str(start_signal)!r} + f'.{{os.getpid()}}.ready').touch()\n"
            f"while not Path({str(start_signal)!r}).exists():\n"
            "    time.sleep(0.001)\n")
        return (
            self._child_prelude() + wait +
            f"for _ in range({runs}):\n"
            f"    status = service.run_now({job!r}).status\n"
            "    print(status, flush=True)\n"
            "    if status == 'disabled':\n"
            "        break\n"
        )

    def scheduler_code(self, lease_s: float, *, every_second: bool = False) -> str:
        """Python for a child process that runs the scheduler (like `bot serve`), prints its lease holder
        id once it leads, and runs until it is killed. `every_second`: jobs fire at each whole second
        (the same slots in every process), no heartbeat."""
        args = ", heartbeat=False, trigger_override=lambda spec: CronTrigger(second='*', timezone='UTC')" \
            if every_second else ""
        return (
            self._child_prelude(bot_scheduler_lease_s=lease_s, service_args=args) +
            "start_scheduler(bot, settings, service=service)\n"
            "while not service.is_leader:\n"
            "    time.sleep(0.01)\n"
            "print(service.holder, flush=True)\n"
            "threading.Event().wait()\n"
        )


class FakeSlackAuth:
    """Just enough Slack Web API for the heartbeat: auth.test (and chat.postMessage), on 127.0.0.1."""

    def __init__(self, ok: bool = True):
        self.ok = ok
        self.calls: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                method = self.path.rsplit("/", 1)[-1]
                outer.calls.append(method)
                body = ({"ok": True, "user": "opsbot", "team": "Acme", "user_id": "UBOT"} if outer.ok
                        else {"ok": False, "error": "invalid_auth"})
                if method == "chat.postMessage":
                    body = {"ok": True, "channel": "C1", "ts": "1.0"}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/"

    def __enter__(self) -> FakeSlackAuth:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
