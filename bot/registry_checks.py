"""Checks across registry entries and files, after each entry has validated on its own.

- a script's file must exist, be executable and lie inside the scripts folder (`path: /bin/echo` or
  `../x` is refused, and the entry is dropped so nothing can run it);
- a pattern must not be able to backtrack catastrophically: a repeat inside another repeat, where
  either may repeat without bound (`^(a+)+$`, `(\\w+\\s?)*`), is refused;
- a job that runs a `write` script needs `allow_write: true`; with it, the check still warns;
- jobs and skills must name scripts and skills that exist, with arguments the script accepts.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

try:                                    # the parser `re` itself uses (3.11+: re._parser)
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:                      # pragma: no cover
    import sre_parse  # type: ignore[no-redef]

if TYPE_CHECKING:
    from bot.entries import Registry, ScriptEntry
    from bot.problems import Problem

_REPEATS = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None)} - {None}
_UNBOUNDED = sre_parse.MAXREPEAT


_ASCII = frozenset(range(128))
_CATEGORIES = {name: frozenset(c for c in _ASCII if re.match(regex, chr(c)))
               for name, regex in (("CATEGORY_DIGIT", r"\d"), ("CATEGORY_NOT_DIGIT", r"\D"),
                                   ("CATEGORY_SPACE", r"\s"), ("CATEGORY_NOT_SPACE", r"\S"),
                                   ("CATEGORY_WORD", r"\w"), ("CATEGORY_NOT_WORD", r"\W"))}
_DANGER = ("nested quantifiers (a repeated group that itself repeats, with nothing to tell the repeats "
           "apart) can backtrack catastrophically; bound a repeat or separate them with a literal")


def _fold(chars: frozenset[int]) -> frozenset[int]:
    """Both cases: registry patterns are matched case-insensitively."""
    return chars | {ord(chr(c).swapcase()) for c in chars if chr(c).isalpha()}


def _charset(op, av) -> frozenset[int] | None:
    """ASCII characters one single-character element can match, or None if it is not one."""
    if op is sre_parse.LITERAL:
        return _fold(frozenset({av}))
    if op is sre_parse.NOT_LITERAL:
        return _ASCII - _fold(frozenset({av}))
    if op is sre_parse.ANY:
        return _ASCII
    if op is sre_parse.IN:
        chars: set[int] = set()
        negate = False
        for item_op, item_av in av:
            if item_op is sre_parse.NEGATE:
                negate = True
            elif item_op is sre_parse.LITERAL:
                chars.add(item_av)
            elif item_op is sre_parse.RANGE:
                chars.update(range(item_av[0], min(item_av[1], 127) + 1))
            elif item_op is sre_parse.CATEGORY:
                chars.update(_CATEGORIES.get(str(item_av), _ASCII))
            else:
                return _ASCII
        folded = _fold(frozenset(chars))
        return _ASCII - folded if negate else folded
    return None


def _chars_in(items) -> frozenset[int]:
    """Every character a (sub)pattern could consume; ASCII for anything not worked out."""
    out: set[int] = set()
    for op, av in items:
        single = _charset(op, av)
        if single is not None:
            out |= single
        elif op in _REPEATS:
            out |= _chars_in(av[2])
        elif op is sre_parse.SUBPATTERN:
            out |= _chars_in(av[-1])
        elif op is sre_parse.BRANCH:
            for branch in av[1]:
                out |= _chars_in(branch)
        elif op not in (sre_parse.AT, sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            out |= _ASCII
    return frozenset(out)


def _separators(body) -> list[frozenset[int]]:
    """Character sets of the single characters every pass through a repeat body must consume."""
    items = list(body)
    while len(items) == 1 and items[0][0] is sre_parse.SUBPATTERN:
        items = list(items[0][1][-1])
    found = []
    for op, av in items:
        single = _charset(op, av)
        if single is not None:
            found.append(single)
        elif op in _REPEATS and av[0] >= 1:
            found.extend(_separators(av[2]) if av[1] == av[0] == 1 else [])
    return found


_OVERLAP = ("alternatives that can match the same text inside a repeat (like `(a|aa)+`) can backtrack "
            "catastrophically; make each alternative start differently")


def _first(items, after: frozenset[int]) -> frozenset[int]:
    """Characters a (sub)pattern can start with; `after` too when it can match nothing."""
    out: set[int] = set()
    for op, av in items:
        single = _charset(op, av)
        if single is not None:
            return frozenset(out | single)
        if op in _REPEATS:
            out |= _first(av[2], frozenset())
            if av[0] >= 1:
                return frozenset(out)
        elif op is sre_parse.SUBPATTERN:
            return frozenset(out | _first(av[-1], after))
        elif op is sre_parse.BRANCH:
            return frozenset(out.union(*(_first(b, after) for b in av[1])))
        elif op not in (sre_parse.AT, sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            return _ASCII
    return frozenset(out | after)


def _overlapping(branches, rest, body) -> bool:
    """Two alternatives of one branch can start alike (an empty one: like what follows it, `rest`, or
    the repeat's next pass)."""
    after = _first(rest, _chars_in(body))
    firsts = [_first(b, after) for b in branches]
    return any(not a.isdisjoint(b) for i, a in enumerate(firsts) for b in firsts[i + 1:])


def nested_quantifier(pattern: str) -> str | None:
    """Why `pattern` can backtrack catastrophically, or None. Flags a repeat inside a repeat (one of
    them unbounded) unless each pass of the outer one must consume a character the inner cannot match
    (`(?:\\.[\\w-]+)+` is fine: every pass starts with a dot)."""
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None                      # reported elsewhere as an invalid regex

    def walk(items, outer) -> str | None:
        items = list(items)
        for at, (op, av) in enumerate(items):
            found = None
            if op in _REPEATS:
                low, high, sub = av
                if outer is not None and high > 1 and _UNBOUNDED in (high, outer[0]):
                    inner = _chars_in(sub)
                    if not any(sep.isdisjoint(inner) for sep in _separators(outer[1])):
                        return _DANGER
                found = walk(sub, (high, sub) if high > 1 else outer)
            elif op is sre_parse.SUBPATTERN:
                found = walk(av[-1], outer)
            elif op is sre_parse.BRANCH:
                if outer is not None and outer[0] == _UNBOUNDED and _overlapping(av[1], items[at + 1:], outer[1]):
                    return _OVERLAP
                found = next((f for branch in av[1] if (f := walk(branch, outer))), None)
            elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
                found = walk(av[1], outer)
            if found:
                return found
        return None

    try:
        return walk(parsed, None)
    except RecursionError:
        return "nesting too deep to check for catastrophic backtracking"


def outside_scripts_folder(reg: Registry, entry: ScriptEntry) -> str | None:
    """Why the entry's script file is not inside the scripts folder, or None when it is."""
    declared = entry.path or entry.name.replace(".", "/", 1)
    if os.path.isabs(declared) or ".." in declared.replace("\\", "/").split("/"):
        return f"{declared!r} is outside the scripts folder (give a path relative to {reg.scripts_dir})"
    if not reg.script_path(entry).is_relative_to(reg.scripts_dir.resolve()):
        return f"{declared!r} resolves outside the scripts folder {reg.scripts_dir}"
    return None


def cross_check(reg: Registry, check_paths: bool) -> None:
    from bot.problems import ArgError, Problem

    for entry in list(reg.scripts.values()):
        where = reg.sources.get(f"scripts:{entry.name}", "registry")
        field_name = "path" if entry.path else "name (implies path)"
        outside = outside_scripts_folder(reg, entry)
        if outside:
            reg.problems.append(Problem(where, entry.name, field_name, outside))
            del reg.scripts[entry.name]          # fail closed: nothing may run it
            continue
        for i, pattern in enumerate(entry.patterns):
            why = nested_quantifier(pattern)
            if why:
                reg.problems.append(Problem(where, entry.name, f"patterns.{i}", f"{pattern!r}: {why}"))
        if check_paths:
            path = reg.script_path(entry)
            if not path.is_file():
                reg.problems.append(Problem(where, entry.name, field_name, f"no script at {path}"))
            elif not os.access(path, os.X_OK):
                reg.problems.append(Problem(where, entry.name, field_name, f"{path} is not executable"))
    for job in reg.jobs.values():
        where = reg.sources.get(f"jobs:{job.name}", "registry")
        if job.script:
            script = reg.scripts.get(job.script)
            if script is None:
                reg.problems.append(Problem(where, job.name, "script", f"unknown script {job.script!r}"))
            else:
                try:
                    script.validate_args(job.args)
                except ArgError as exc:
                    reg.problems.append(Problem(where, job.name, "args", str(exc)))
                reg.problems.extend(_write_guard(where, job.name, script, job.allow_write, reg.warnings))
        if job.skill and job.skill not in reg.skills:
            reg.problems.append(Problem(where, job.name, "skill", f"unknown skill {job.skill!r}"))
    for skill in reg.skills.values():
        for name in skill.scripts:
            if name not in reg.scripts:
                reg.problems.append(Problem(f"skills/{skill.name}/SKILL.md", skill.name, "scripts",
                                            f"unknown script {name!r}"))


def _write_guard(where: str, job: str, script: ScriptEntry, allow_write: bool,
                 warnings: list[Problem]) -> list[Problem]:
    from bot.problems import Problem

    if not script.is_write:
        return []
    if not allow_write:
        return [Problem(where, job, "allow_write", f"runs write script {script.name!r} unattended; "
                        "set `allow_write: true` on the job if it really should change things")]
    warnings.append(Problem(where, job, "allow_write", f"runs write script {script.name!r} unattended "
                            "(allow_write: true)"))
    return []


def write_refusal(job_name: str, script: ScriptEntry, allow_write: bool) -> str | None:
    """Why a job may not run this script (a write without `allow_write: true`), or None."""
    if script.is_write and not allow_write:
        return (f"runs write script {script.name!r} without `allow_write: true` in registry/jobs.yaml")
    return None
