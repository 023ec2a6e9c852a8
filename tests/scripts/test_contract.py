"""The script contract, checked for every registered script: --help, missing credentials, args."""

from __future__ import annotations

import pytest

from bot.config import PROJECT_ROOT
from bot.registry import load_registry
from tests.scripts.harness import run_script

REGISTRY = load_registry(PROJECT_ROOT / "registry")
SCRIPTS = sorted(REGISTRY.scripts.values(), key=lambda e: e.name)


def test_registry_is_clean():
    assert REGISTRY.problems == []


@pytest.mark.parametrize("entry", SCRIPTS, ids=lambda e: e.name)
def test_help_exits_zero_and_lists_declared_flags(entry):
    result = run_script(entry.name, "--help")
    assert result.code == 0, result.stderr
    for arg in entry.args:
        assert arg.flag in result.stdout, f"{entry.name} --help does not mention {arg.flag}"
    # Built on _lib's Script under its registered name (Script adds --json): so a bad flag exits 2
    # with the usage line, as test_lib checks once for every script.
    assert result.stdout.startswith(f"usage: {entry.name} ") and "--json" in result.stdout


@pytest.mark.parametrize("entry", [e for e in SCRIPTS if e.env], ids=lambda e: e.name)
def test_missing_credentials_exit_3_naming_the_variable(entry):
    required = {a.name: _sample(a) for a in entry.args if a.required}
    argv = [f"--{k}={v}" for k, v in required.items()]
    result = run_script(entry.name, *argv)
    assert result.code == 3, (result.code, result.stderr)
    assert any(var in result.stderr for var in entry.env), result.stderr


def _sample(arg):
    return {"int": "1", "float": "1", "url": "https://example.invalid", "host": "example.invalid",
            "date": "2026-01-01", "enum": arg.choices[0] if arg.choices else "x"}.get(arg.type, "x")
