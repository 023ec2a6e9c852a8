"""Registry validation: every kind of broken entry is named by file, entry and field."""

from __future__ import annotations

import pytest

from bot.cli import main
from bot.entries import ScriptEntry
from bot.problems import ArgError
from bot.prompts import script_line
from bot.registry import load_registry
from tests.foundation.helpers import ECHO_ARGS, write_registry, write_script

GOOD = {"name": "demo.echo", "summary": "Echo the args back", "args": [{"name": "repo"}]}


def problems_for(tmp_path, entry, *, make_script=True, extra=None):
    if make_script:
        write_script(tmp_path, "demo.echo", ECHO_ARGS)
    write_registry(tmp_path, [entry, *(extra or [])])
    registry = load_registry(tmp_path / "registry")
    return [(p.file, p.entry, p.field, p.message) for p in registry.problems]


def test_good_entry_loads(tmp_path):
    assert problems_for(tmp_path, GOOD) == []


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"colour": "red"}, "colour", "unknown key"),
        ({"summary": ""}, "summary", "at least 3"),
        ({"side_effects": "maybe"}, "side_effects", "'read' or 'write'"),
        ({"args": [{"name": "n", "type": "integer"}]}, "args.0.type", "string"),
        ({"args": [{"name": "level", "type": "enum"}]}, "args.0", "choices"),
        ({"args": [{"name": "n", "type": "int", "default": "many"}]}, "args.0", "expected int"),
        ({"patterns": ["(unclosed"]}, "patterns", "not a valid regex"),
        ({"patterns": ["^prs in (?P<project>\\S+)$"]}, "patterns", "group (?P<project>) is not a declared arg"),
        ({"env": ["github token"]}, "env", "not an environment variable name"),
        ({"timeout_s": 0}, "timeout_s", "greater than 0"),
        ({"name": "NoDot"}, "name", "pattern"),
    ],
)
def test_each_broken_field_is_named(tmp_path, change, field, message):
    problems = problems_for(tmp_path, {**GOOD, **change})
    assert len(problems) >= 1, problems
    file, entry, got_field, got_message = problems[0]
    assert file == "registry/test.yaml"
    assert entry == {**GOOD, **change}["name"]
    assert got_field.startswith(field), problems
    assert message in got_message, problems


def test_missing_and_non_executable_script(tmp_path):
    problems = problems_for(tmp_path, GOOD, make_script=False)
    assert problems == [("registry/test.yaml", "demo.echo", "name (implies path)",
                         f"no script at {tmp_path / 'scripts/demo/echo'}")]
    path = write_script(tmp_path, "demo.echo", ECHO_ARGS)
    path.chmod(0o644)
    problems = [(p.field, p.message) for p in load_registry(tmp_path / "registry").problems]
    assert problems == [("name (implies path)", f"{path} is not executable")]


def test_duplicate_names_across_files(tmp_path):
    write_script(tmp_path, "demo.echo", ECHO_ARGS)
    write_registry(tmp_path, [GOOD], file="a.yaml")
    write_registry(tmp_path, [GOOD], file="b.yaml")
    problems = load_registry(tmp_path / "registry").problems
    assert [(p.file, p.entry, p.field) for p in problems] == [("registry/b.yaml", "demo.echo", "name")]
    assert "also in registry/a.yaml" in problems[0].message


def test_bad_yaml_and_bad_job_references(tmp_path):
    write_script(tmp_path, "demo.echo", ECHO_ARGS)
    write_registry(tmp_path, [GOOD], jobs=[
        {"name": "nightly", "schedule": "0 3 * * *", "script": "demo.missing"},
        {"name": "bad-cron", "schedule": "every day", "script": "demo.echo"},
        {"name": "bad-args", "schedule": "every 5m", "script": "demo.echo", "args": {"nope": 1}},
        {"name": "heartbeat", "schedule": "every 5m", "script": "demo.echo"},
    ])
    (tmp_path / "registry" / "broken.yaml").write_text("scripts: [\n")
    problems = {(p.file, p.entry, p.field) for p in load_registry(tmp_path / "registry").problems}
    assert ("registry/broken.yaml", "(file)", "(yaml)") in problems
    assert ("registry/test.yaml", "nightly", "script") in problems
    assert ("registry/test.yaml", "bad-cron", "schedule") in problems
    assert ("registry/test.yaml", "bad-args", "args") in problems
    assert ("registry/test.yaml", "heartbeat", "name") in problems


