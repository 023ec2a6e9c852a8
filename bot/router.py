"""The deterministic pre-router: 0 tokens, no network. Precision before recall.

Order: explicit form (`run github.open-prs --repo x`) → hand-off guards (how/why/write intents)
→ registry patterns → lexical similarity over each script's name, summary and examples.
A wrong script is far worse than an LLM call, so similarity must be both high and clearly ahead
of the runner-up. `write` scripts are only ever reached by the explicit form, and always need
confirmation.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from bot.registry import ArgError, Registry, ScriptEntry, split_command

Tier = Literal["script", "orchestrator"]

MIN_SIMILARITY = 0.5
MIN_MARGIN = 0.12

EXPLICIT_RE = re.compile(r"^\s*(?:/run|!run|run|/bot run)\s+(?P<name>[a-z0-9]+\.[a-z0-9-]+)(?P<rest>(?:\s.*)?)$",
                         re.IGNORECASE | re.DOTALL)
# Questions about how/why, requests to write or change things, and analysis go to the orchestrator.
HANDOFF_RE = re.compile(
    r"""(?ix)
    \bwhy\b | \bhow\s+(?:do|does|did|can|could|should|would|to|come|is\s+it\s+that)\b | \bexplain\b
    | \bwhat\s+if\b | \bshould\s+(?:i|we)\b | \b(?:write|draft|create|make|build|generate|implement|refactor
    |fix|debug|review|compare|analy[sz]e|summari[sz]e|predict|forecast|recommend|suggest|translate
    |delete|remove|cancel|refund|send|post|ack(?:nowledge)?|redeploy|deploy|rollback|restart|open\s+an?)\b
    | \bscript\s+(?:that|to|which)\b | \bcode\b | \bin\s+(?:python|bash|javascript|typescript|go|sql)\b
    | \b(?:cli|api|sdk|endpoint)\s+(?:call|command)s?\b | \bwith\s+the\s+\w+\s+cli\b
    """
)
MENTION_RE = re.compile(r"<@[A-Z0-9]+>|<#[A-Z0-9]+(?:\|[^>]*)?>")
SLACK_LINK_RE = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|[^>]*)?>")

STOPWORDS = set("""a an the is are was were be been am do does did of for to in on at by with from and or
me my our we us you your i it its this that these those what whats which who whom please pls can could
would will show list give get tell let see check any some all there here just now currently right
about up into over how much many of 's""".split())

SYNONYMS = {
    "prs": "pr", "pull": "pr", "requests": "request", "pullrequest": "pr", "mrs": "pr",
    "revenue": "mrr", "recurring": "mrr", "arr": "mrr",
    "deploys": "deploy", "deployments": "deploy", "deployment": "deploy", "deployed": "deploy",
    "builds": "deploy", "build": "deploy",
    "incidents": "incident", "alerts": "incident", "pages": "incident", "paged": "incident",
    "oncall": "oncall", "on-call": "oncall", "call": "call",
    "issues": "issue", "tickets": "ticket", "bugs": "issue",
    "commits": "commit", "committed": "commit", "pushed": "commit",
    "releases": "release", "released": "release", "tags": "release",
    "channels": "channel", "messages": "message", "msgs": "message", "texts": "message", "sms": "message",
    "meetings": "meeting", "calls": "call", "recordings": "recording", "recorded": "recording",
    "transcripts": "transcript", "participants": "participant", "attendees": "participant",
    "charges": "charge", "payments": "payment", "paid": "payment", "payouts": "payout",
    "subscriptions": "subscription", "subs": "subscription", "customers": "customer",
    "signups": "signup", "sign-ups": "signup", "registrations": "signup", "registered": "signup",
    "rows": "row", "records": "row", "tables": "table",
    "domains": "domain", "sites": "site", "services": "service", "numbers": "number",
    "runs": "run", "workflows": "workflow", "actions": "workflow", "ci": "workflow",
    "failing": "fail", "failed": "fail", "failures": "fail", "failure": "fail", "broken": "fail",
    "errors": "error", "exceptions": "error", "crashes": "error",
    "users": "user", "people": "user", "members": "user",
    "certificate": "cert", "certs": "cert", "ssl": "cert", "tls": "cert",
    "ports": "port", "disks": "disk", "storage": "disk", "memory": "mem", "ram": "mem", "cpu": "load",
    "blockers": "blocker", "blocking": "blocker", "blocked": "blocker",
    "sprints": "sprint", "stats": "stat", "statistics": "stat", "reviews": "review",
    "expires": "expire", "expiry": "expire", "expiring": "expire", "expiration": "expire",
    "latest": "last", "recent": "last", "newest": "last", "lately": "last",
}

