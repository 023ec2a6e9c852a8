"""The registry: scripts, jobs and skills loaded from registry/**/*.yaml and skills/*/SKILL.md.

The entries themselves (pydantic models) are bot/entries.py; this module reads the files, turns every
validation error into a Problem naming file, entry and field, and cross-checks what one entry says
about another.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml
from pydantic import (
    ValidationError,
)

from bot import yaml_strict
from bot.entries import JobEntry, Registry, ScriptEntry, SkillEntry, split_front_matter
from bot.errors import unreadable
from bot.problems import ArgError, Problem
from bot.registry_checks import cross_check


def _problems_from(exc: ValidationError, file: str, entry: str) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required, missing" + (": say `read` or `write`" if loc == "side_effects" else "")
        out.append(Problem(file, entry, loc, msg))
    return out


def _once(problems: list[Problem], problem: Problem) -> None:
    """Each file is read once per kind (scripts, jobs): what is wrong with the file is said once."""
    if problem not in problems:
        problems.append(problem)


def _load_yaml_entries(path: Path, kind: str, root: Path, problems: list[Problem]) -> list[tuple[str, dict]]:
    rel = str(path.relative_to(root.parent)) if path.is_relative_to(root.parent) else str(path)
    try:
        data = yaml_strict.safe_load(path.read_text()) or {}
    except yaml_strict.DuplicateKeyError as exc:
        _once(problems, Problem(rel, exc.entry or f"(line {exc.line})", str(exc.key),
                                f"duplicate key at line {exc.line} (first at line {exc.first_line})"))
        return []
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:   # not UTF-8, unreadable: a problem too
        _once(problems, Problem(rel, "(file)", "(yaml)", unreadable(exc)))
        return []
    if not isinstance(data, dict):
        _once(problems, Problem(rel, "(file)", "(top level)", "expected a mapping with `scripts:` or `jobs:`"))
        return []
    for key in data:
        if key not in ("scripts", "jobs"):
            _once(problems, Problem(rel, "(file)", str(key), "unknown top-level key (expected scripts/jobs)"))
    items = data.get(kind) or []
    if not isinstance(items, list):
        _once(problems, Problem(rel, "(file)", kind, "expected a list"))
        return []
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            _once(problems, Problem(rel, f"#{i}", "(entry)", "expected a mapping"))
            continue
        out.append((rel, item))
    return out


def load_registry(registry_dir: Path, skills_dir: Path | None = None, scripts_dir: Path | None = None,
                  check_paths: bool = True) -> Registry:
    """Load every registry/**/*.yaml and skills/*/SKILL.md. Problems are collected, not raised."""
    registry_dir = Path(registry_dir)
    scripts_dir = Path(scripts_dir) if scripts_dir else registry_dir.parent / "scripts"
    skills_dir = Path(skills_dir) if skills_dir else registry_dir.parent / "skills"
    reg = Registry(scripts_dir=scripts_dir)
    problems = reg.problems
    files = sorted(registry_dir.rglob("*.yaml")) if registry_dir.is_dir() else []
    files = [f for f in files if f != registry_dir / "learned.yaml"]     # merged below, by bot/learned.py
    if not registry_dir.is_dir():
        problems.append(Problem(str(registry_dir), "(dir)", "BOT_REGISTRY", "registry directory not found"))

    for kind, model, target in (("scripts", ScriptEntry, reg.scripts), ("jobs", JobEntry, reg.jobs)):
        seen_in: dict[str, str] = {}
        for path in files:
            for rel, item in _load_yaml_entries(path, kind, registry_dir, problems):
                name = str(item.get("name", "(unnamed)"))
                try:
                    entry = model.model_validate(item)
                except ValidationError as exc:
                    problems.extend(_problems_from(exc, rel, name))
                    continue
                if name in seen_in:
                    problems.append(Problem(rel, name, "name", f"duplicate name (also in {seen_in[name]})"))
                    continue
                seen_in[name] = rel
                reg.sources[f"{kind}:{name}"] = rel
                target[name] = entry

    if skills_dir.is_dir():
        for skill_file in sorted(skills_dir.glob("*/SKILL.md")):
            rel = f"{skills_dir.name}/{skill_file.parent.name}/SKILL.md"
            try:
                front, _ = split_front_matter(skill_file.read_text())
                entry = SkillEntry.model_validate({**front, "path": skill_file})
            except ValidationError as exc:
                problems.extend(_problems_from(exc, rel, skill_file.parent.name))
                continue
            except (ValueError, yaml.YAMLError) as exc:
                problems.append(Problem(rel, skill_file.parent.name, "(front matter)", str(exc)))
                continue
            if entry.name != skill_file.parent.name:
                problems.append(Problem(rel, entry.name, "name", "must match the skill's folder name"))
                continue
            reg.skills[entry.name] = entry

    from bot.learned import merge_learned

    merge_learned(reg, registry_dir, Problem)
    cross_check(reg, check_paths)
    return reg


def split_command(text: str) -> list[str]:
    """Tokenise `/run` text like a shell would quote it — for splitting only, nothing is executed."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise ArgError(f"could not parse arguments: {exc}") from None
