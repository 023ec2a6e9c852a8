"""The registry's entries, validated by pydantic: a script (with its arguments and who may run it), a job,
a skill. One entry drives everything: the slash command and its help, argument validation, the LLM tool
schema, the pre-router's examples and patterns, permissions and confirmation. Loading them from files,
and the problems that names file, entry and field, is bot/registry.py.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot import yaml_strict
from bot.args import parse_flags
from bot.jobs.triggers import BUILT_IN_JOBS, build_trigger
from bot.problems import ArgError, Problem
from bot.vocab import SkillTier

ArgType = Literal["string", "int", "float", "bool", "enum", "url", "host", "date"]

_HOST_RE = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")


def _env_names(names: list[str]) -> list[str]:
    for name in names:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise ValueError(f"{name!r} is not an environment variable name")
    return names


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArgSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    type: ArgType = "string"
    required: bool = False
    default: Any = None
    help: str = ""
    choices: list[str] = []
    repeatable: bool = False          # `--tag a --tag b` → a list; otherwise a repeated flag is an error

    @model_validator(mode="after")
    def _enum_has_choices(self) -> ArgSpec:
        if self.type == "enum" and not self.choices:
            raise ValueError("enum arguments need `choices`")
        if self.default is not None:
            self.coerce_value(self.default)
        return self

    def coerce_value(self, value: Any) -> Any:
        """One value, or a list of them for a repeatable arg; a list for any other arg is an error."""
        if self.repeatable:
            return [self.coerce(v) for v in (value if isinstance(value, list) else [value])]
        if isinstance(value, list):
            raise ArgError(f"--{self.name} takes one value (got {len(value)})")
        return self.coerce(value)

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    def coerce(self, value: Any) -> Any:
        """Convert a raw value (string from Slack/CLI, or JSON from the model) to this arg's type."""
        raw = value.strip() if isinstance(value, str) else value
        try:
            match self.type:
                case "string":
                    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
                        raise ValueError("expected text")
                    return str(raw)
                case "int":
                    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                        raise ValueError
                    return int(raw)
                case "float":
                    if isinstance(raw, bool):
                        raise ValueError
                    return float(raw)
                case "bool":
                    if isinstance(raw, bool):
                        return raw
                    lowered = str(raw).lower()
                    if lowered in {"true", "yes", "1", "on"}:
                        return True
                    if lowered in {"false", "no", "0", "off"}:
                        return False
                    raise ValueError
                case "enum":
                    # Case-insensitive: the router matches text case-insensitively ("mx records").
                    match = next((c for c in self.choices if c.lower() == str(raw).lower()), None)
                    if match is None:
                        raise ValueError(f"expected one of: {', '.join(self.choices)}")
                    return match
                case "url":
                    parsed = urlparse(str(raw))
                    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
                        raise ValueError("expected an http(s) URL")
                    return str(raw)
                case "host":
                    text = str(raw)
                    try:
                        ipaddress.ip_address(text)
                    except ValueError:
                        if not _HOST_RE.match(text):
                            raise ValueError("expected a host name or IP address") from None
                    return text
                case "date":
                    return dt.date.fromisoformat(str(raw)).isoformat()
        except (TypeError, ValueError) as exc:
            detail = str(exc) if str(exc) and "invalid literal" not in str(exc) else f"expected {self.type}"
            raise ArgError(f"--{self.name}: {detail} (got {value!r})") from None
        raise AssertionError(self.type)  # pragma: no cover

    def json_schema(self) -> dict[str, Any]:
        kind = {"int": "integer", "float": "number", "bool": "boolean"}.get(self.type, "string")
        schema: dict[str, Any] = {"type": kind}
        if self.help:
            schema["description"] = self.help
        if self.type == "enum":
            schema["enum"] = list(self.choices)
        if self.type == "date":
            schema["format"] = "date"
        if self.type == "url":
            schema["format"] = "uri"
        if self.default is not None:
            schema["default"] = self.default
        return {"type": "array", "items": schema} if self.repeatable else schema


class Allowed(_Strict):
    """Empty lists mean everyone. Checked for the requesting Slack user, never the bot."""

    users: list[str] = []
    channels: list[str] = []
    groups: list[str] = []

    def permits(self, user: str | None, channel: str | None, groups: set[str] | frozenset[str] = frozenset()
                ) -> bool:
        if self.users or self.groups:
            if user not in self.users and not (groups & set(self.groups)):
                return False
        if self.channels and channel not in self.channels:
            return False
        return True