# Entities pulled out of the text to fill args; the text keeps a placeholder so similarity
# compares the shape of the request, not the particular repo or host.
ENTITY_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("url", re.compile(r"\bhttps?://[^\s<>'\"]+[^\s<>'\".,?!)]")),
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("repo", re.compile(r"(?<![\w/.:-])([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?![\w/])")),
    ("host", re.compile(r"\b(?=[a-z0-9-]*[a-z])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})\b",
                        re.IGNORECASE)),
    ("issue_key", re.compile(r"\b([A-Z][A-Z0-9]{1,9}-\d+)\b")),
    ("number", re.compile(r"(?:#|\b(?:pr|pull request|number|incident)\s+#?)(\d+)\b", re.IGNORECASE)),
    ("port", re.compile(r"\bport\s+(\d{1,5})\b", re.IGNORECASE)),
    ("days", re.compile(r"\b(?:last|past)\s+(\d{1,3})\s+days?\b", re.IGNORECASE)),
    ("limit", re.compile(r"\b(?:top|last|first|latest)\s+(\d{1,3})\b(?!\s+days?)", re.IGNORECASE)),
    ("channel", re.compile(r"(?<![\w&])#([a-z0-9][a-z0-9_-]{0,79})\b")),
]
PERIOD_DAYS = {"today": 1, "yesterday": 2, "this week": 7, "past week": 7, "last week": 7,
               "this month": 30, "last month": 30, "past month": 30}
# Which extracted entity may fill which argument.
ENTITY_TO_ARGS = {
    "url": ("url",), "email": ("email",), "repo": ("repo",), "host": ("host", "name", "domain"),
    "issue_key": ("key",), "number": ("number", "incident", "id"), "port": ("port",),
    "days": ("days",), "limit": ("limit",), "channel": ("channel",),
}


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

    def to_json(self, text: str) -> dict[str, Any]:
        data = asdict(self)
        data["candidates"] = [{"script": n, "score": round(s, 3)} for n, s in self.candidates]
        data["score"] = round(self.score, 3)
        return {"text": text, **data}


def normalise(text: str) -> str:
    text = SLACK_LINK_RE.sub(r"\1", text)
    text = MENTION_RE.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()


def _stem(token: str) -> str:
    token = SYNONYMS.get(token, token)
    if len(token) > 4 and token.endswith("ies"):
        token = token[:-3] + "y"
    elif len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        token = token[:-1]
    return SYNONYMS.get(token, token)


def extract_entities(text: str) -> tuple[str, dict[str, str]]:
    """Pull args-like values out of the text; return the text with placeholders and the values."""
    found: dict[str, str] = {}
    for kind, pattern in ENTITY_PATTERNS:
        def keep(match: re.Match[str], kind: str = kind) -> str:
            found.setdefault(kind, match.group(match.lastindex or 0))
            return f" {kind}ent "
        text = pattern.sub(keep, text)
    lowered = text.lower()
    for phrase, days in PERIOD_DAYS.items():
        if phrase in lowered:
            found.setdefault("days", str(days))
            break
    return text, found


