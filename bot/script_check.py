"""`bot registry check`, second half: does each script's own parser agree with its registry entry?

The entry is the source of a script's arguments; the script's parser must accept exactly those flags,
with the same type (text, int, float or a bool switch), the same choices and the same required-ness.
Each script is asked, in parallel, without a shell, with the runner's minimal environment (no
credentials) and a short timeout:

1. `<script> --help` first, always: the one flag every script must answer without acting (a write
   script that ignored an unknown flag would otherwise run its write during a registry check).
2. When that help advertises `--opsbot-spec` (scripts built on scripts/_lib do), `<script>
   --opsbot-spec` prints the argparse actions as JSON: read from the parser itself, so types and
   choices are exact.
3. Otherwise the help's argparse-style usage line (`usage: name [--a A] --b {x,y} [--c]`): flag
   names, required-ness (not in brackets), choices (`{x,y}`) and bool switches (no value). Any
   script, bash included, can be checked by printing such a usage line.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot.entries import ArgSpec, ScriptEntry
from bot.problems import Problem
from bot.registry import Registry
from bot.runner import Runner

TIMEOUT_S = 10.0
SPEC_FLAG = "--opsbot-spec"
IGNORED_FLAGS = {"--help", "--json", SPEC_FLAG}   # every script has them; no entry declares them
_USAGE_ITEM = re.compile(r"\[([^\[\]]+)\]|(--[A-Za-z0-9][\w-]*(?:[ =](?:\{[^}]*\}|[A-Z][A-Z0-9_]*))?)")


@dataclass(frozen=True)
class Flag:
    flag: str
    type: str | None            # "bool" | "int" | "float" | "string"; None when only "takes a value" is known
    required: bool
    choices: tuple[str, ...] | None


def _family(spec: ArgSpec) -> str:
    return spec.type if spec.type in ("bool", "int", "float") else "string"


def _run(argv: list[str], env: dict[str, str], cwd: Path, timeout_s: float) -> tuple[int | None, str, str]:
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # noqa: S603
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.communicate()
        return None, "", f"no answer within {timeout_s:g} s"
    return proc.returncode, out, err


def flags_from_spec(text: str) -> list[Flag] | None:
    """The `--opsbot-spec` JSON, or None when the output is not that."""
    try:
        data = json.loads(text)
        return [Flag(a["flag"], a["type"], bool(a["required"]),
                     None if a.get("choices") is None else tuple(map(str, a["choices"])))
                for a in data["args"] if a["flag"] not in IGNORED_FLAGS]
    except (ValueError, TypeError, KeyError):
        return None


def flags_from_usage(help_text: str) -> list[Flag] | None:
    """Flags from an argparse-style `usage:` line (continuation lines included); None without one."""
    lines = help_text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.lower().startswith("usage:")), None)
    if start is None:
        return None
    usage = [lines[start]]
    for line in lines[start + 1:]:
        if not line.strip() or not line[:1].isspace():
            break
        usage.append(line)
    flags: list[Flag] = []
    for optional, bare in _USAGE_ITEM.findall(" ".join(" ".join(usage).split())):
        for item, required in ((optional, False), (bare, True)):
            parts = item.replace("=", " ").split() if item else []
            if not parts or not parts[0].startswith("--") or parts[0] in IGNORED_FLAGS:
                continue
            value = parts[1] if len(parts) > 1 else None
            choices = tuple(value[1:-1].split(",")) if value and value.startswith("{") else None
            flags.append(Flag(parts[0], "bool" if value is None else None, required, choices))
    return flags


def script_flags(registry: Registry, entry: ScriptEntry, timeout_s: float = TIMEOUT_S
                 ) -> tuple[list[Flag] | None, str]:
    """(flags, how they were read) or (None, why not)."""
    path = registry.script_path(entry)
    env = Runner(registry, None, environ={}).child_env(entry)   # PATH/HOME/LANG only: no credentials
    code, out, err = _run([str(path), "--help"], env, registry.scripts_dir, timeout_s)
    if code != 0:
        detail = (err.strip().splitlines() or ["no output"])[-1][:200]
        return None, f"`--help` failed ({'exit ' + str(code) if code is not None else 'timeout'}): {detail}"
    if SPEC_FLAG in out:
        spec_code, spec_out, _ = _run([str(path), SPEC_FLAG], env, registry.scripts_dir, timeout_s)
        if spec_code == 0 and (flags := flags_from_spec(spec_out.strip())) is not None:
            return flags, SPEC_FLAG
    flags = flags_from_usage(out)
    return (flags, "--help") if flags is not None else (None, "`--help` printed no `usage:` line")


def compare(entry: ScriptEntry, flags: list[Flag], script: str) -> list[tuple[str, str]]:
    """(field, message) for each way the script's parser and the entry disagree."""
    found: list[tuple[str, str]] = []
    by_flag = {f.flag: f for f in flags}
    for spec in entry.args:
        field = f"args.{spec.name}"
        flag = by_flag.get(spec.flag)
        if flag is None:
            have = ", ".join(sorted(by_flag)) or "no flags"
            found.append((field, f"{script} has no {spec.flag} (its parser has: {have})"))
            continue
        want = _family(spec)
        if flag.type is not None and flag.type != want:
            found.append((field, f"type {spec.type} in the entry, {flag.type} in {script}"))
        elif flag.type is None and want == "bool":
            found.append((field, f"bool in the entry, but {spec.flag} takes a value in {script}"))
        if spec.required != flag.required:
            found.append((field, f"{'required' if spec.required else 'optional'} in the entry, "
                                 f"{'required' if flag.required else 'optional'} in {script}"))
        mine = tuple(spec.choices) if spec.choices else None
        if (set(mine) if mine else None) != (set(flag.choices) if flag.choices else None):
            found.append((field, f"choices {_show(mine)} in the entry, {_show(flag.choices)} in {script}"))
    declared = {spec.flag for spec in entry.args}
    for flag in flags:
        if flag.flag not in declared:
            what = flag.flag if flag.flag.startswith("--") else f"a positional argument {flag.flag!r}"
            found.append((f"args.{flag.flag.removeprefix('--')}", f"{script} accepts {what}, which the entry "
                                                                  "does not declare"))
    return found


def _show(choices: tuple[str, ...] | None) -> str:
    return "{" + ",".join(choices) + "}" if choices else "none"


def check_scripts(registry: Registry, *, timeout_s: float = TIMEOUT_S, workers: int = 8) -> list[Problem]:
    """Problems for every script whose parser disagrees with its entry (or cannot be asked)."""
    entries = [e for e in registry.scripts.values()
               if registry.script_path(e).is_file() and os.access(registry.script_path(e), os.X_OK)]

    def one(entry: ScriptEntry) -> list[Problem]:
        where = registry.sources.get(f"scripts:{entry.name}", "registry")
        path = registry.script_path(entry)
        script = _display(path, registry.scripts_dir)
        flags, how = script_flags(registry, entry, timeout_s)
        if flags is None:
            return [Problem(where, entry.name, "path", f"{script}: {how}")]
        return [Problem(where, entry.name, field, message) for field, message in compare(entry, flags, script)]

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(one, sorted(entries, key=lambda e: e.name)))
    return [problem for problems in results for problem in problems]


def _display(path: Path, scripts_dir: Path) -> str:
    root = scripts_dir.resolve()
    return f"{root.name}/{path.relative_to(root)}" if path.is_relative_to(root) else str(path)

