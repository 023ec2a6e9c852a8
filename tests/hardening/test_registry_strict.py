"""Registry and argument strictness (issue 11, item 5): each bad input is one clear error naming file,
entry and field — never silently accepted. Through `bot registry check` / `bot …` in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.config import PROJECT_ROOT
from bot.problems import ArgError
from bot.registry import load_registry
from bot.router import MAX_PATTERN_TEXT, PreRouter

ECHO = {"name": "demo.echo", "summary": "Echo the demo notes", "side_effects": "read"}
REAL = PreRouter(load_registry(PROJECT_ROOT / "registry"))


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var, value in {"BOT_HOME": tmp_path / "home", "BOT_REGISTRY": tmp_path / "registry",
                       "BOT_SCRIPTS": tmp_path / "scripts", "BOT_SKILLS": tmp_path / "skills",
                       "BOT_CONFIG": tmp_path / "none.yaml"}.items():
        monkeypatch.setenv(var, str(value))
    for var in ("ANTHROPIC_API_KEY", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "BOT_HEARTBEAT_CRON"):
        monkeypatch.delenv(var, raising=False)
    for folder in ("registry", "skills", "scripts/demo"):
        (tmp_path / folder).mkdir(parents=True)
    script = tmp_path / "scripts" / "demo" / "echo"
    script.write_text('#!/bin/sh\ncase "$1" in --help) echo "usage: echo"; exit 0;; esac\necho notes\n')
    script.chmod(0o755)
    return tmp_path


def check(env: Path, capsys, text: str, file: str = "demo.yaml") -> tuple[int, list[str]]:
    (env / "registry" / file).write_text(text)
    code = main(["registry", "check"])
    return code, capsys.readouterr().err.splitlines()


def test_duplicate_yaml_keys_are_an_error_naming_file_entry_and_key(env: Path, capsys) -> None:
    code, err = check(env, capsys, "scripts:\n  - name: demo.echo\n    summary: Echo the demo notes\n"
                                   "    side_effects: write\n    side_effects: read\n")
    assert code == 1
    assert err[0] == "registry/demo.yaml: demo.echo: side_effects: duplicate key at line 5 (first at line 4)"


@pytest.mark.parametrize("text", ["jobs:\n  - name: a\n    name: b\n", "jobs: [\n", "jobs: []\nextra: 1\n"])
def test_a_file_level_fault_is_reported_once(env: Path, capsys, text: str) -> None:
    # Each file is read once for scripts and once for jobs: the fault used to be listed twice.
    (env / "registry" / "demo.yaml").write_text(yaml.safe_dump({"scripts": [ECHO]}))
    code, err = check(env, capsys, text, file="jobs.yaml")
    assert code == 1 and err[-1] == "1 problem(s) in the registry"
    assert len([line for line in err if line.startswith("registry/jobs.yaml")]) == 1


@pytest.mark.parametrize("path", ["/bin/echo", "../x", "demo/../../x"])
def test_a_script_path_outside_the_scripts_folder_is_refused_and_cannot_run(env: Path, capsys, path: str) -> None:
    code, err = check(env, capsys, yaml.safe_dump({"scripts": [{**ECHO, "path": path}]}))
    assert code == 1 and err[0].startswith(f"registry/demo.yaml: demo.echo: path: {path!r}")
    assert "outside the scripts folder" in err[0]
    assert "demo.echo" not in load_registry(env / "registry", env / "skills", env / "scripts").scripts
    assert main(["run", "demo.echo"]) == 1 and "There is no script `demo.echo`" in capsys.readouterr().out


def test_nested_quantifier_patterns_are_refused_and_never_routed(env: Path, capsys) -> None:
    entry = {**ECHO, "patterns": ["^demo notes$", "^(a+)+$"]}
    code, err = check(env, capsys, yaml.safe_dump({"scripts": [entry]}))
    assert code == 1 and err[0].startswith("registry/demo.yaml: demo.echo: patterns.1: '^(a+)+$': nested quantifiers")
    router = PreRouter(load_registry(env / "registry", env / "skills", env / "scripts"))
    assert router.route("a" * 30 + "!").tier == "orchestrator"     # the bad pattern is never tried
    assert router.route("demo notes").script == "demo.echo"


@pytest.mark.parametrize("pattern", [r"^(a|aa)+$", r"^(a|a)+$", r"^(a|a?)+$", r"^(?:x|y)(?:ab|a|b)+$"])
def test_overlapping_alternatives_in_a_repeat_are_refused_and_never_routed(env: Path, capsys, pattern) -> None:
    # No nested quantifier, yet exponential: 'a' * 34 + '!' took 1 s against `^(a|aa)+$`, and the
    # 300-character cap on what patterns see does not bound it (OWASP's ReDoS examples).
    entry = {**ECHO, "patterns": ["^demo notes$", pattern]}
    code, err = check(env, capsys, yaml.safe_dump({"scripts": [entry]}))
    assert code == 1 and err[0].startswith(f"registry/demo.yaml: demo.echo: patterns.1: {pattern!r}: alternatives")
    router = PreRouter(load_registry(env / "registry", env / "skills", env / "scripts"))
    assert router.route("a" * 60 + "!").tier == "orchestrator"     # the bad pattern is never tried
    assert router.route("demo notes").script == "demo.echo"


@pytest.mark.parametrize("pattern", [r"^(?:foo|bar)+$", r"^(?:(?:a|aa)b)+$", r"^(?:a|aa){2}$", r"(?:\.(?:com|org))+"])
def test_alternatives_that_start_differently_stay_allowed(env: Path, capsys, pattern) -> None:
    code, _ = check(env, capsys, yaml.safe_dump({"scripts": [{**ECHO, "patterns": [pattern]}]}))
    assert code == 0


def test_safe_nested_repeats_with_a_separator_stay_allowed() -> None:
    assert not load_registry(PROJECT_ROOT / "registry").problems     # domain and e-mail patterns pass


def test_patterns_never_see_text_longer_than_the_cap(env: Path) -> None:
    entry = {**ECHO, "patterns": [r"^notes for (?P<day>\w+)(?: [a-z ]*)?$"],
             "args": [{"name": "day", "type": "string"}]}
    (env / "registry" / "demo.yaml").write_text(yaml.safe_dump({"scripts": [entry]}))
    router = PreRouter(load_registry(env / "registry", env / "skills", env / "scripts"))
    assert router.route("notes for monday please").script == "demo.echo"
    long = "notes for monday " + "please " * (MAX_PATTERN_TEXT // 7)
    assert len(long) > MAX_PATTERN_TEXT and "pattern" not in router.route(long).reason


def test_a_cron_that_never_fires_is_an_error(env: Path, capsys) -> None:
    (env / "registry" / "demo.yaml").write_text(yaml.safe_dump({"scripts": [ECHO]}))
    code, err = check(env, capsys, yaml.safe_dump({"jobs": [
        {"name": "leap", "schedule": "0 0 31 2 *", "script": "demo.echo"},
        {"name": "feb29", "schedule": "0 0 29 2 *", "script": "demo.echo"}]}), file="jobs.yaml")
    assert code == 1 and err[0] == ("registry/jobs.yaml: leap: schedule: schedule '0 0 31 2 *' never fires "
                                    "(no date matches it in the next 5 years)")
    assert len(err) == 2       # the problem and the count: Feb 29 does fire


def test_repeated_flags_are_an_error_not_last_wins() -> None:
    entry = REAL.registry.scripts["ops.port-check"]
    with pytest.raises(ArgError, match="--port is given more than once"):
        entry.parse_argv(["--host", "db.internal", "--port", "22", "--port", "23"])
    with pytest.raises(ArgError, match="--port is given more than once"):
        entry.parse_argv(["--host", "db.internal", "--port=22", "--port", "23"])
    decision = REAL.route("run ops.port-check --host db.internal --port 22 --port 23")
    assert decision.error and "--port is given more than once" in decision.error and not decision.args


def test_a_flag_where_a_value_is_expected_is_an_error() -> None:
    entry = REAL.registry.scripts["ops.dns-lookup"]
    with pytest.raises(ArgError, match="--name needs a value, but got the flag '--help'"):
        entry.parse_argv(["--name", "--help"])
    with pytest.raises(ArgError, match="got the flag '-h'"):
        entry.parse_argv(["--name", "-h"])
    assert entry.parse_argv(["--name=--help"]) == {"name": "--help"}      # said explicitly: a value
    decision = REAL.route("run ops.dns-lookup --name --help")
    assert decision.error and "needs a value" in decision.error and not decision.args


def test_negative_numbers_stay_values() -> None:
    entry = REAL.registry.scripts["ops.disk-usage"]
    assert entry.parse_argv(["--warn", "-5"]) == {"warn": "-5"}
    assert entry.parse_argv(["--path", "-"]) == {"path": "-"}


@pytest.mark.parametrize("var", ["BOT_REGISTRY", "BOT_SKILLS"])
def test_a_missing_registry_or_skills_folder_is_exit_2(env: Path, monkeypatch, capsys, var: str) -> None:
    monkeypatch.setenv(var, str(env / "nowhere"))
    assert main(["registry", "check"]) == 2
    assert capsys.readouterr().err.strip() == f"bot: {var}: folder {str(env / 'nowhere')!r} not found"
    assert main(["route", "is the disk full"]) == 2


@pytest.mark.parametrize("cron", ["every tuesday", "0 0 31 2 *", "61 * * * *"])
def test_an_invalid_heartbeat_cron_stops_start_up_with_exit_2(env: Path, monkeypatch, capsys, cron: str) -> None:
    (env / "registry" / "demo.yaml").write_text(yaml.safe_dump({"scripts": [ECHO]}))
    monkeypatch.setenv("BOT_HEARTBEAT_CRON", cron)
    monkeypatch.setattr("sys.stdin", open("/dev/null"))       # noqa: SIM115 - the console would read it
    assert main(["serve", "--no-scheduler"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bot: invalid configuration: BOT_HEARTBEAT_CRON: schedule {cron!r}")


@pytest.mark.parametrize("pattern", ["(" * 3000 + "a" + ")" * 3000, "x{99999999999}"])
def test_a_pattern_python_cannot_compile_is_one_line_not_a_traceback(env: Path, capsys, pattern: str) -> None:
    code, err = check(env, capsys, yaml.safe_dump({"scripts": [{**ECHO, "patterns": [pattern]}]}))
    assert code == 1 and err[0].startswith("registry/demo.yaml: demo.echo: patterns: pattern 0 ")
    assert "is not a valid regex" in err[0] and len(err) == 2


def test_a_repeatable_arg_keeps_every_value_in_order(env: Path) -> None:
    tags = {**ECHO, "args": [{"name": "tag", "repeatable": True}, {"name": "port", "type": "int"}]}
    (env / "registry" / "demo.yaml").write_text(yaml.safe_dump({"scripts": [tags]}))
    entry = load_registry(env / "registry", env / "skills", env / "scripts").scripts["demo.echo"]
    args = entry.validate_args(entry.parse_argv(["--tag", "a", "--tag=b", "--port", "22"]))
    assert args == {"tag": ["a", "b"], "port": 22}
    assert entry.to_argv(args) == ["--tag=a", "--tag=b", "--port=22"]
    assert entry.tool_schema()["properties"]["tag"] == {"type": "array", "items": {"type": "string"}}
    assert entry.validate_args({"tag": "solo"}) == {"tag": ["solo"]}              # the model may send one
    with pytest.raises(ArgError, match="--port takes one value"):
        entry.validate_args({"port": [22, 23]})
    with pytest.raises(ArgError, match="--port is given more than once"):
        entry.parse_argv(["--port", "22", "--port", "23"])
    assert "[--tag <string>…]" in entry.usage()
