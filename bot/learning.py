"""`bot learn`: requests the orchestrator answered by running one read script become reviewed phrasings.

A candidate is a request whose first decision was the orchestrator's, that ran exactly one script,
successfully, with no 👎 and no correction later in its thread. Its redacted text, with the argument
values the pre-router extracts turned into the script's placeholders, is suggested as an example of
that script — unless one of the refusal rules says why not (each refusal carries its reason):

- a write script (only `run NAME` may ever reach one);
- a phrasing a person gave 👎 for that script (a negative in learned.yaml);
- a follow-up in a thread (it leans on earlier messages);
- arguments the pre-router cannot extract from the text (or would extract differently);
- even with the example, the pre-router would not pick the script at 0 tokens;
- it would change the decision of an item of the labelled corpus (bench/corpus/) other than to make it
  right, or of another script's example (a collision).

Suggestions are checked cumulatively (most supported first), so the set applied together is safe too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.config import PROJECT_ROOT
from bot.entries import ScriptEntry
from bot.history import Past, load_history
from bot.learned import LearnedExample, render, today, update_learned
from bot.ledger import Ledger
from bot.problems import ArgError
from bot.redact import REDACTED
from bot.registry import Registry
from bot.router import ENTITY_RULES, PreRouter, RouteDecision, extract_entities, normalise, shape


@dataclass
class Suggestion:
    script: str
    example: str
    requests: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def support(self) -> int:
        return len(self.requests)

    @property
    def key(self) -> str:
        return f"{self.script}|{self.example}"

    def to_json(self) -> dict[str, Any]:
        return {"script": self.script, "example": self.example, "requests": self.requests, "support": self.support}


@dataclass
class LearnResult:
    suggestions: list[Suggestion]
    refused: list[dict[str, str]]
    candidates: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"suggestions": [s.to_json() for s in self.suggestions], "refused": self.refused}


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# -- the labelled corpus --------------------------------------------------------------------------


def corpus_dir(registry_dir: Path) -> Path | None:
    for folder in (Path(registry_dir).parent / "bench" / "corpus", PROJECT_ROOT / "bench" / "corpus"):
        if folder.is_dir():
            return folder
    return None


def load_corpus(folder: Path | None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for path in sorted(folder.rglob("*.yaml")) if folder else []:
        for item in yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or []:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                items.append({**item, "file": path.name})
    return items


def outcome(decision: RouteDecision) -> tuple[str | None, str]:
    """(script or None for a hand-off, its args as JSON) — what counts as 'the decision'."""
    if decision.tier == "script" and not decision.error:
        return decision.script, json.dumps(decision.args, sort_keys=True, default=str)
    return None, ""


def is_right(item: dict[str, Any], decision: RouteDecision) -> bool:
    script, _ = outcome(decision)
    expected = item.get("script")
    if script is None or expected is None:
        return script == expected
    return script == expected and all(str(decision.args.get(k.replace("_", "-"))) == str(v)
                                      for k, v in (item.get("args") or {}).items())


# -- arguments and placeholders -------------------------------------------------------------------


def _entity_spans(clean: str) -> dict[str, tuple[str, tuple[int, int]]]:
    """extract_entities with where each value sits in the text (kind → (value, span of the value))."""
    consumed: list[tuple[int, int]] = []
    found: dict[str, tuple[str, tuple[int, int]]] = {}
    for rule in ENTITY_RULES:
        for match in rule.pattern.finditer(clean):
            if any(match.start() < end and start < match.end() for start, end in consumed):
                continue
            group = match.lastindex or 0
            raw = match.group(group)
            value = rule.value.get(raw.lower(), raw)
            if rule.kind == "meeting_id":
                value = value.replace(" ", "")
            found.setdefault(rule.kind, (value, match.span(group)))
            if rule.replace:
                consumed.append(match.span())
    return found


def extract_for(router: PreRouter, entry: ScriptEntry, text: str) -> tuple[dict[str, Any] | None, str, str]:
    """(validated args the pre-router would pass to `entry` for `text`, the text with values turned into
    placeholders, why not when it cannot)."""
    clean = normalise(text)
    placeholder_text, entities = extract_entities(clean)
    spans = _entity_spans(clean)
    if any(entities[kind][0] != value for kind, (value, _) in spans.items() if kind in entities):
        return None, "", "its values could not be located in the text"
    raw: dict[str, Any] = {}
    where: dict[str, tuple[int, int]] = {}
    for kind, (value, arg_names) in entities.items():     # as _args_from_entities fills them
        spec = next((s for a in arg_names if (s := entry.arg(a)) is not None and s.name not in raw), None)
        if spec is not None:
            raw[spec.name] = value
            if kind in spans:         # "this week" (days) stays words: the phrase is the value
                where[spec.name] = spans[kind][1]
    leftover = router._unplaced_values(placeholder_text, entry, raw)
    if leftover is None:
        return None, "", f"it names something {entry.name} cannot take as an argument"
    for arg, word in leftover.items():
        match = re.search(rf"\b(?:from|by|of|for|in|on)\s+(?:the\s+|our\s+|my\s+)?@?({re.escape(word)})\b", clean,
                          re.IGNORECASE)
        if match is None:
            return None, "", f"its value {word!r} could not be located in the text"
        where[arg] = match.span(1)
    raw.update(leftover)
    try:
        args = entry.validate_args(raw)
    except ArgError as exc:
        return None, "", str(exc)
    templated = clean
    for arg, (start, end) in sorted(where.items(), key=lambda kv: kv[1][0], reverse=True):
        templated = templated[:start] + "{" + arg + "}" + templated[end:]
    return args, templated, ""


def _same_args(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def _args_text(args: dict[str, Any]) -> str:
    return " ".join(f"--{k} {v}" for k, v in args.items()) or "no arguments"


# -- trial registries -----------------------------------------------------------------------------


def with_examples(registry: Registry, extra: dict[str, list[str]]) -> Registry:
    """A copy of `registry` with more (rendered) examples, each entry validated by the registry's model."""
    scripts = dict(registry.scripts)
    for name, examples in extra.items():
        entry = scripts[name]
        scripts[name] = ScriptEntry.model_validate({**entry.model_dump(), "examples": [*entry.examples, *examples]})
    return dataclasses.replace(registry, scripts=scripts, problems=[])


