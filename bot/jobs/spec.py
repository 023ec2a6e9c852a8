"""What a scheduled job is: a registry entry (or the built-in heartbeat) resolved into a `JobSpec`, its
APScheduler trigger in the job's time zone, and whether it can run as things are configured.

Schedules become triggers in one place, bot/jobs/triggers.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.jobs.triggers import build_trigger
from bot.registry_checks import write_refusal

if TYPE_CHECKING:
    from bot.entries import JobEntry
    from bot.pipeline import OpsBot
    from bot.registry import Registry


Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def cut(text: str | None, limit: int = 300) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class JobNotFound(KeyError):
    def __init__(self, name: str, known: list[str]):
        super().__init__(name)
        self.name = name
        self.message = f"no job named {name!r}; known: {', '.join(known) or 'none'}"

    def __str__(self) -> str:
        return self.message


class JobError(Exception):
    """A job that cannot run as configured (unknown script, no LLM tiers): a failure with a clear message."""


@dataclass(frozen=True)
class JobSpec:
    """A registry job (or the built-in heartbeat: bot/jobs/heartbeat.py) with its resolved target and timeout."""

    name: str
    schedule: str
    timezone: str
    kind: str                       # script | skill | builtin
    target: str                     # script name, skill name, or "heartbeat"
    args: dict[str, Any] = field(default_factory=dict)
    prompt: str | None = None
    post_to: str | None = None
    alert_to: str | None = None
    registry_enabled: bool = True
    timeout_s: float = 300.0
    max_failures: int = 3
    description: str = ""
    requires_env: tuple[str, ...] = ()
    allow_write: bool = False

    @classmethod
    def from_entry(cls, entry: JobEntry, registry: Registry) -> JobSpec:
        script = registry.script(entry.script) if entry.script else None
        if "timeout_s" in entry.model_fields_set or script is None:
            timeout = entry.timeout_s
        else:
            timeout = script.timeout_s      # the script's own limit unless the job sets one
        return cls(name=entry.name, schedule=entry.schedule, timezone=entry.timezone,
                   kind="script" if entry.script else "skill", target=entry.script or entry.skill or "",
                   args=dict(entry.args), prompt=entry.prompt, post_to=entry.post_to, alert_to=entry.alert_to,
                   registry_enabled=entry.enabled, timeout_s=timeout, max_failures=entry.max_failures,
                   description=entry.description, requires_env=tuple(entry.requires_env),
                   allow_write=entry.allow_write)

    @property
    def target_label(self) -> str:
        if self.kind == "script":
            flags = " ".join(f"--{k} {v}" for k, v in self.args.items())
            writes = " ⚠ writes (allow_write)" if self.allow_write else ""
            return f"script {self.target}{' ' + flags if flags else ''}{writes}"
        if self.kind == "skill":
            return f"skill {self.target}"
        return f"built-in {self.target}"

    def trigger(self, anchor: dt.datetime | None = None):
        return build_trigger(self.schedule, self.timezone, anchor)

    def blocked(self, bot: OpsBot) -> tuple[str, str] | None:
        """(state, why) when the job cannot run as things are configured — never a failure.
        "waiting": credentials or LLM tiers missing; "invalid": unknown script or skill."""
        environ = bot.runner.environ
        if self.kind == "script":
            entry = bot.registry.script(self.target)
            if entry is None:
                return "invalid", f"unknown script {self.target!r}"
            refused = write_refusal(self.name, entry, self.allow_write)
            if refused:
                return "invalid", refused
            missing = entry.missing_env(environ) + [v for v in self.requires_env if not environ.get(v)]
            if missing:
                return "waiting", f"credentials: {', '.join(missing)}"
        elif self.kind == "skill":
            if self.target not in bot.registry.skills:
                return "invalid", f"unknown skill {self.target!r}"
            if not bot.llm_enabled:
                return "waiting", "LLM tiers (set ANTHROPIC_API_KEY)"
        return None
