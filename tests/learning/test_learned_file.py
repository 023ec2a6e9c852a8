"""learned.yaml is loaded and validated with the registry: problems name file, entry and field."""

from __future__ import annotations

from bot.cli import main
from bot.registry import load_registry
from tests.learning.small import write_small


def test_problems_in_learned_yaml_name_file_entry_and_field(tmp_path, monkeypatch, capsys):
    write_small(tmp_path)
    assert load_registry(tmp_path / "registry").problems == []          # no learned.yaml: fine
    (tmp_path / "registry" / "learned.yaml").write_text(
        "examples:\n"
        "  - {script: demo.nope, text: what is up with nope}\n"
        "  - {script: demo.prs, text: 'waiting in {repository}'}\n"
        "  - {script: demo.restart, text: bounce the web thing}\n"
        "  - {script: demo.disk, text: how roomy are the drives, colour: red}\n"
        "  - {script: demo.disk, text: how much room is left}\n"
        "negatives:\n"
        "  - {script: demo.gone, text: disk usage please}\n"
        "extra: 1\n")
    for name, value in {"BOT_HOME": tmp_path / "home", "BOT_REGISTRY": tmp_path / "registry",
                        "BOT_SCRIPTS": tmp_path / "scripts", "BOT_SKILLS": tmp_path / "skills"}.items():
        monkeypatch.setenv(name, str(value))
    assert main(["registry", "check"]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if "learned.yaml" in line]
    assert err == [
        "registry/learned.yaml: examples[3] demo.disk: colour: unknown key",
        "registry/learned.yaml: (file): extra: unknown top-level key (expected examples/negatives)",
        "registry/learned.yaml: examples[0] demo.nope: script: unknown script 'demo.nope'",
        "registry/learned.yaml: examples[1] demo.prs: text: placeholder {repository} is not an argument of demo.prs",
        "registry/learned.yaml: examples[2] demo.restart: script: a write script: only `run NAME` may reach it, "
        "never a learned phrasing",
        "registry/learned.yaml: negatives[0] demo.gone: script: unknown script 'demo.gone'",
    ]
    registry = load_registry(tmp_path / "registry")        # the good entry is still merged
    assert registry.scripts["demo.disk"].examples[-1] == "how much room is left"
    assert registry.learned_examples == {"demo.disk": ["how much room is left"]}


def test_a_broken_learned_yaml_is_one_line_not_a_traceback(tmp_path):
    write_small(tmp_path)
    (tmp_path / "registry" / "learned.yaml").write_text("examples: [\n")
    [problem] = load_registry(tmp_path / "registry").problems
    assert str(problem).startswith("registry/learned.yaml: (file): (yaml): not valid YAML")
