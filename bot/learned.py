"""`learned.yaml`: phrasings the bot learned (`bot learn --apply`, /ops learn) and 👎 negatives.

A file of its own in the registry folder, so what was learned is reviewable as a diff and never
rewrites the hand-written entries. It is loaded with the rest of the registry: each learned example is
merged into its script's `examples` and the merged entry validated by the same `ScriptEntry` model as a
hand-written one; a problem names learned.yaml, the entry and the field. Examples carry the script's
argument placeholders (`is port {port} open on {host}`), rendered with neutral sample values for the
pre-router, so a learned phrasing matches any value, not the one first asked about.

    examples:
      - {script: ops.disk-usage, text: "could you peek at how much room the host's drives still have",
         support: 2, requests: [a1b2, c3d4], added: 2026-12-05}
    negatives:
      - {script: github.open-prs, text: "whats cooking in the repo", request: e5f6, added: 2026-12-05}
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:     # bot.registry calls merge_learned and hands in what it needs: no import circle
    from bot.entries import ArgSpec, Registry, ScriptEntry
    from bot.problems import Problem

LEARNED_FILE = "learned.yaml"
PLACEHOLDER_RE = re.compile(r"\{([a-z][a-z0-9-]*)\}")
HEADER = ("# Learned by opsbot (`bot learn --apply`, /ops learn, 👎 reactions). Review it like code: every\n"
          "# example routes its phrasing to the script at 0 tokens; every negative stops one from doing so.\n")

# Values that the pre-router extracts back into the same argument (see bot/router.py ENTITY_RULES).
_SAMPLES_BY_NAME = {
    "repo": "acme/app", "url": "https://example.com/status", "email": "ops@example.com",
    "host": "app.example.com", "name": "app.example.com", "domain": "app.example.com",
    "key": "OPS-42", "issue": "OPS-42", "channel": "general", "label": "bug", "branch": "main",
    "target": "production", "environment": "production", "meeting": "84512345678",
}
_SAMPLES_BY_TYPE = {"int": "42", "float": "1.5", "url": "https://example.com/status", "host": "app.example.com",
                    "date": "2026-01-15", "bool": "true"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LearnedExample(_Strict):
    script: str = Field(pattern=r"^[a-z0-9]+\.[a-z0-9-]+$")
    text: str = Field(min_length=3, max_length=300)
    support: int = Field(1, ge=1)
    requests: list[str] = []
    added: str | None = None


class LearnedNegative(_Strict):
    script: str = Field(pattern=r"^[a-z0-9]+\.[a-z0-9-]+$")
    text: str = Field(min_length=1, max_length=300)
    request: str | None = None
    added: str | None = None


class LearnedFile(_Strict):
    examples: list[LearnedExample] = []
    negatives: list[LearnedNegative] = []


def learned_path(registry_dir: Path) -> Path:
    return Path(registry_dir) / LEARNED_FILE


def sample_value(spec: ArgSpec) -> str:
    if spec.type == "enum":
        return spec.choices[0]
    if spec.type in ("int", "float", "date", "bool", "url", "host"):
        return _SAMPLES_BY_TYPE[spec.type]
    return _SAMPLES_BY_NAME.get(spec.name, "widget")


def render(text: str, entry: ScriptEntry) -> str:
    """`is port {port} open on {host}` → the same phrasing with sample values the router extracts."""
    def one(match: re.Match[str]) -> str:
        spec = entry.arg(match.group(1))
        return sample_value(spec) if spec is not None else match.group(0)
    return PLACEHOLDER_RE.sub(one, text)


def placeholders(text: str) -> list[str]:
    return PLACEHOLDER_RE.findall(text)


# -- loading (called by registry.load_registry) ---------------------------------------------------


def read_learned(path: Path, problem: Callable[..., Any]) -> tuple[dict[str, list[tuple[int, Any]]], list[Any]]:
    """{"examples": [(position, LearnedExample)], "negatives": [...]} and the problems; an absent file is
    fine (nothing learned yet). A bad entry is reported and left out, the others are kept."""
    rel = f"{path.parent.name}/{path.name}"
    kept: dict[str, list[tuple[int, Any]]] = {"examples": [], "negatives": []}
    if not path.is_file():
        return kept, []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return kept, [problem(rel, "(file)", "(yaml)", f"not valid YAML: {exc}".splitlines()[0])]
    if not isinstance(data, dict):
        return kept, [problem(rel, "(file)", "(top level)", "expected a mapping with `examples:`/`negatives:`")]
    problems: list[Any] = []
    for key, value in data.items():
        if key not in kept:
            problems.append(problem(rel, "(file)", str(key), "unknown top-level key (expected examples/negatives)"))
            continue
        if not isinstance(value, list):
            problems.append(problem(rel, "(file)", key, "expected a list"))
            continue
        model = LearnedExample if key == "examples" else LearnedNegative
        for i, item in enumerate(value):
            label = f"{key}[{i}] {item.get('script', '(no script)')}" if isinstance(item, dict) else f"{key}[{i}]"
            try:
                kept[key].append((i, model.model_validate(item)))
            except ValidationError as exc:
                for err in exc.errors():
                    loc = ".".join(str(p) for p in err["loc"]) or "(entry)"
                    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
                    problems.append(problem(rel, label, loc, msg))
    return kept, problems


def merge_learned(reg: Registry, registry_dir: Path, problem: type[Problem]) -> None:
    """Merge learned.yaml into `reg`: examples into their scripts (validated by the same model as
    hand-written ones), negatives into `reg.negatives`. Problems go to `reg.problems` (built with
    `problem`, registry's Problem); a bad entry is left out."""
    path = learned_path(registry_dir)
    kept, problems = read_learned(path, problem)
    reg.problems.extend(problems)
    rel = f"{path.parent.name}/{path.name}"
    extra: dict[str, list[str]] = {}
    seen: dict[tuple[str, str], int] = {}
    for i, example in kept["examples"]:
        where = f"examples[{i}] {example.script}"
        entry = reg.scripts.get(example.script)
        if entry is None:
            reg.problems.append(problem(rel, where, "script", f"unknown script {example.script!r}"))
            continue
        if entry.is_write:
            reg.problems.append(problem(rel, where, "script", "a write script: only `run NAME` may reach it, "
                                                              "never a learned phrasing"))
            continue
        unknown = [p for p in placeholders(example.text) if entry.arg(p) is None]
        if unknown:
            reg.problems.append(problem(rel, where, "text", f"placeholder {{{unknown[0]}}} is not an argument of "
                                                            f"{entry.name}"))
            continue
        key = (example.script, example.text.strip().lower())
        if key in seen:
            reg.problems.append(problem(rel, where, "text", f"duplicate of examples[{seen[key]}]"))
            continue
        seen[key] = i
        rendered = render(example.text, entry)
        try:   # the same model as hand-written entries: every rule on examples applies here too
            type(entry).model_validate({**entry.model_dump(), "examples": [*entry.examples, rendered]})
        except ValidationError as exc:
            for err in exc.errors():
                reg.problems.append(problem(rel, where, "text", err["msg"].removeprefix("Value error, ")))
            continue
        extra.setdefault(example.script, []).append(rendered)
    for name, rendered_list in extra.items():
        entry = reg.scripts[name]
        reg.scripts[name] = type(entry).model_validate({**entry.model_dump(),
                                                        "examples": [*entry.examples, *rendered_list]})
    reg.learned_examples = extra
    for i, negative in kept["negatives"]:
        if negative.script not in reg.scripts:
            reg.problems.append(problem(rel, f"negatives[{i}] {negative.script}", "script",
                                        f"unknown script {negative.script!r}"))
            continue
        reg.negatives.setdefault(negative.script, []).append(negative.text)


# -- writing ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer at a time (threads, processes) for read-modify-write of learned.yaml."""
    lock = path.with_name("." + path.name + ".lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _dump(learned: LearnedFile) -> str:
    data: dict[str, Any] = {}
    if learned.examples:
        data["examples"] = [e.model_dump(exclude_none=True) for e in learned.examples]
    if learned.negatives:
        data["negatives"] = [n.model_dump(exclude_none=True) for n in learned.negatives]
    return HEADER + (yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120) if data else "{}\n")


def _write_atomically(path: Path, text: str) -> None:
    # Suffix .tmp, never .yaml: the registry loads every *.yaml it finds, a leftover included.
    fd, tmp = tempfile.mkstemp(prefix=".learned-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class LearnedWriteError(Exception):
    """learned.yaml could not be read back cleanly or written: the message says why (one line)."""


def update_learned(registry_dir: Path, *, examples: list[LearnedExample] = (),
                   negatives: list[LearnedNegative] = ()) -> tuple[int, int]:
    """Append examples/negatives (skipping ones already there); returns how many were added."""
    path = learned_path(registry_dir)
    try:
        with _locked(path):
            kept, problems = read_learned(path, lambda *parts: ": ".join(parts))
            if problems:
                raise LearnedWriteError(f"{path} has problems, fix it first: {problems[0]}")
            current = LearnedFile(examples=[e for _, e in kept["examples"]],
                                  negatives=[n for _, n in kept["negatives"]])
            have_ex = {(e.script, e.text.strip().lower()) for e in current.examples}
            have_neg = {(n.script, n.text.strip().lower()) for n in current.negatives}
            new_ex = [e for e in examples if (e.script, e.text.strip().lower()) not in have_ex]
            new_neg = [n for n in negatives if (n.script, n.text.strip().lower()) not in have_neg]
            if new_ex or new_neg:
                _write_atomically(path, _dump(LearnedFile(examples=[*current.examples, *new_ex],
                                                          negatives=[*current.negatives, *new_neg])))
            return len(new_ex), len(new_neg)
    except OSError as exc:
        raise LearnedWriteError(f"cannot write {path}: {exc.strerror or exc}") from None


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()
