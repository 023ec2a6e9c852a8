"""What flows through the pipeline: a request coming in (Incoming), the answer going out (Reply).

Every front end builds an Incoming — a Slack message or /run, the console, `bot ask`, a scheduled job —
and gets a Reply back from `OpsBot.handle` (bot/pipeline.py). The LLM tiers get a RequestContext.
These are plain data, so the tiers and the front ends import them without importing the pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.vocab import DecidedBy, Outcome, Tier

if TYPE_CHECKING:
    from bot.confirmations import PendingConfirmation
    from bot.router import RouteDecision


@dataclass
class Order:
    """A decision made before the request reached the pipeline: a scheduled job names its script (with
    arguments already validated) or its skill; a /run that could not start was refused in its ack."""

    reason: str
    decided_by: DecidedBy = "job"
    refusal: str | None = None                # the command was refused with this text (nothing runs)
    script: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    skill: str | None = None
    timeout_s: float | None = None            # a script's run timeout; a skill's time to answer
    job_run_id: int | None = None
    on_open: Callable[[str], None] | None = None       # told the request id as soon as it exists
    on_start: Callable[[int], None] | None = None      # told the script's pid when it starts


@dataclass
class Incoming:
    text: str
    user: str | None = None
    channel: str | None = None
    source: str = "console"            # slack | console | cli | job | http
    event_id: str | None = None
    thread_ts: str | None = None
    thread: list[dict[str, str]] = field(default_factory=list)   # earlier messages: {"user", "text"}
    user_groups: frozenset[str] = frozenset()
    progress: Any = None               # bot.progress.Progress: where long LLM calls report (Slack, console)
    order: Order | None = None         # a scheduled job's decision, made before the pipeline


_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` with lone surrogates as U+FFFD. They come from undecodable bytes in argv or a non-UTF-8
    stdin (Python's surrogateescape) and from a `\\ud800` escape in a JSON body (Slack); no database,
    log or HTTP body can encode them, so the request would end in an encoding error with no reply."""
    return _SURROGATE.sub("\ufffd", text)


@dataclass
class Artifact:
    filename: str
    content: str


@dataclass
class Reply:
    text: str
    request_id: str
    tier: Tier = "none"                # the words are defined in bot/vocab.py
    decided_by: DecidedBy = "pre-router"
    outcome: Outcome = "ok"
    script: str | None = None
    models: list[str] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    duration_ms: float = 0.0
    confirmation: PendingConfirmation | None = None
    artifact: Artifact | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def why_line(self) -> str:
        """'script `stripe.mrr` · 0 tokens · 0.4 s' — tier, model, tokens, cost, time."""
        what = f"script `{self.script}`" if self.tier == "script" and self.script else self.tier
        parts = [what]
        if self.models:
            parts.append(", ".join(self.models))
        parts.append(f"{self.tokens:,} tokens")
        if self.cost_usd:
            parts.append(f"${self.cost_usd:.4f}")
        parts.append(f"{self.duration_ms / 1000:.1f} s")
        return " · ".join(parts)


@dataclass
class RequestContext:
    """What an LLM tier needs to answer one request."""

    incoming: Incoming
    request_id: str
    route: RouteDecision
    started: float


class Orchestrator(Protocol):
    def answer(self, ctx: RequestContext) -> Reply: ...
