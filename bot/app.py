"""The request pipeline shared by Slack, the console, `bot ask` and jobs.

message → ledger request → pre-router → script tier (ACL, confirmation, runner)
                                      → orchestrator (LLM tiers) when the router is not sure
Every request ends with an outcome and a reply, whatever fails on the way.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from bot import errors
from bot.config import Settings
from bot.ledger import Ledger, new_id
from bot.memory import MemoryStore, memory_command
from bot.mrkdwn import sanitize, strip_ansi
from bot.ratelimit import UserRateLimiter
from bot.redact import Redactor, secret_values_from_env
from bot.registry import ArgError, Registry, ScriptEntry, load_registry
from bot.router import PreRouter, RouteDecision
from bot.runner import Runner, ScriptResult
from bot.vocab import DecidedBy, Outcome, Tier

log = logging.getLogger(__name__)

CONFIRMATION_TTL = dt.timedelta(minutes=10)
NO_LLM_REPLY = ("I couldn't match that to a script, and the LLM tiers are off: set ANTHROPIC_API_KEY "
                "to let me reason about it. Try `/ops scripts` for what I can run without it.")


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


@dataclass
class Artifact:
    filename: str
    content: str


@dataclass
class PendingConfirmation:
    id: str
    script: str
    args: dict[str, Any]
    user: str | None
    expires_at: str

    def command(self) -> str:
        flags = " ".join(f"--{k} {json.dumps(v) if isinstance(v, str) and ' ' in v else v}"
                         for k, v in self.args.items())
        return f"{self.script} {flags}".strip()


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


class OpsBot:
    def __init__(self, settings: Settings, *, registry: Registry | None = None, ledger: Ledger | None = None,
                 orchestrator: Orchestrator | None = None, environ: dict[str, str] | None = None):
        self.settings = settings
        self.registry = registry or load_registry(settings.bot_registry, settings.bot_skills,
                                                  settings.bot_scripts)
        self.ledger = ledger or Ledger(settings.ledger_target)
        self.redactor = Redactor(secret_values_from_env(environ))
        for name in ("slack_bot_token", "slack_app_token", "slack_signing_secret", "anthropic_api_key"):
            self.redactor.add(settings.secret(name))
        self.redactor.add(urlsplit(settings.secret("bot_database_url") or "").password)
        self.runner = Runner(self.registry, self.ledger, output_cap=settings.bot_output_cap_bytes,
                             environ=environ, redactor=self.redactor)
        self.router = PreRouter(self.registry)
        self.memory = MemoryStore(settings.memory_dir, redactor=self.redactor,
                                  ledger=self.ledger if self.ledger.shared else None)
        self._orchestrator = orchestrator
        # Built on first need, so a script answer never imports the orchestrator or the anthropic SDK.
        self.orchestrator_factory: Callable[[OpsBot], Orchestrator] | None = None
        self._orchestrator_lock = threading.Lock()
        self.llm_limiter = UserRateLimiter(settings.bot_user_rate_per_min)

    @property
    def llm_enabled(self) -> bool:
        """True when LLM tiers are on, without building the orchestrator."""
        return self._orchestrator is not None or self.orchestrator_factory is not None

    @property
    def orchestrator(self) -> Orchestrator | None:
        if self._orchestrator is None and self.orchestrator_factory is not None:
            with self._orchestrator_lock:
                if self._orchestrator is None:
                    self._orchestrator = self.orchestrator_factory(self)
        return self._orchestrator

    @orchestrator.setter
    def orchestrator(self, value: Orchestrator | None) -> None:
        self._orchestrator = value

    # -- the pipeline ------------------------------------------------------------------------

    def handle(self, incoming: Incoming) -> Reply:
        started = time.monotonic()
        try:
            request_id = self.ledger.start_request(
                source=incoming.source, text=self.redactor(incoming.text), user=incoming.user,
                channel=incoming.channel, event_id=incoming.event_id, thread_ts=incoming.thread_ts)
        except Exception as exc:  # the ledger cannot take it (disk full, locked): still a reply
            fault = errors.describe(exc, self.settings)
            if fault is None:
                raise
            log.error("request not recorded: %s", fault)
            return Reply(errors.for_user(fault), new_id(), outcome="error", notes=[fault.line])
        try:
            reply = self._dispatch(incoming, request_id, started)
        except Exception as exc:  # a request never ends without a reply
            fault = errors.describe(exc, self.settings)
            if fault is None:
                log.exception("request %s failed", request_id)
                reply = Reply(f"Sorry, something went wrong on my side ({type(exc).__name__}). "
                              f"It is logged as request `{request_id}`.", request_id, outcome="error")
            else:
                log.error("request %s failed: %s", request_id, fault)
                reply = Reply(errors.for_user(fault), request_id, outcome="error")
            reply.notes.append(self.redactor(f"{type(exc).__name__}: {exc}")[:300])
        reply.duration_ms = (time.monotonic() - started) * 1000
        reply.text = sanitize(self.redactor(reply.text))   # script and model output are untrusted
        try:
            self.ledger.finish_request(request_id, reply.outcome, latency_ms=round(reply.duration_ms, 1),
                                       error="; ".join(reply.notes)[:500] or None
                                       if reply.outcome != "ok" else None)
        except Exception as exc:  # the answer still goes out; the outcome could not be written
            if (fault := errors.describe(exc, self.settings)) is None:
                raise
            log.error("request %s: outcome not recorded: %s", request_id, fault)
        return reply

    def _dispatch(self, incoming: Incoming, request_id: str, started: float) -> Reply:
        remembered = memory_command(self.memory, incoming.text, incoming.user)   # 0 tokens
        if remembered is not None:
            action, text = remembered
            self.ledger.record_decision(request_id, tier="memory", decided_by="command",
                                        reason=f"memory: {action}")
            return Reply(text, request_id, tier="memory", decided_by="command")
        route = self.router.route(incoming.text)
        if route.acknowledgement:       # "ok", "thanks", 👍: 0 tokens, and nothing can run
            self.ledger.record_decision(request_id, tier="none", decided_by="pre-router", reason=route.reason)
            return Reply("👍", request_id, decided_by="pre-router")
        if route.tier == "script":
            decided_by = "command" if route.explicit else "pre-router"
            self.ledger.record_decision(request_id, tier="script", decided_by=decided_by, reason=route.reason,
                                        score=route.score, candidates=route.candidates, script=route.script)
            if route.error:
                text = route.error + (f"\n{route.usage}" if route.usage else "")
                return Reply(text, request_id, tier="script", decided_by=decided_by, outcome="refused",
                             script=route.script)
            entry = self.registry.scripts[route.script]
            return self.execute_script(incoming, request_id, entry, route.args, decided_by=decided_by)
        ctx = RequestContext(incoming, request_id, route, started)
        if not self.llm_enabled:
            return self._without_llm(ctx)
        return self._over_llm_rate(ctx) or self.orchestrator.answer(ctx)

    def _over_llm_rate(self, ctx: RequestContext) -> Reply | None:
        """Per-user limit on requests about to reach the LLM; scripts, commands and memory never count."""
        wait = self.llm_limiter.take(ctx.incoming.user)
        if wait <= 0:
            return None
        per_minute = self.llm_limiter.per_minute
        self.ledger.record_decision(ctx.request_id, tier="none", decided_by="rate-limit",
                                    reason=f"over {per_minute} LLM requests per minute for this user",
                                    candidates=ctx.route.candidates)
        text = (f":snail: You're asking faster than I can think: I take up to {per_minute} questions a minute "
                f"per person that need the LLM. Try again in about {max(1, round(wait))} s. Scripts still "
                "answer right away, e.g. `/run <script>` (see `/ops scripts`).")
        return Reply(text, ctx.request_id, decided_by="rate-limit", outcome="refused")

    def _without_llm(self, ctx: RequestContext) -> Reply:
        route = ctx.route
        self.ledger.record_decision(ctx.request_id, tier="none", decided_by="pre-router",
                                    reason=f"{route.reason}; no LLM configured", score=route.score,
                                    candidates=route.candidates, script=route.script)
        if route.missing and route.script:
            entry = self.registry.scripts[route.script]
            text = (f"That sounds like `{entry.name}`, which needs "
                    f"{', '.join('--' + m for m in route.missing)}.\n{entry.help_text()}")
            return Reply(text, ctx.request_id, outcome="refused", script=entry.name)
        return Reply(NO_LLM_REPLY, ctx.request_id, outcome="refused")

    # -- the script tier ---------------------------------------------------------------------

    def permits(self, entry: ScriptEntry, incoming: Incoming) -> bool:
        """ACL of the requesting user (never the bot's identity); local sources are the operator."""
        if incoming.source in ("console", "cli", "job"):
            return True
        return entry.allowed.permits(incoming.user, incoming.channel, incoming.user_groups)

    def execute_script(self, incoming: Incoming, request_id: str, entry: ScriptEntry, args: dict[str, Any],
                       *, decided_by: DecidedBy, confirmed: bool = False) -> Reply:
        """Run a script for a requester: ACL, then confirmation for writes, then the runner."""
        if not self.permits(entry, incoming):
            return Reply(f"You are not allowed to run `{entry.name}` here.", request_id, tier="script",
                         decided_by=decided_by, outcome="refused", script=entry.name)
        if entry.is_write and not confirmed:
            pending = self.request_confirmation(request_id, incoming, entry, args)
            return Reply(f"`{entry.name}` changes things. Confirm to run:\n`{pending.command()}`", request_id,
                         tier="script", decided_by=decided_by, outcome="awaiting_confirmation",
                         script=entry.name, confirmation=pending)
        result = self.runner.run(entry, args, request_id=request_id)
        return self.script_reply(result, entry, request_id, decided_by)

    def script_reply(self, result: ScriptResult, entry: ScriptEntry, request_id: str,
                     decided_by: DecidedBy) -> Reply:
        outcome = {"ok": "ok", "usage": "refused", "timeout": "timeout", "upstream_timeout": "timeout"}.get(
            result.status, "error")
        reply = Reply(sanitize(result.message(entry)), request_id, tier="script", decided_by=decided_by, outcome=outcome,
                      script=entry.name)
        if result.truncated or len(result.stdout) > 3500:
            reply.artifact = Artifact(f"{entry.name}.txt", strip_ansi(result.stdout))
        if not result.ok:
            reply.notes.append(f"{result.status} (exit {result.exit_code})")
        return reply

    # -- confirmations -----------------------------------------------------------------------

    def request_confirmation(self, request_id: str, incoming: Incoming, entry: ScriptEntry,
                             args: dict[str, Any]) -> PendingConfirmation:
        pending = PendingConfirmation(
            id=new_id(), script=entry.name, args=args, user=incoming.user,
            expires_at=(dt.datetime.now(dt.UTC) + CONFIRMATION_TTL).isoformat(timespec="seconds"))
        self.ledger.add_confirmation(confirmation_id=pending.id, request_id=request_id, user=incoming.user,
                                     channel=incoming.channel, script=entry.name, args=args,
                                     expires_at=pending.expires_at)
        return pending

    def resolve_confirmation(self, confirmation_id: str, incoming: Incoming, approve: bool) -> Reply:
        """The requester's Confirm/Cancel. Anyone else is refused; expired prompts do nothing."""
        started = time.monotonic()
        row = self.ledger.get_confirmation(confirmation_id)
        if row is None:
            return Reply("That confirmation no longer exists.", new_id(), outcome="refused")
        request_id = row["request_id"]
        entry = self.registry.script(row["script"])

        def close(status: str, text: str, outcome: str = "refused") -> Reply:
            self.ledger.decide_confirmation(confirmation_id, status, incoming.user)
            return Reply(text, request_id, tier="script", decided_by="command", outcome=outcome,
                         script=row["script"])

        if row["status"] != "pending":
            return Reply(f"Already {row['status']}.", request_id, tier="script", outcome="refused",
                         script=row["script"])
        if incoming.user != row["user"]:
            # Not the requester: record the attempt, keep the prompt pending for the requester.
            self.ledger.record_decision(request_id, tier="script", decided_by="command", script=row["script"],
                                        reason=f"confirmation refused: {incoming.user} is not the requester")
            return Reply(f"Only <@{row['user']}> can confirm this.", request_id, tier="script",
                         outcome="refused", script=row["script"])
        if dt.datetime.fromisoformat(row["expires_at"]) < dt.datetime.now(dt.UTC):
            return close("expired", "This confirmation expired; ask again if you still want it.")
        if not approve:
            reply = close("cancelled", f"Cancelled: `{row['script']}` did not run.", outcome="cancelled")
            self.ledger.finish_request(request_id, "cancelled")
            return reply
        if entry is None:
            return close("refused", f"`{row['script']}` is no longer in the registry.")
        if not self.ledger.decide_confirmation(confirmation_id, "confirmed", incoming.user):
            return Reply("Already handled.", request_id, tier="script", outcome="refused", script=entry.name)
        try:
            args = entry.validate_args(json.loads(row["args"]))
        except ArgError as exc:
            return Reply(sanitize(f"`{entry.name}`: {exc}"), request_id, tier="script", outcome="refused",
                         script=entry.name)
        reply = self.execute_script(incoming, request_id, entry, args, decided_by="command", confirmed=True)
        reply.duration_ms = (time.monotonic() - started) * 1000
        self.ledger.finish_request(request_id, reply.outcome, latency_ms=round(reply.duration_ms, 1))
        return reply

    def expire_confirmations(self) -> int:
        """Mark pending confirmations past their time as expired (and their requests)."""
        return self.ledger.expire_confirmations(dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
