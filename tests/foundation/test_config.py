"""Settings: environment first, then an optional bot.yaml; bad values name the setting."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


def test_env_overrides_yaml_and_yaml_fills_the_rest(tmp_path, monkeypatch):
    config = tmp_path / "bot.yaml"
    config.write_text("BOT_DAILY_BUDGET_USD: 5\nbot_model_mid: claude-sonnet-5\n")
    monkeypatch.setenv("BOT_CONFIG", str(config))
    monkeypatch.setenv("BOT_MODEL_MID", "claude-sonnet-5-5")
    settings = load_settings()
    assert settings.bot_daily_budget_usd == 5
    assert settings.bot_model_mid == "claude-sonnet-5-5"


def test_secrets_are_not_printed_by_repr(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1234567890-secretsecret")
    settings = load_settings()
    assert "secretsecret" not in repr(settings)
    assert settings.secret("slack_bot_token") == "xoxb-1234567890-secretsecret"


@pytest.mark.parametrize(("var", "value"), [("BOT_DAILY_BUDGET_USD", "-1"), ("BOT_LOG_LEVEL", "LOUD"),
                                            ("BOT_LLM_MAX_RETRIES", "many")])
def test_invalid_values_name_the_setting(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=var):
        load_settings()


def test_broken_yaml_is_a_config_error(tmp_path, monkeypatch):
    config = tmp_path / "bot.yaml"
    config.write_text("bot_home: [unclosed\n")
    monkeypatch.setenv("BOT_CONFIG", str(config))
    with pytest.raises(ConfigError, match="bot.yaml: not valid YAML"):
        load_settings()
