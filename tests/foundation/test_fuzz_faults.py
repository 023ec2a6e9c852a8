"""Property tests: random text and bytes through settings, registry files and script arguments end in
an answer or one clear line — never a traceback, never an exception out of the bot."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.config import Settings, load_settings
from bot.pipeline import OpsBot
from bot.registry import load_registry
from bot.request import Incoming
from tests.foundation.helpers import write_registry

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ENV_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
PATH_FIELDS = {"bot_home", "bot_registry", "bot_skills", "bot_scripts", "bot_pricing_file"}
FIELDS = sorted(set(Settings.model_fields) - {"slack_bot_token", "slack_app_token", "slack_signing_secret",
                                              "anthropic_api_key", "bot_scheduler"})


@FAST
@given(field=st.sampled_from(FIELDS), value=st.just("@file") | ENV_TEXT)
def test_any_setting_value_is_accepted_or_one_line(tmp_path_factory, capsys, field, value):
    tmp = tmp_path_factory.mktemp("fuzz")
    if value == "@file":                                 # a file where a directory belongs, and the like
        (tmp / "a-file").write_bytes(b"\xff\x00 not what you expect")
        value = str(tmp / "a-file")
    elif field in PATH_FIELDS:                           # random paths, but inside this test's directory
        value = str(tmp / value.replace("..", "_").lstrip("/")) if value.strip() else value
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        mp.setenv("BOT_HOME", str(tmp / "home"))
        mp.setenv("BOT_CONFIG", str(tmp / "none.yaml"))
        mp.delenv("ANTHROPIC_API_KEY", raising=False)
        mp.setenv(field.upper(), value)
        code = main(["stats", "--json", "--since", "1h"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert code in (0, 1, 2)
    if code:
        assert len(err.strip().splitlines()) == 1 and err.startswith("bot: "), err


@FAST
@given(content=st.binary(max_size=300) | ENV_TEXT.map(str.encode))
def test_any_registry_file_loads_or_is_a_problem_naming_it(tmp_path_factory, content):
    root = tmp_path_factory.mktemp("reg")
    write_registry(root, [{"name": "demo.ok", "summary": "fine", "side_effects": "read"}], file="good.yaml")
    (root / "registry" / "fuzz.yaml").write_bytes(content)
    registry = load_registry(root / "registry", check_paths=False)
    assert "demo.ok" in registry.scripts                  # one bad file does not take the others down
    for problem in registry.problems:
        assert "fuzz.yaml" in str(problem)


@pytest.fixture(scope="module")
def echo_bot(tmp_path_factory) -> OpsBot:
    root = tmp_path_factory.mktemp("bot")
    script = root / "scripts" / "demo" / "echo"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\nprintf '%s\\n' \"$*\"\n")
    script.chmod(0o755)
    write_registry(root, [{"name": "demo.echo", "summary": "echo", "side_effects": "read",
                           "args": [{"name": "text"}, {"name": "n", "type": "int"}]}])
    conf = load_settings(bot_home=root / "home", bot_registry=root / "registry", bot_scripts=root / "scripts",
                         bot_skills=root / "skills")
    return OpsBot(conf, environ={"PATH": os.environ["PATH"]})


ARG_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=ARG_TEXT, raw=ARG_TEXT)
def test_any_script_argument_gets_an_answer(echo_bot, caplog, text, raw):
    quoted = echo_bot.handle(Incoming(f"run demo.echo --text {shlex.quote(text)}", user="U1", source="slack"))
    assert quoted.outcome in ("ok", "refused"), quoted.text
    assert quoted.text.strip()
    unquoted = echo_bot.handle(Incoming(f"run demo.echo --n {raw}", user="U1", source="slack"))
    assert unquoted.outcome in ("ok", "refused"), unquoted.text
    assert "Traceback" not in caplog.text


def test_the_property_tests_reach_the_faults(tmp_path, capsys, monkeypatch):
    """The settings property above can fail: a value that breaks startup gives one line and exit 2."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_CONFIG", str(tmp_path / "none.yaml"))
    (tmp_path / "f").write_text("")
    monkeypatch.setenv("BOT_HOME", str(Path(tmp_path / "f")))
    assert main(["stats", "--json"]) == 2
    assert capsys.readouterr().err.startswith("bot: BOT_HOME")
