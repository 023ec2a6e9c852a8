"""Settings from the environment (and an optional bot.yaml), validated by pydantic-settings."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
    bot_llm_timeout_s: float = Field(60.0, gt=0)
    bot_llm_max_retries: int = Field(3, ge=0, le=10)
    bot_request_token_cap: int = Field(60_000, gt=0)
    bot_daily_budget_usd: float = Field(20.0, ge=0)
    bot_premium_input_budget: int = Field(8_000, gt=0)
    bot_pricing_file: Path | None = None
    bot_user_rate_per_min: int = Field(10, gt=0)

    # Runner
    bot_output_cap_bytes: int = Field(64 * 1024, ge=1024)

    # Scheduler
    bot_scheduler: bool = True
    bot_scheduler_lease_s: float = Field(60.0, gt=0)
    bot_heartbeat_cron: str = "0 * * * *"
    bot_stuck_request_minutes: int = Field(10, gt=0)
    bot_memory_stale_days: int = Field(30, gt=0)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @cached_property
    def ledger_path(self) -> Path:
        return self.bot_home / "ledger.db"

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
            problems.append(f"{field.upper()}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
