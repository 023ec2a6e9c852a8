"""The deterministic pre-router: 0 tokens, no network. Precision before recall.

Order: explicit form (`run github.open-prs --repo x`) → hand-off guards (how/why/write intents)
→ registry patterns → lexical similarity over each script's name, summary and examples.
A wrong script is far worse than an LLM call, so similarity must be both high and clearly ahead
of the runner-up. `write` scripts are only ever reached by the explicit form, and always need
confirmation.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bot.entries import ScriptEntry
from bot.problems import ArgError
from bot.registry import Registry, split_command
from bot.registry_checks import nested_quantifier
from bot.tiny_messages import is_acknowledgement, too_short
from bot.words import STOPWORDS, stem, tokens

Tier = Literal["script", "orchestrator"]

MIN_SIMILARITY = 0.5
MIN_MARGIN = 0.12
MAX_PATTERN_TEXT = 300     # registry patterns never see longer text: bounds any regex's backtracking
NEGATIVE_SIMILARITY = 0.85      # a message this close to a 👎 phrasing of script S never runs S

EXPLICIT_RE = re.compile(r"^\s*(?:/run|!run|run|/bot run)\s+(?P<name>[a-z0-9]+\.[a-z0-9-]+)(?P<rest>(?:\s.*)?)$",
                         re.IGNORECASE | re.DOTALL)
# Questions about how/why and analysis go to the orchestrator wherever they appear…
HANDOFF_RE = re.compile(
    r"""(?ix)
    \bwhy\b | \bhow\s+(?:do|does|did|can|could|should|would|to|come|is\s+it\s+that)\b | \bexplain\b
    | \bwhat\s+if\b | \bshould\s+(?:i|we)\b | \bscript\s+(?:that|to|which)\b
    | \bin\s+(?:python|bash|javascript|typescript|go|sql|rust)\b | \bwith\s+the\s+\w+\s+cli\b
    | \b(?:analy[sz]e|summari[sz]e|compare|predict|forecast|recommend|suggest|translate|refactor|debug)\b
    """
)
# …and requests to write or change things when they are phrased as an instruction.
IMPERATIVE_RE = re.compile(
    r"""(?ix)
    ^(?:(?:hey|ok|okay|please|pls|bot|opsbot)[\s,]+)*(?:(?:can|could|would|will)\s+you\s+|i\s+(?:want|need)\s+(?:you\s+)?to\s+
      |let'?s\s+|go\s+(?:and\s+)?)?
    (?:write|draft|create|make|build|generate|implement|fix|review\s+(?:this|that|my|the|these|pr|code)|delete
      |remove|cancel|refund|send|post|text(?!\s+messages?\b)|sms(?!\s+messages?\b)|message\s+(?:the|him|her|them|@)|ack(?:nowledge)?|resolve|close|merge|approve|redeploy|deploy|roll\s*back
      |rollback|restart|rerun|re-run|trigger|open\s+an?|file|raise|assign|update|change|set|add|invite|kick|ban
      |page|notify|email|schedule|book|pay|charge|issue|void|upgrade|downgrade|disable|enable|rotate|revoke
      |move|transition|reopen|comment\s+on|mark|snooze|mute|silence|escalate|tag|label|archive|invite|kill
      |stop|start|pause|resume|scale|migrate|seed|drop|truncate|insert|purge)\b
    """
)
MENTION_RE = re.compile(r"<@[A-Z0-9]+>|<#[A-Z0-9]+(?:\|[^>]*)?>")
SLACK_LINK_RE = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|[^>]*)?>")

TIME_WORDS = set("""today yesterday tonight week weeks month months year years day days hour hours past last this
lately recently now ago since morning afternoon evening weekend""".split())

# Entities pulled out of the text to fill args. Those marked `replace` leave a placeholder token
# behind, so similarity compares the shape of the request, not the particular repo or host.
@dataclass(frozen=True)
class EntityRule:
    kind: str
    pattern: re.Pattern[str]
    args: tuple[str, ...]
    replace: bool = True
    value: dict[str, str] = field(default_factory=dict)   # normalise captured values


def _rule(kind: str, regex: str, args: tuple[str, ...], replace: bool = True, flags: int = re.IGNORECASE,
          value: dict[str, str] | None = None) -> EntityRule:
    return EntityRule(kind, re.compile(regex, flags), args, replace, value or {})


ENTITY_RULES: list[EntityRule] = [
    _rule("url", r"\bhttps?://[^\s<>'\"]+[^\s<>'\".,?!)]", ("url",)),
    _rule("email", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", ("email",)),
    _rule("repo", r"(?<![\w/.:-])([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?![\w/])", ("repo",)),
    _rule("host", r"\b(?=[a-z0-9-]*[a-z])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})\b",
          ("host", "name", "domain")),
    _rule("issue_key", r"\b([A-Z][A-Z0-9]{1,9}-[0-9A-Z]+)\b", ("key", "issue", "id"), flags=0),
    _rule("number", r"(?:#|\b(?:pr|pull request|number|incident|issue|meeting)\s+#?)(\d+)\b",
          ("number", "incident", "id", "meeting")),
    _rule("meeting_id", r"\b(\d{3} \d{4} \d{3,4}|\d{9,11})\b", ("meeting",)),
    _rule("port", r"\bport\s+(\d{1,5})\b", ("port",)),
    _rule("days", r"\b(?:last|past|previous)\s+(\d{1,3})\s+days?\b", ("days",)),
    _rule("limit", r"\b(?:top|last|first|latest|newest|recent)\s+(\d{1,3})\b(?!\s+days?)", ("limit",)),
    _rule("limit", r"\b(\d{1,3})\s+(?:most\s+recent|newest|latest|last|recent|biggest|largest|top)\b",
          ("limit",)),
    _rule("channel", r"(?<![\w&])#([a-z0-9][a-z0-9_-]{0,79})\b", ("channel",)),
    _rule("label", r"\b(?:label(?:l?ed)?|tagged)\s+[\"']?([\w:.-]+)", ("label",)),
    _rule("branch", r"\b(?:on|in|for|of)\s+(?:the\s+)?(main|master|develop|trunk)\b(?:\s+branch)?",
          ("branch",), replace=False),
    _rule("branch", r"\bbranch\s+([\w./-]+)", ("branch",), replace=False),
    _rule("target", r"\b(prod|production|staging|preview)\b", ("target", "environment"), replace=False,
          value={"prod": "production"}),
]
VALUE_AFTER_PREPOSITION_RE = re.compile(r"\b(from|by|of|for|in|on)\s+(?:the\s+|our\s+|my\s+)?@?([\w-]+)")
PERIOD_DAYS = {"today": 1, "yesterday": 2, "this week": 7, "past week": 7, "last week": 7,
               "this month": 30, "last month": 30, "past month": 30}
# A word after one of these that no script knows is probably a value (`deploys of web`, `PRs from bob`).
VALUE_PREPOSITIONS = {"from": ("author", "user"), "by": ("author", "user"),
                      "of": ("project", "site", "table", "board", "service", "channel"),
                      "for": ("project", "site", "table", "board", "service", "channel", "author"),
                      "in": ("project", "site", "table", "board", "channel"),
                      "on": ("project", "site", "board", "channel")}


@dataclass
class RouteDecision:
    tier: Tier
    reason: str
    script: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0
    candidates: list[tuple[str, float]] = field(default_factory=list)
    needs_confirmation: bool = False
    explicit: bool = False
    error: str | None = None        # explicit form that cannot run: answer this at 0 tokens
    usage: str | None = None
    missing: list[str] = field(default_factory=list)
    acknowledgement: bool = False   # "ok", "thanks", 👍: nothing to run, nothing to ask the LLM

    def to_json(self, text: str) -> dict[str, Any]:
        data = asdict(self)
        data["candidates"] = [{"script": n, "score": round(s, 3)} for n, s in self.candidates]
        data["score"] = round(self.score, 3)
        return {"text": text, **data}


def normalise(text: str) -> str:
    text = SLACK_LINK_RE.sub(r"\1", text)
    text = MENTION_RE.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()


def extract_entities(text: str) -> tuple[str, dict[str, tuple[str, tuple[str, ...]]]]:
    """Pull args-like values out of the text; return the text with placeholders and the values
    (kind → (value, args it may fill))."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for rule in ENTITY_RULES:
        def keep(match: re.Match[str], rule: EntityRule = rule) -> str:
            raw = match.group(match.lastindex or 0)
            value = rule.value.get(raw.lower(), raw)
            if rule.kind == "meeting_id":
                value = value.replace(" ", "")
            found.setdefault(rule.kind, (value, rule.args))
            return f" {rule.kind}ent " if rule.replace else match.group(0)
        text = rule.pattern.sub(keep, text)
    lowered = text.lower()
    for phrase, days in PERIOD_DAYS.items():
        if phrase in lowered:
            found.setdefault("days", (str(days), ("days",)))
            break
    return text, found


class PreRouter:
    def __init__(self, registry: Registry, min_similarity: float = MIN_SIMILARITY,
                 min_margin: float = MIN_MARGIN):
        self.registry = registry
        self.min_similarity = min_similarity
        self.min_margin = min_margin
        self._patterns = [
            (entry, re.compile(p, re.IGNORECASE))
            for entry in registry.scripts.values() if not entry.is_write
            for p in entry.patterns if not nested_quantifier(p)     # `bot registry check` reports those
        ]
        self._negatives = {name: [shape(t) for t in texts] for name, texts in registry.negatives.items()}
        self._build_index()

    # -- index -------------------------------------------------------------------------------

    def _build_index(self) -> None:
        """Per read script: its phrases (summary, name, examples) and its whole vocabulary
        (phrases + description + arg names). IDF is computed over scripts, so words every
        script shares weigh little and a service name or a distinctive noun weighs a lot."""
        self._phrases: dict[str, list[frozenset[str]]] = {}
        self._vocab: dict[str, frozenset[str]] = {}
        self._own_words: dict[str, frozenset[str]] = {}   # vocabulary minus example-only words
        self._domain_words: frozenset[str] = frozenset()
        for entry in self.registry.scripts.values():
            if entry.is_write:
                continue
            phrases = [entry.summary, " ".join(re.split(r"[.-]", entry.name)), *entry.examples]
            phrase_tokens = [frozenset(tokens(extract_entities(p)[0])) for p in phrases]
            self._phrases[entry.name] = [t for t in phrase_tokens if t]
            extra = tokens(extract_entities(entry.description)[0]) + [stem(a.name) for a in entry.args]
            self._vocab[entry.name] = frozenset().union(*phrase_tokens, extra)
            self._own_words[entry.name] = frozenset().union(*phrase_tokens[:2], extra)
        # Example phrasings name sample values ("deploys of web"); a word is part of the language
        # rather than a sample value when several scripts' examples use it.
        example_df: dict[str, int] = defaultdict(int)
        for phrase_list in self._phrases.values():
            for tok in frozenset().union(*phrase_list):
                example_df[tok] += 1
        described = frozenset().union(*self._own_words.values())
        sample_values = {
            stem(word)
            for entry in self.registry.scripts.values() for example in entry.examples
            for _, word in VALUE_AFTER_PREPOSITION_RE.findall(extract_entities(example)[0].lower())
        } - described
        common = frozenset(t for t, n in example_df.items() if n >= 3) - sample_values
        self._domain_words = common | described
        df: dict[str, int] = defaultdict(int)
        for vocab in self._vocab.values():
            for tok in vocab:
                df[tok] += 1
        n = max(len(self._vocab), 1)
        self._idf = {tok: math.log(1 + n / count) for tok, count in df.items()}
        self._unknown_idf = math.log(1 + n)
        self._postings: dict[str, list[str]] = defaultdict(list)
        for name, vocab in self._vocab.items():
            for tok in vocab:
                self._postings[tok].append(name)

    def known(self, tok: str) -> bool:
        return tok in self._idf

    def _weight(self, toks: frozenset[str] | set[str]) -> float:
        return sum(self._idf.get(t, self._unknown_idf) for t in toks)

    def similarities(self, query: set[str]) -> list[tuple[str, float]]:
        """Score = mean of (a) how much of the query the script's vocabulary explains and
        (b) the Dice similarity with its closest phrase; both IDF-weighted."""
        if not query:
            return []
        q_weight = self._weight(query)
        names = {name for tok in query for name in self._postings.get(tok, ())}
        scored = []
        for name in names:
            coverage = self._weight(query & self._vocab[name]) / q_weight
            best = 0.0
            for phrase in self._phrases[name]:
                shared = self._weight(query & phrase)
                if shared:
                    best = max(best, 2 * shared / (q_weight + self._weight(phrase)))
            scored.append((name, (coverage + best) / 2))
        return sorted(scored, key=lambda kv: kv[1], reverse=True)

    def closest(self, name: str, n: int = 3) -> list[str]:
        """Scripts nearest a mistyped or invented name: close spellings first (`demo.restrt` →
        `demo.restart`), then scripts whose words are nearest."""
        spelled = difflib.get_close_matches(name, list(self.registry.scripts), n=n, cutoff=0.8)
        worded = [found for found, _ in self.similarities(set(tokens(name.replace(".", " "))))]
        return list(dict.fromkeys(spelled + worded))[:n]

    def explicit(self, command: str) -> RouteDecision:
        """`name --arg value …` as typed after `/run` (or `run`): the script, or why it cannot run."""
        name, _, rest = command.strip().partition(" ")
        return self._explicit(name.lower(), rest)

    # -- routing -----------------------------------------------------------------------------

    def route(self, text: str) -> RouteDecision:
        decision = self._route(text)
        if decision.tier == "script" and decision.script and not decision.explicit \
                and self.negative(decision.script, text):
            return RouteDecision("orchestrator", f"matches a phrasing a person gave 👎 for {decision.script}",
                                 score=decision.score, candidates=decision.candidates)
        return decision

    def negative(self, script: str, text: str) -> bool:
        """Whether `text` is (nearly) a phrasing recorded as a negative for `script` (learned.yaml)."""
        negatives = self._negatives.get(script)
        if not negatives:
            return False
        q = shape(text)
        return any(q == n or (q and n and 2 * len(q & n) / (len(q) + len(n)) >= NEGATIVE_SIMILARITY)
                   for n in negatives)

    def _route(self, text: str) -> RouteDecision:
        clean = normalise(text or "")
        if not clean:
            return RouteDecision("orchestrator", "empty message")
        explicit = EXPLICIT_RE.match(clean)
        if explicit:
            return self._explicit(explicit.group("name").lower(), explicit.group("rest"))
        if is_acknowledgement(clean):
            return RouteDecision("orchestrator", "an acknowledgement: nothing to run", acknowledgement=True)
        if HANDOFF_RE.search(clean) or IMPERATIVE_RE.search(clean):
            return RouteDecision("orchestrator", "asks how/why, or to write/change something: needs reasoning")
        tiny = too_short(clean)
        bare = clean.rstrip(" ?!.")
        for entry, pattern in self._patterns if len(clean) <= MAX_PATTERN_TEXT else ():
            match = pattern.fullmatch(bare) if tiny else pattern.search(bare)
            if match:
                raw = {k.replace("_", "-"): v for k, v in match.groupdict().items() if v is not None}
                return self._confident(entry, raw, 1.0, f"pattern {pattern.pattern!r}",
                                       [(entry.name, 1.0)])
        if tiny:
            return RouteDecision("orchestrator", "fewer than two content words: too little to pick a script")
        placeholder_text, entities = extract_entities(clean)
        query = set(tokens(placeholder_text))
        ranked = self.similarities(query)
        candidates = [(name, round(score, 3)) for name, score in ranked[:3]]
        if not ranked:
            return RouteDecision("orchestrator", "no script matches", candidates=candidates)
        top_name, top = ranked[0]
        ranked = [ranked[0]] + [(n, sc) for n, sc in ranked[1:] if self._could_run(n, entities)]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if top < self.min_similarity:
            return RouteDecision("orchestrator", f"best match {top_name} only {top:.2f} similar",
                                 score=top, candidates=candidates)
        if top - runner_up < self.min_margin:
            return RouteDecision("orchestrator", f"ambiguous: {top_name} {top:.2f} vs {ranked[1][0]} "
                                 f"{runner_up:.2f}", score=top, candidates=candidates)
        entry = self.registry.scripts[top_name]
        raw = _args_from_entities(entry, entities)
        leftover = self._unplaced_values(placeholder_text, entry, raw)
        if leftover is None:
            return RouteDecision("orchestrator", f"{top_name} matched, but the request names something it "
                                 "cannot take as an argument", score=top, candidates=candidates)
        raw.update(leftover)
        return self._confident(entry, raw, top, f"similar to {top_name} ({top:.2f}, next {runner_up:.2f})",
                               candidates)

    def _could_run(self, name: str, entities: dict[str, tuple[str, tuple[str, ...]]]) -> bool:
        """A rival only makes a match ambiguous if the request could fill its required args."""
        entry = self.registry.scripts[name]
        filled = _args_from_entities(entry, entities)
        return all(a.name in filled for a in entry.args if a.required)

    def _unplaced_values(self, text: str, entry: ScriptEntry, raw: dict[str, Any]) -> dict[str, str] | None:
        """Words no script knows that follow a preposition are values ("deploys of web"): give each to
        a free string arg of the script, or return None when one has nowhere to go."""
        placed: dict[str, str] = {}
        for prep, word in VALUE_AFTER_PREPOSITION_RE.findall(text.lower()):
            if word in STOPWORDS or word in TIME_WORDS or stem(word) in self._domain_words \
                    or word.endswith("ent") and word[:-3] in KINDS:
                continue
            target = next((a for a in VALUE_PREPOSITIONS[prep]
                           if (spec := entry.arg(a)) is not None and spec.type == "string"
                           and spec.name not in raw and spec.name not in placed), None)
            if target is None:
                return None
            placed[target] = word
        return placed

    def _confident(self, entry: ScriptEntry, raw: dict[str, Any], score: float, reason: str,
                   candidates: list[tuple[str, float]]) -> RouteDecision:
        missing = [a.name for a in entry.args if a.required and a.name not in raw]
        if missing:
            return RouteDecision("orchestrator", f"{entry.name} matched but needs {', '.join(missing)}",
                                 script=entry.name, score=score, candidates=candidates, missing=missing,
                                 usage=entry.usage())
        try:
            args = entry.validate_args(raw)
        except ArgError as exc:
            return RouteDecision("orchestrator", f"{entry.name} matched but {exc}", script=entry.name,
                                 score=score, candidates=candidates, usage=entry.usage())
        return RouteDecision("script", reason, script=entry.name, args=args, score=score,
                             candidates=candidates, needs_confirmation=entry.is_write)

    def _explicit(self, name: str, rest: str) -> RouteDecision:
        entry = self.registry.script(name)
        if entry is None:
            close = self.closest(name)
            hint = f" Did you mean {', '.join(f'`{n}`' for n in close)}?" if close else ""
            return RouteDecision("script", "explicit run of an unknown script", explicit=True,
                                 error=f"There is no script `{name}`.{hint} `/ops scripts` lists what you can run.")
        try:
            args = entry.validate_args(entry.parse_argv(split_command(rest)))
        except ArgError as exc:
            return RouteDecision("script", "explicit run with bad arguments", script=name, explicit=True,
                                 error=f"`{name}`: {exc}", usage=exc.usage or entry.help_text())
        return RouteDecision("script", "explicit run", script=name, args=args, score=1.0, explicit=True,
                             needs_confirmation=entry.is_write, candidates=[(name, 1.0)])


def _args_from_entities(entry: ScriptEntry, entities: dict[str, tuple[str, tuple[str, ...]]]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for value, arg_names in entities.values():
        for arg_name in arg_names:
            spec = entry.arg(arg_name)
            if spec is not None and spec.name not in raw:
                raw[spec.name] = value
                break
    return raw


def shape(text: str) -> frozenset[str]:
    """A phrasing as the router compares it: content tokens, values replaced by placeholders."""
    return frozenset(tokens(extract_entities(normalise(text or ""))[0]))


KINDS = {rule.kind for rule in ENTITY_RULES}