class Guard:
    """The decisions that must not change: labelled corpus items (unless to the right answer) and every
    script's own examples. Only texts sharing a word with a new example can change (the router's scores
    of a text depend on the words in it), so only those are routed again."""

    def __init__(self, router: PreRouter, corpus: list[dict[str, Any]]):
        known = router.registry.scripts          # an item about a script this registry lacks cannot be judged
        self.corpus = [(item, shape(item["text"]), outcome(router.route(item["text"]))) for item in corpus
                       if item.get("script") is None or item["script"] in known]
        self.examples = [(name, example, shape(example), outcome(router.route(example)))
                         for name, entry in router.registry.scripts.items() if not entry.is_write
                         for example in entry.examples]

    def collision(self, script: str, example: str) -> str | None:
        mine = shape(example)
        for name, other, other_shape, _ in self.examples:
            if name != script and other_shape == mine:
                return f"collides with an example of {name}: {other!r}"
        return None

    def problem(self, trial: PreRouter, script: str, words: frozenset[str]) -> str | None:
        """Why the trial router (with the new examples, whose words are `words`) is not safe, or None."""
        for item, item_shape, before in self.corpus:
            if not item_shape & words:
                continue
            decision = trial.route(item["text"])
            if outcome(decision) != before and not is_right(item, decision):
                now = outcome(decision)[0] or "orchestrator"
                return (f"would change the decision of corpus item {item['text']!r} ({item['file']}): "
                        f"{before[0] or 'orchestrator'} → {now}")
        for name, other, other_shape, before in self.examples:
            if name != script and other_shape & words and (now := outcome(trial.route(other))) != before:
                return f"collides with an example of {name}: {other!r} would go to {now[0] or 'orchestrator'}"
        return None


# -- learn ----------------------------------------------------------------------------------------


def candidates(history: Iterable[Past]) -> list[Past]:
    """Requests the orchestrator answered by running exactly one script, successfully, unrebuked."""
    return [p for p in history if p.decided_by == "orchestrator" and p.tier == "script" and p.answered_by
            and p.answered_by == (p.script or p.answered_by) and p.feedback != "down" and not p.corrected
            and (p.text or "").strip()]