def test_skill_front_matter_problems(tmp_path):
    write_script(tmp_path, "demo.echo", ECHO_ARGS)
    write_registry(tmp_path, [GOOD])
    skill = tmp_path / "skills" / "summary"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: summary\ndescription: Sum up\ntier: genius\n---\nbody\n")
    problems = [(p.file, p.entry, p.field) for p in load_registry(tmp_path / "registry").problems]
    assert problems == [("skills/summary/SKILL.md", "summary", "tier")]


def test_registry_check_command_exit_codes(tmp_path, monkeypatch, capsys):
    # `registry check` also reads the script's --help: it must agree with the entry (args: repo).
    usage = 'import sys\nif "--help" in sys.argv:\n    print("usage: demo.echo [--repo REPO]")\n    sys.exit(0)\n'
    write_script(tmp_path, "demo.echo", usage + ECHO_ARGS)
    write_registry(tmp_path, [{**GOOD, "colour": "red"}])
    (tmp_path / "skills").mkdir()            # a missing skills folder is itself an error (exit 2)
    monkeypatch.setenv("BOT_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.setenv("BOT_SCRIPTS", str(tmp_path / "scripts"))
    monkeypatch.setenv("BOT_SKILLS", str(tmp_path / "skills"))
    monkeypatch.setenv("BOT_HOME", str(tmp_path / "home"))
    assert main(["registry", "check"]) == 1
    err = capsys.readouterr().err
    assert "registry/test.yaml: demo.echo: colour: unknown key" in err
    write_registry(tmp_path, [GOOD])
    assert main(["registry", "check"]) == 0
    assert "registry ok: 1 scripts" in capsys.readouterr().out


def test_args_are_typed_and_usage_is_shown():
    entry = ScriptEntry.model_validate({
        "name": "demo.x", "summary": "demo", "side_effects": "read", "args": [
            {"name": "limit", "type": "int", "default": 5},
            {"name": "url", "type": "url", "required": True},
            {"name": "level", "type": "enum", "choices": ["low", "high"]},
            {"name": "since", "type": "date"},
            {"name": "dry-run", "type": "bool"},
        ]})
    assert entry.validate_args({"url": "https://x.io", "limit": "7", "dry_run": "yes"}) == {
        "url": "https://x.io", "limit": 7, "dry-run": True}
    with pytest.raises(ArgError) as err:
        entry.validate_args({"limit": "3"})
    assert "missing required argument --url" in str(err.value)
    assert "usage: `demo.x [--limit <int>] --url <url>" in err.value.usage
    assert entry.validate_args({"url": "https://x.io", "level": "HIGH"})["level"] == "high"
    for bad in ({"url": "ftp://x"}, {"url": "https://x", "level": "mid"}, {"url": "https://x", "since": "soon"},
                {"url": "https://x", "limit": "3.5"}, {"url": "https://x", "colour": "red"}):
        with pytest.raises(ArgError):
            entry.validate_args(bad)


def test_tool_schema_and_index_line():
    entry = ScriptEntry.model_validate({
        "name": "demo.x", "summary": "demo things", "side_effects": "write",
        "args": [{"name": "n", "type": "int", "required": True, "help": "how many"},
                 {"name": "mode", "type": "enum", "choices": ["a", "b"]}]})
    assert entry.tool_schema() == {
        "type": "object",
        "properties": {"n": {"type": "integer", "description": "how many"},
                       "mode": {"type": "string", "enum": ["a", "b"]}},
        "required": ["n"], "additionalProperties": False}
    assert script_line(entry) == "demo.x(n) [w]: demo things"   # its line in the orchestrator's index


def test_parse_argv_keeps_values_literal():
    entry = ScriptEntry.model_validate({"name": "demo.x", "summary": "demo", "side_effects": "read", "args": [
        {"name": "text"}, {"name": "flag", "type": "bool"}]})
    assert entry.parse_argv(["--text", "-rf /; $(reboot)", "--flag"]) == {"text": "-rf /; $(reboot)", "flag": True}
    assert entry.parse_argv(["--text=a=b"]) == {"text": "a=b"}
    with pytest.raises(ArgError):
        entry.parse_argv(["positional"])
