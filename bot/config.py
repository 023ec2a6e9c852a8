"""Settings from the environment (and an optional bot.yaml), validated by pydantic-settings."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
Effort = Literal["low", "medium", "high", "xhigh", "max"]


NO_CAP = frozenset({"none", "off", "unlimited", "no-cap"})   # BOT_DAILY_BUDGET_USD values for "no daily cap"


class ConfigError(Exception):
    """A setting is invalid; the message names it."""


class _YamlSource(PydanticBaseSettingsSource):
    """Lowest-priority source: keys of `bot.yaml` (or $BOT_CONFIG) named like the fields."""

    def __init__(self, settings_cls: type[BaseSettings]):
        super().__init__(settings_cls)
        path = Path(os.environ.get("BOT_CONFIG", "bot.yaml"))
        self.data: dict[str, Any] = {}
        if path.is_file():
            try:
                loaded = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: not valid YAML: {exc}") from None
            if not isinstance(loaded, dict):
                raise ConfigError(f"{path}: expected a mapping of settings")
            self.data = {str(k).lower(): v for k, v in loaded.items()}

    def get_field_value(self, field, field_name):  # pragma: no cover - unused by __call__
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    bot_home: Path = Field(Path(".bot"), description="Data directory: ledger, memory notes")
    bot_registry: Path = Field(PROJECT_ROOT / "registry", description="Registry directory")
    bot_skills: Path = Field(PROJECT_ROOT / "skills", description="Skills directory")
    bot_scripts: Path = Field(PROJECT_ROOT / "scripts", description="Scripts directory")
    bot_log_level: str = Field("INFO", pattern=r"(?i)^(DEBUG|INFO|WARNING|ERROR)$")
    bot_database_url: SecretStr | None = Field(
        None, description="postgresql://… puts the ledger and memory notes in PostgreSQL, shared by replicas")

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str | None = None
    bot_heartbeat_channel: str | None = None
    bot_alert_channel: str | None = None
    bot_http_host: str = Field("127.0.0.1", min_length=1,
                               description="HTTP mode's listen address; 0.0.0.0 to accept from other hosts")

    # Anthropic
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    bot_model_mid: str = "claude-sonnet-5-5"
    bot_model_premium: str = "claude-opus-5-5"
    bot_model_cheap: str = "claude-haiku-5-5"
    bot_llm_timeout_s: float = Field(60.0, gt=0)
    bot_llm_max_retries: int = Field(3, ge=0, le=10)
    bot_request_token_cap: int = Field(120_000, gt=0)
    bot_daily_budget_usd: float | None = Field(20.0, ge=0)    # 0: no LLM spend at all; none/off: no cap
    bot_premium_input_budget: int = Field(8_000, gt=0)
    bot_pricing_file: Path | None = None
    bot_user_rate_per_min: int = Field(10, gt=0)
    # Effort and output budgets per tier: max_tokens must hold adaptive thinking AND the answer
    bot_effort_orchestrator: Effort = "low"
    bot_effort_premium: Effort = "high"
    bot_effort_code: Effort = "medium"     # the code route: fully specified tasks at Opus's own default
    bot_effort_pipeline_stage1: Effort = "medium"
    bot_effort_pipeline_stage2: Effort = "high"
    bot_effort_summary: Effort = "low"
    bot_max_tokens_orchestrator: int = Field(8_000, ge=1_024, le=128_000)
    bot_max_tokens_premium: int = Field(32_000, ge=1_024, le=128_000)
    bot_max_tokens_pipeline_stage1: int = Field(8_000, ge=1_024, le=128_000)
    bot_max_tokens_pipeline_stage2: int = Field(32_000, ge=1_024, le=128_000)
    bot_llm_max_continuations: int = Field(2, ge=0, le=5)
    bot_progress_interval_s: float = Field(2.0, gt=0)
    bot_admins: str = Field("", description="Slack user ids (comma-separated) who may apply /ops learn")

    # Runner
    bot_output_cap_bytes: int = Field(64 * 1024, ge=1024)

    # Scheduler
    bot_scheduler: bool = True
    bot_scheduler_lease_s: float = Field(60.0, gt=0)
    bot_heartbeat_cron: str = "0 * * * *"
    bot_stuck_request_minutes: int = Field(10, gt=0)
    bot_memory_stale_days: int = Field(30, gt=0)

    # Metrics: /metrics on this port when there is no HTTP server to serve them (Socket Mode, console)
    bot_metrics_port: int | None = Field(None, ge=0, le=65535)

    @field_validator("bot_daily_budget_usd", mode="before")
    @classmethod
    def _explicit_no_cap(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in NO_CAP:
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError("expected USD per day (e.g. 20), 0 for no LLM spend, or `none` for no cap") from None

    @field_validator("bot_heartbeat_cron")
    @classmethod
    def _heartbeat_fires(cls, value: str) -> str:
        from bot.jobs.triggers import build_trigger

        build_trigger(value)         # malformed or never fires: an error at start-up, not a log line
        return value

    def require_folders(self) -> None:
        """BOT_REGISTRY, BOT_SKILLS and BOT_SCRIPTS must exist: a typo must not mean an empty bot."""
        for var, path in (("BOT_REGISTRY", self.bot_registry), ("BOT_SKILLS", self.bot_skills),
                          ("BOT_SCRIPTS", self.bot_scripts)):
            if not Path(path).is_dir():
                raise ConfigError(f"{var}: folder {str(path)!r} not found")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @cached_property
    def ledger_path(self) -> Path:
        return self.bot_home / "ledger.db"

    @field_validator("bot_database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        if value is not None and not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("expected a postgresql://user:password@host:port/database URL")
        return value

    @property
    def ledger_target(self) -> Path | str:
        """Where the ledger lives: BOT_DATABASE_URL when set, else BOT_HOME/ledger.db (see bot/ledger/backend.py)."""
        return self.secret("bot_database_url") or self.ledger_path

    @cached_property
    def memory_dir(self) -> Path:
        return self.bot_home / "memory"

    def secret(self, name: str) -> str | None:
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_bot_token and (self.slack_app_token or self.slack_signing_secret))

    @property
    def admins(self) -> frozenset[str]:
        return frozenset(u.strip() for u in self.bot_admins.split(",") if u.strip())

    @property
    def llm_configured(self) -> bool:
        return self.anthropic_api_key is not None


def load_settings(**overrides: Any) -> Settings:
    """Load settings; an invalid one raises ConfigError naming the env var."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            problems.append(f"{field.upper()}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