class ScriptEntry(_Strict):
    name: str = Field(pattern=r"^[a-z0-9]+\.[a-z0-9-]+$")
    path: str | None = None
    summary: str = Field(min_length=3, max_length=120)
    description: str = ""
    examples: list[str] = []
    args: list[ArgSpec] = []
    patterns: list[str] = []          # after args: its validator checks groups against them
    env: list[str] = []
    env_optional: list[str] = []
    side_effects: Literal["read", "write"]   # required: a missing one must not mean "read"
    timeout_s: float = Field(30.0, gt=0, le=900)
    allowed: Allowed = Allowed()

    @field_validator("env", "env_optional")
    @classmethod
    def _env_names(cls, names: list[str]) -> list[str]:
        return _env_names(names)

    @field_validator("args")
    @classmethod
    def _unique_args(cls, args: list[ArgSpec]) -> list[ArgSpec]:
        names = [a.name for a in args]
        if len(names) != len(set(names)):
            raise ValueError("duplicate argument names")
        return args

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str], info: ValidationInfo) -> list[str]:
        declared = {a.name.replace("-", "_") for a in info.data.get("args", [])}
        for i, pattern in enumerate(patterns):
            try:
                compiled = re.compile(pattern)
            except (re.error, RecursionError, OverflowError) as exc:
                raise ValueError(f"pattern {i} {pattern!r} is not a valid regex: {exc}") from None
            for group in compiled.groupindex:
                if group not in declared:
                    raise ValueError(f"pattern {i}: group (?P<{group}>) is not a declared arg")
        return patterns

    @property
    def service(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def is_write(self) -> bool:
        return self.side_effects == "write"

    @property
    def api_url_var(self) -> str:
        """Every service's base URL can be overridden by <SERVICE>_API_URL (script contract)."""
        return f"{self.service.upper()}_API_URL"

    def arg(self, name: str) -> ArgSpec | None:
        key = name.replace("_", "-")
        return next((a for a in self.args if a.name == key), None)

    def missing_env(self, env: dict[str, str] | os._Environ | None = None) -> list[str]:
        env = os.environ if env is None else env
        return [name for name in self.env if not env.get(name)]

    def usage(self) -> str:
        parts = [f"{self.name}"]
        for a in self.args:
            placeholder = "" if a.type == "bool" else f" <{'|'.join(a.choices) if a.choices else a.type}>"
            placeholder += "…" if a.repeatable else ""
            parts.append(f"{a.flag}{placeholder}" if a.required else f"[{a.flag}{placeholder}]")
        return " ".join(parts)

    def help_text(self) -> str:
        lines = [f"*{self.name}* — {self.summary}", f"usage: `{self.usage()}`"]
        for a in self.args:
            extra = []
            if a.required:
                extra.append("required")
            if a.default is not None:
                extra.append(f"default {a.default}")
            suffix = f" ({', '.join(extra)})" if extra else ""
            lines.append(f"  {a.flag}: {a.help or a.type}{suffix}")
        if self.is_write:
            lines.append("  ⚠ changes things: asks for confirmation before it runs")
        if self.env:
            lines.append(f"  needs: {', '.join(self.env)}")
        return "\n".join(lines)

    def validate_args(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Typed, complete arguments or ArgError with this script's usage."""
        clean: dict[str, Any] = {}
        for key, value in (raw or {}).items():
            spec = self.arg(str(key))
            if spec is None:
                raise ArgError(f"unknown argument --{key} for {self.name}", self.help_text())
            if value is None:
                continue
            try:
                clean[spec.name] = spec.coerce_value(value)
            except ArgError as exc:
                raise ArgError(str(exc), self.help_text()) from None
        for spec in self.args:
            if spec.name not in clean:
                if spec.required:
                    raise ArgError(f"missing required argument --{spec.name}", self.help_text())
                if spec.default is not None:
                    clean[spec.name] = spec.coerce_value(spec.default)
        return clean

    def parse_argv(self, tokens: list[str]) -> dict[str, Any]:
        """`--repo x --limit 5 --draft` (or `--repo=x`) → raw args, for /run and the CLI (bot/args.py)."""
        return parse_flags(self, tokens)

    def to_argv(self, args: dict[str, Any]) -> list[str]:
        """Validated args → argv flags. `--name=value` keeps a value starting with '-' literal."""
        argv: list[str] = []
        for spec in self.args:
            if spec.name not in args:
                continue
            value = args[spec.name]
            if spec.type == "bool" and not spec.repeatable:
                if value:
                    argv.append(spec.flag)
            else:
                argv.extend(f"{spec.flag}={v}" for v in (value if spec.repeatable else [value]))
        return argv

    def tool_schema(self) -> dict[str, Any]:
        """JSON schema of this script's arguments, for the LLM's run_script tool."""
        return {
            "type": "object",
            "properties": {a.name: a.json_schema() for a in self.args},
            "required": [a.name for a in self.args if a.required],
            "additionalProperties": False,
        }


class JobEntry(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    schedule: str
    timezone: str = "UTC"
    script: str | None = None
    args: dict[str, Any] = {}
    skill: str | None = None
    prompt: str | None = None
    post_to: str | None = None
    enabled: bool = True
    timeout_s: float = Field(300.0, gt=0, le=3600)
    max_failures: int = Field(3, ge=1, le=100)
    alert_to: str | None = None
    description: str = ""
    requires_env: list[str] = []      # settings the job needs beyond its script's credentials (GITHUB_REPO)
    allow_write: bool = False         # a job may run a `write` script only when it says so

    @field_validator("requires_env")
    @classmethod
    def _required_env_names(cls, names: list[str]) -> list[str]:
        return _env_names(names)

    @field_validator("name")
    @classmethod
    def _not_built_in(cls, name: str) -> str:
        if name in BUILT_IN_JOBS:
            raise ValueError(f"{name!r} is a built-in job; configure it with BOT_HEARTBEAT_* settings")
        return name

    @model_validator(mode="after")
    def _one_target(self) -> JobEntry:
        if bool(self.script) == bool(self.skill):
            raise ValueError("a job needs exactly one of `script` or `skill`")
        if self.skill and not self.prompt:
            raise ValueError("a skill job needs a `prompt`")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, tz: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {tz!r}") from None
        return tz

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, schedule: str) -> str:
        build_trigger(schedule)
        return schedule


class SkillEntry(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = Field(min_length=3, max_length=200)
    tier: SkillTier = "direct"
    scripts: list[str] = []
    budget_tokens: int | None = Field(None, gt=0)
    review: bool = False    # pipeline: the mid model builds stage 2, the premium model reviews it
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None   # asks for more than its tier's
    path: Path

    def body(self) -> str:
        """The skill body without its front matter; read lazily, only when a request needs it."""
        _, body = split_front_matter(self.path.read_text())
        return body.strip()


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        raise ValueError("missing YAML front matter (--- … ---)")
    _, _, rest = text.partition("---")
    front, sep, body = rest.partition("\n---")
    if not sep:
        raise ValueError("front matter is not closed with ---")
    data = yaml_strict.safe_load(front) or {}
    if not isinstance(data, dict):
        raise ValueError("front matter must be a mapping")
    return data, body.lstrip("-\n")


@dataclass
class Registry:
    scripts: dict[str, ScriptEntry] = field(default_factory=dict)
    jobs: dict[str, JobEntry] = field(default_factory=dict)
    skills: dict[str, SkillEntry] = field(default_factory=dict)
    scripts_dir: Path = Path("scripts")
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # "scripts:name" → file it came from
    learned_examples: dict[str, list[str]] = field(default_factory=dict)  # from learned.yaml (bot/learned.py)
    negatives: dict[str, list[str]] = field(default_factory=dict)         # 👎 phrasings per script

    def script(self, name: str) -> ScriptEntry | None:
        return self.scripts.get(name)

    def script_path(self, entry: ScriptEntry) -> Path:
        relative = entry.path or entry.name.replace(".", "/", 1)
        return (self.scripts_dir / relative).resolve()

    def by_service(self) -> dict[str, list[ScriptEntry]]:
        grouped: dict[str, list[ScriptEntry]] = {}
        for entry in self.scripts.values():
            grouped.setdefault(entry.service, []).append(entry)
        return grouped
