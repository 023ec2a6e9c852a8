"""`bot registry check` asks each script's own parser and fails where it disagrees with the entry.

Throw-away registries with real executable scripts: one built on scripts/_lib (read through its hidden
--opsbot-spec), one in bash (read through its --help usage line).
"""

from __future__ import annotations

import argparse
import shutil
import textwrap

import pytest

from bot.cli import main
from bot.config import PROJECT_ROOT
from bot.registry import load_registry
from bot.script_check import check_scripts, flags_from_usage
from tests.foundation.helpers import write_registry

ENTRY = {"name": "demo.deploys", "summary": "Recent deploys", "args": [
    {"name": "site", "type": "string", "required": True},
    {"name": "limit", "type": "int"},
    {"name": "state", "type": "enum", "choices": ["ready", "error"]},
    {"name": "verbose", "type": "bool"},
]}

AGREES = """
    script.arg("--site", required=True)
    script.arg("--limit", type=int, default=10)
    script.arg("--state", choices=["ready", "error"])
    script.arg("--verbose", action="store_true")
"""

DISAGREES = """
    script.arg("--site")
    script.arg("--limit", type=float)
    script.arg("--state", choices=["ready", "error", "building"])
    script.arg("--colour")
    script.parser.add_argument("target")
"""


def lib_script(root, flags: str):
    scripts = root / "scripts"
    if not (scripts / "_lib").exists():
        shutil.copytree(PROJECT_ROOT / "scripts" / "_lib", scripts / "_lib",
                        ignore=shutil.ignore_patterns("__pycache__"))
    path = scripts / "demo" / "deploys"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env python3\n" + textwrap.dedent("""
        import os, sys
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), ".."))
        from _lib import Script  # noqa: E402

        script = Script("demo.deploys", "Recent deploys.")
    """) + textwrap.dedent(flags) + textwrap.dedent("""
        @script.main
        def run(args, out):
            out.text("ok")
    """))
    path.chmod(0o755)
    return path


def bash_script(root, name: str, usage: str):
    service, action = name.split(".")
    path = root / "scripts" / service / action
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        case "$1" in
          --help) echo "usage: {name} {usage}"; echo; echo "Checks a port."; exit 0 ;;
          *) echo "{name}: unknown argument $1" >&2; exit 2 ;;
        esac
    """))
    path.chmod(0o755)
    return path


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    for var, sub in (("BOT_REGISTRY", "registry"), ("BOT_SCRIPTS", "scripts"), ("BOT_SKILLS", "skills"),
                     ("BOT_HOME", "home")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    return tmp_path


def test_registry_check_fails_naming_file_entry_and_argument_when_the_parser_disagrees(cli_env, capsys):
    write_registry(cli_env, [ENTRY])
    lib_script(cli_env, DISAGREES)

    assert main(["registry", "check"]) == 1
    err = capsys.readouterr().err.splitlines()
    where = "registry/test.yaml: demo.deploys:"
    assert f"{where} args.site: required in the entry, optional in scripts/demo/deploys" in err
    assert f"{where} args.limit: type int in the entry, float in scripts/demo/deploys" in err
    assert (f"{where} args.state: choices {{ready,error}} in the entry, {{ready,error,building}} "
            "in scripts/demo/deploys") in err
    assert any(line.startswith(f"{where} args.verbose: scripts/demo/deploys has no --verbose") for line in err)
    assert (f"{where} args.colour: scripts/demo/deploys accepts --colour, which the entry does not declare"
            in err)
    assert (f"{where} args.target: scripts/demo/deploys accepts a positional argument 'target', which the entry "
            "does not declare") in err
    assert err[-1] == "6 problem(s) in the registry"


def test_registry_check_passes_when_parser_and_entry_agree(cli_env, capsys):
    write_registry(cli_env, [ENTRY])
    lib_script(cli_env, AGREES)
    assert main(["registry", "check"]) == 0
    assert "registry ok: 1 scripts" in capsys.readouterr().out


def test_a_bash_script_is_checked_through_its_usage_line(tmp_path):
    entry = {"name": "demo.port", "summary": "Port check", "args": [
        {"name": "host", "type": "host", "required": True}, {"name": "port", "type": "int"},
        {"name": "udp", "type": "bool"}]}
    write_registry(tmp_path, [entry])
    bash_script(tmp_path, "demo.port", "[-h] --host HOST [--port PORT] [--udp]")
    assert check_scripts(load_registry(tmp_path / "registry")) == []

    bash_script(tmp_path, "demo.port", "[-h] [--host HOST] [--port PORT] [--udp UDP]")
    problems = [(p.entry, p.field, p.message) for p in check_scripts(load_registry(tmp_path / "registry"))]
    assert problems == [
        ("demo.port", "args.host", "required in the entry, optional in scripts/demo/port"),
        ("demo.port", "args.udp", "bool in the entry, but --udp takes a value in scripts/demo/port"),
    ]


def test_a_script_that_cannot_answer_help_is_one_problem_not_a_hang(tmp_path):
    write_registry(tmp_path, [{"name": "demo.slow", "summary": "Never answers"}])
    path = tmp_path / "scripts" / "demo" / "slow"
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\nexec sleep 30\n")
    path.chmod(0o755)
    problems = check_scripts(load_registry(tmp_path / "registry"), timeout_s=0.3)
    assert [(p.entry, p.field, p.message) for p in problems] == [
        ("demo.slow", "path", "scripts/demo/slow: `--help` failed (timeout): no answer within 0.3 s")]


def test_usage_lines_as_argparse_writes_them_wrapped_over_lines():
    parser = argparse.ArgumentParser(prog="github.something-with-a-long-name")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repository-name", required=True)
    parser.add_argument("--state", choices=["open", "closed", "all"], default="open")
    parser.add_argument("--include-drafts", action="store_true")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--since-date-in-iso-format", dest="since")
    flags = {f.flag: (f.type, f.required, f.choices) for f in flags_from_usage(parser.format_help())}
    assert flags == {
        "--repository-name": (None, True, None),
        "--state": (None, False, ("open", "closed", "all")),
        "--include-drafts": ("bool", False, None),
        "--limit": (None, False, None),
        "--since-date-in-iso-format": (None, False, None),
    }
    assert flags_from_usage("prints no usage at all") is None