def tokens(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9][a-z0-9'-]*", text.lower())
    out = []
    for word in words:
        word = word.strip("'-").removesuffix("'s")
        if word and word not in STOPWORDS:
            out.append(_stem(word))
    return out


@dataclass
class _Doc:
    script: str
    tokens: frozenset[str]
    weight: float = 0.0


class PreRouter:
    def __init__(self, registry: Registry, min_similarity: float = MIN_SIMILARITY,
                 min_margin: float = MIN_MARGIN):
        self.registry = registry
        self.min_similarity = min_similarity
        self.min_margin = min_margin
        self._patterns = [
            (entry, re.compile(p, re.IGNORECASE))
            for entry in registry.scripts.values() if not entry.is_write
            for p in entry.patterns
        ]
        self._build_index()

    # -- index -------------------------------------------------------------------------------

    def _build_index(self) -> None:
        docs: list[_Doc] = []
        for entry in self.registry.scripts.values():
            if entry.is_write:
                continue
            phrases = [entry.summary, " ".join(re.split(r"[.-]", entry.name)), *entry.examples]
            for phrase in phrases:
                placeholder_text, _ = extract_entities(phrase)
                toks = frozenset(tokens(placeholder_text))
                if toks:
                    docs.append(_Doc(entry.name, toks))
        df: dict[str, int] = defaultdict(int)
        for doc in docs:
            for tok in doc.tokens:
                df[tok] += 1
        n = max(len(docs), 1)
        self._idf = {tok: math.log(1 + n / count) for tok, count in df.items()}
        self._unknown_idf = math.log(1 + n)
        self._docs = docs
        self._postings: dict[str, list[int]] = defaultdict(list)
        for i, doc in enumerate(docs):
            doc.weight = sum(self._idf[t] for t in doc.tokens)
            for tok in doc.tokens:
                self._postings[tok].append(i)

    def _idf_of(self, tok: str) -> float:
        return self._idf.get(tok, self._unknown_idf)

    def similarities(self, query_tokens: set[str]) -> list[tuple[str, float]]:
        """Best weighted-Jaccard similarity per script between the query and any of its phrases."""
        if not query_tokens:
            return []
        q_weight = sum(self._idf_of(t) for t in query_tokens)
        best: dict[str, float] = {}
        seen: set[int] = set()
        for tok in query_tokens:
            for i in self._postings.get(tok, ()):
                if i in seen:
                    continue
                seen.add(i)
                doc = self._docs[i]
                shared = sum(self._idf[t] for t in doc.tokens & query_tokens)
                score = shared / (q_weight + doc.weight - shared)
                if score > best.get(doc.script, 0.0):
                    best[doc.script] = score
        return sorted(best.items(), key=lambda kv: kv[1], reverse=True)

    # -- routing -----------------------------------------------------------------------------

    def route(self, text: str) -> RouteDecision:
        clean = normalise(text or "")
        if not clean:
            return RouteDecision("orchestrator", "empty message")
        explicit = EXPLICIT_RE.match(clean)
        if explicit:
            return self._explicit(explicit.group("name").lower(), explicit.group("rest"))
        if HANDOFF_RE.search(clean):
            return RouteDecision("orchestrator", "asks how/why, or to write/change something: needs reasoning")
        for entry, pattern in self._patterns:
            match = pattern.search(clean.rstrip(" ?!."))
            if match:
                raw = {k.replace("_", "-"): v for k, v in match.groupdict().items() if v is not None}
                return self._confident(entry, raw, 1.0, f"pattern {pattern.pattern!r}",
                                       [(entry.name, 1.0)], clean)
        placeholder_text, entities = extract_entities(clean)
        query = set(tokens(placeholder_text))
        ranked = self.similarities(query)
        candidates = ranked[:3]
        if not ranked:
            return RouteDecision("orchestrator", "no script matches", candidates=candidates)
        top_name, top = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if top < self.min_similarity:
            return RouteDecision("orchestrator", f"best match {top_name} only {top:.2f} similar",
                                 score=top, candidates=candidates)
        if top - runner_up < self.min_margin:
            return RouteDecision("orchestrator", f"ambiguous: {top_name} {top:.2f} vs {ranked[1][0]} "
                                 f"{runner_up:.2f}", score=top, candidates=candidates)
        entry = self.registry.scripts[top_name]
        raw = _args_from_entities(entry, entities)
        return self._confident(entry, raw, top, f"similar to {top_name} ({top:.2f}, next {runner_up:.2f})",
                               candidates, clean)

    def _confident(self, entry: ScriptEntry, raw: dict[str, Any], score: float, reason: str,
                   candidates: list[tuple[str, float]], text: str) -> RouteDecision:
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
            close = [n for n, _ in self.similarities(set(tokens(name.replace(".", " "))))[:3]]
            hint = f" Did you mean {', '.join(f'`{n}`' for n in close)}?" if close else ""
            return RouteDecision("script", "explicit run of an unknown script", explicit=True,
                                 error=f"There is no script `{name}`.{hint} Try `/ops scripts`.")
        try:
            args = entry.validate_args(entry.parse_argv(split_command(rest)))
        except ArgError as exc:
            return RouteDecision("script", "explicit run with bad arguments", script=name, explicit=True,
                                 error=str(exc), usage=entry.help_text())
        return RouteDecision("script", "explicit run", script=name, args=args, score=1.0, explicit=True,
                             needs_confirmation=entry.is_write, candidates=[(name, 1.0)])


def _args_from_entities(entry: ScriptEntry, entities: dict[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for kind, value in entities.items():
        for arg_name in ENTITY_TO_ARGS.get(kind, ()):
            spec = entry.arg(arg_name)
            if spec is not None and spec.name not in raw:
                raw[spec.name] = value
                break
    # An email or URL host is not a host argument by accident.
    return raw