def learn(ledger: Ledger, registry: Registry, since: dt.datetime, *, corpus: list[dict[str, Any]] | None = None,
          skipped: set[str] = frozenset(), guard: bool = True) -> LearnResult:
    router = PreRouter(registry)
    refused: list[dict[str, str]] = []
    groups: dict[tuple[str, str], Suggestion] = {}
    found = candidates(load_history(ledger, since))
    for past in found:
        why, example = _check_one(router, registry, past)
        if why == "":
            continue                      # already answered at 0 tokens: nothing to learn
        if why:
            refused.append({"text": past.text, "why": why})
            continue
        example = example.strip().rstrip(" ?!.")
        suggestion = groups.setdefault((past.answered_by, example.lower()), Suggestion(past.answered_by, example))
        suggestion.requests.append(past.id)
        suggestion.texts.append(past.text)
    ordered = sorted(groups.values(), key=lambda s: -s.support)
    accepted: list[Suggestion] = []
    checker = Guard(router, corpus if corpus is not None else []) if guard else None
    for suggestion in ordered:
        if suggestion.key in skipped:
            refused.append({"text": suggestion.texts[0], "why": "skipped by an admin in /ops learn"})
            continue
        why = _check_with(registry, accepted + [suggestion], suggestion, checker)
        if why:
            refused.extend({"text": text, "why": why} for text in dict.fromkeys(suggestion.texts))
        else:
            accepted.append(suggestion)
    return LearnResult(accepted, refused, candidates=len(found))


def _check_one(router: PreRouter, registry: Registry, past: Past) -> tuple[str | None, str]:
    """(None, example) when it may be learned, ('', '') when there is nothing to learn, else (why, '')."""
    name = past.answered_by
    entry = registry.script(name)
    if entry is None:
        return f"{name} is no longer in the registry", ""
    if entry.is_write:
        return f"{name} is a write script: only `run {name}` may reach it, never a learned phrasing", ""
    if REDACTED in past.text:
        return "the text held a secret (redacted)", ""
    if router.negative(name, past.text):
        return f"a person gave 👎 to {name} for this phrasing", ""
    if past.follow_up:
        return "a follow-up in a thread: it leans on earlier messages", ""
    try:       # as the runner saw them: typed, defaults filled in (a ledger may hold them either way)
        ran = entry.validate_args(past.runs[0].args)
    except ArgError as exc:
        return f"the arguments it ran with are not valid for {name} any more: {exc}", ""
    now = router.route(past.text)
    if outcome(now)[0] == name and _same_args(now.args, ran):
        return "", ""
    args, example, why = extract_for(router, entry, past.text)
    if args is None:
        return f"the pre-router cannot extract its arguments: {why} (the orchestrator ran {_args_text(ran)})", ""
    if not _same_args(args, ran):
        wrong = {k: v for k, v in ran.items() if args.get(k) != v}
        extra = {k: v for k, v in args.items() if k not in ran}
        detail = (f"the orchestrator ran {_args_text(wrong)}, the pre-router would pass "
                  f"{_args_text({k: args.get(k) for k in wrong} | extra)}")
        return f"the pre-router cannot extract its arguments: {detail}", ""
    return None, example


def _check_with(registry: Registry, chosen: list[Suggestion], suggestion: Suggestion, checker: Guard | None) -> str:
    example = render(suggestion.example, registry.scripts[suggestion.script])
    if checker is not None and (why := checker.collision(suggestion.script, example)):
        return why
    extra: dict[str, list[str]] = {}
    for s in chosen:
        extra.setdefault(s.script, []).append(render(s.example, registry.scripts[s.script]))
    try:
        trial = PreRouter(with_examples(registry, extra))
    except ValidationError as exc:
        return f"not a valid example: {exc.errors()[0]['msg']}"
    for text in dict.fromkeys(suggestion.texts):
        decision = trial.route(text)
        if outcome(decision)[0] != suggestion.script:
            return f"even with this example the pre-router would not pick {suggestion.script}: {decision.reason}"
    if checker is not None:
        words = frozenset().union(*(shape(e) for examples in extra.values() for e in examples))
        return checker.problem(trial, suggestion.script, words) or ""
    return ""


def apply(registry_dir: Path, suggestions: Iterable[Suggestion]) -> int:
    """Write suggestions to learned.yaml (never the hand-written files); returns how many were new."""
    added, _ = update_learned(registry_dir, examples=[
        LearnedExample(script=s.script, text=s.example, support=s.support, requests=s.requests, added=today())
        for s in suggestions])
    return added
