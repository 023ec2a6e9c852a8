"""The one request path: every request, from every front end, opens, decides, executes and closes here.

    handle(incoming)     a Slack message or /run (its refusals too), the console, `bot ask`, a scheduled job
      open      a ledger request (text redacted)
      decide    a job's or a command's order · memory command · pre-router (acknowledgement, script,
                explicit `run NAME`) · otherwise the LLM tiers
      execute   script tier: ACL → confirmation for writes → runner · orchestrator: rate limit, deadline
      close     outcome and latency in the ledger; the reply redacted and escaped for Slack mrkdwn
    resolve_confirmation(id, incoming, approve)   the requester's yes/no continues its request; same close

Whatever fails on the way, the request ends with an outcome and the user gets a reply.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from bot import errors
from bot.config import Settings
from bot.confirmations import Confirmations
from bot.entries import ScriptEntry
from bot.ledger import Ledger, new_id
from bot.memory import MemoryStore, memory_command
from bot.mrkdwn import sanitize, strip_ansi
from bot.ratelimit import UserRateLimiter
from bot.redact import Redactor, secret_values_from_env
from bot.registry import Registry, load_registry
from bot.request import Artifact, Incoming, Orchestrator, Order, Reply, RequestContext, storable
from bot.router import PreRouter, RouteDecision
from bot.runner import Runner, ScriptResult
from bot.services import Services
from bot.vocab import DecidedBy

log = logging.getLogger(__name__)

NO_LLM_REPLY = ("I couldn't match that to a script, and the LLM tiers are off: set ANTHROPIC_API_KEY "
                "to let me reason about it. Try `/ops scripts` for what I can run without it.")


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
        self.orchestrator_factory: Callable[[Services], Orchestrator] | None = None
        self._orchestrator_lock = threading.Lock()
        self.llm_limiter = UserRateLimiter(settings.bot_user_rate_per_min)
        self.confirmations = Confirmations(self.ledger, self.registry)
        self.services = self._services()

    def _services(self) -> Services:
        """What the LLM tiers get of the bot (bot/services.py)."""
        return Services(self.settings, self.registry, self.ledger, self.redactor, self.memory,
                        run_script=self._proposed_script, closest_scripts=self.router.closest)

    def use_registry(self, registry: Registry) -> None:
        """A reloaded registry (learned.yaml applied) for every part that reads one: the pre-router, the
        runner, confirmations and the LLM tiers (an orchestrator built from the old one is built again)."""
        self.registry = self.runner.registry = self.confirmations.registry = registry
        self.router = PreRouter(registry)
        self.services = self._services()
        if self.orchestrator_factory is not None:
            with self._orchestrator_lock:
                self._orchestrator = None

    @property
    def llm_enabled(self) -> bool:
        """True when LLM tiers are on, without building the orchestrator."""
        return self._orchestrator is not None or self.orchestrator_factory is not None

    @property
    def orchestrator(self) -> Orchestrator | None:
        if self._orchestrator is None and self.orchestrator_factory is not None:
            with self._orchestrator_lock:
                if self._orchestrator is None:
                    self._orchestrator = self.orchestrator_factory(self.services)
        return self._orchestrator

    @orchestrator.setter
    def orchestrator(self, value: Orchestrator | None) -> None:
        self._orchestrator = value

    # -- the request path --------------------------------------------------------------------

    def handle(self, incoming: Incoming) -> Reply:
        """Open, decide, execute, close: the only way a request goes through the bot."""
        started = time.monotonic()
        incoming.text = storable(incoming.text)     # a lone surrogate would fail every write below
        incoming.thread = [{k: storable(v) if isinstance(v, str) else v for k, v in m.items()}
                           for m in incoming.thread]
        opened = self._open(incoming)
        if isinstance(opened, Reply):
            return opened
        request_id = opened
        if incoming.order is not None and incoming.order.on_open is not None:
            incoming.order.on_open(request_id)
        reply = self._guarded(request_id, lambda: self._decide(incoming, request_id, started))
        return self._close(request_id, reply, started)

    def resolve_confirmation(self, confirmation_id: str, incoming: Incoming, approve: bool) -> Reply:
        """The requester's Confirm/Cancel continues the request that asked (bot/confirmations.py says
        who may and when); a confirmed write runs through the same script tier and the same close."""
        started = time.monotonic()
        decision = self.confirmations.decide(confirmation_id, incoming.user, approve)
        request_id = decision.request_id or new_id()
        if decision.run:
            reply = self._guarded(request_id, lambda: self.execute_script(
                incoming, request_id, decision.entry, decision.args, decided_by="command", confirmed=True))
            return self._close(request_id, reply, started)
        reply = Reply(decision.text, request_id, tier="script", decided_by="command", outcome=decision.outcome,
                      script=decision.script)
        return self._close(request_id, reply, started) if decision.closes_request else reply

    def expire_confirmations(self) -> int:
        return self.confirmations.expire()

    def _open(self, incoming: Incoming) -> str | Reply:
        """The request's ledger row, or — when the ledger cannot take it (disk full, locked) — a reply."""
        try:
            return self.ledger.start_request(
                source=incoming.source, text=self.redactor(incoming.text), user=incoming.user,
                channel=incoming.channel, event_id=incoming.event_id, thread_ts=incoming.thread_ts)
        except Exception as exc:
            fault = errors.describe(exc, self.settings)
            if fault is None:
                raise
            log.error("request not recorded: %s", fault)
            return Reply(errors.for_user(fault), new_id(), outcome="error", notes=[fault.line])

    def _guarded(self, request_id: str, work: Callable[[], Reply]) -> Reply:
        """`work`'s reply; any failure becomes an error reply (a request never ends without one)."""
        try:
            return work()
        except Exception as exc:
            fault = errors.describe(exc, self.settings)
            if fault is None:
                log.exception("request %s failed", request_id)
                reply = Reply(f"Sorry, something went wrong on my side ({type(exc).__name__}). "
                              f"It is logged as request `{request_id}`.", request_id, outcome="error")
            else:
                log.error("request %s failed: %s", request_id, fault)
                reply = Reply(errors.for_user(fault), request_id, outcome="error")
            reply.notes.append(self.redactor(f"{type(exc).__name__}: {exc}")[:300])
            return reply

    def _close(self, request_id: str, reply: Reply, started: float) -> Reply:
        """The outcome in the ledger; the reply's text redacted and escaped (script and model output are
        untrusted). A ledger that cannot take the outcome does not stop the answer."""
        reply.duration_ms = (time.monotonic() - started) * 1000
        reply.text = sanitize(self.redactor(reply.text))
        try:
            self.ledger.finish_request(request_id, reply.outcome, latency_ms=round(reply.duration_ms, 1),
                                       error="; ".join(reply.notes)[:500] or None
                                       if reply.outcome != "ok" else None)
        except Exception as exc:
            if (fault := errors.describe(exc, self.settings)) is None:
                raise
            log.error("request %s: outcome not recorded: %s", request_id, fault)
        return reply

    # -- decide and execute -------------------------------------------------------------------

    def _decide(self, incoming: Incoming, request_id: str, started: float) -> Reply:
        if incoming.order is not None:
            return self._ordered(incoming, request_id, started)
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

    def _ordered(self, incoming: Incoming, request_id: str, started: float) -> Reply:
        """A decision made before the pipeline: a job's script or skill, or a command refused at its ack."""
        order: Order = incoming.order
        if order.refusal is not None:
            self.ledger.record_decision(request_id, tier="script", decided_by=order.decided_by, reason=order.reason,
                                        script=order.script)
            return Reply(order.refusal, request_id, tier="script", decided_by=order.decided_by, outcome="refused",
                         script=order.script, notes=["usage"])
        if order.script is not None:
            entry = self.registry.scripts[order.script]
            self.ledger.record_decision(request_id, tier="script", decided_by=order.decided_by, script=entry.name,
                                        reason=order.reason)
            result = self.runner.run(entry, order.args, request_id=request_id, job_run_id=order.job_run_id,
                                     timeout_s=order.timeout_s, on_start=order.on_start)
            return self._script_reply(result, entry, request_id, order.decided_by)
        skill = self.registry.skills[order.skill]
        self.ledger.record_decision(request_id, tier=skill.tier, decided_by=order.decided_by, skill=skill.name,
                                    reason=order.reason)
        ctx = RequestContext(incoming, request_id, RouteDecision("orchestrator", order.reason), started)
        return self._answer_within(ctx, order.timeout_s)

    def _answer_within(self, ctx: RequestContext, timeout_s: float | None) -> Reply:
        """The orchestrator's answer, or a timeout reply. A model call cannot be killed like a script: it
        runs on a daemon thread that is abandoned at the deadline (the LLM client has its own timeouts)."""
        orchestrator = self.orchestrator
        if orchestrator is None:
            return Reply("LLM tiers not configured: set ANTHROPIC_API_KEY.", ctx.request_id, outcome="error")
        if not timeout_s:
            return orchestrator.answer(ctx)
        box: dict[str, Any] = {}

        def answer() -> None:
            try:
                box["reply"] = orchestrator.answer(ctx)
            except BaseException as exc:  # noqa: B036 - handed to the waiting thread
                box["error"] = exc

        worker = threading.Thread(target=answer, name=f"request-{ctx.request_id}", daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            error = f"no answer within {timeout_s:g}s"
            return Reply(error, ctx.request_id, outcome="timeout", notes=[error])
        if "error" in box:
            detail = self.redactor(f"LLM error: {type(box['error']).__name__}: {box['error']}")[:300]
            log.error("request %s: %s", ctx.request_id, detail)
            return Reply(detail, ctx.request_id, outcome="error")
        return box["reply"]

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
            pending = self.confirmations.ask(request_id, user=incoming.user, channel=incoming.channel,
                                             entry=entry, args=args)
            return Reply(f"`{entry.name}` changes things. Confirm to run:\n`{pending.command()}`", request_id,
                         tier="script", decided_by=decided_by, outcome="awaiting_confirmation",
                         script=entry.name, confirmation=pending)
        result = self.runner.run(entry, args, request_id=request_id)
        return self._script_reply(result, entry, request_id, decided_by)

    def _proposed_script(self, incoming: Incoming, request_id: str, entry: ScriptEntry, args: dict[str, Any],
                         *, decided_by: DecidedBy) -> Reply:
        """A script a model proposed: the script tier, never as already confirmed (a write waits for a yes)."""
        return self.execute_script(incoming, request_id, entry, args, decided_by=decided_by)

    def _script_reply(self, result: ScriptResult, entry: ScriptEntry, request_id: str,
                     decided_by: DecidedBy) -> Reply:
        outcome = {"ok": "ok", "usage": "refused", "timeout": "timeout", "upstream_timeout": "timeout"}.get(
            result.status, "error")
        reply = Reply(result.message(entry), request_id, tier="script", decided_by=decided_by, outcome=outcome,
                      script=entry.name)
        if result.truncated or len(result.stdout) > 3500:
            reply.artifact = Artifact(f"{entry.name}.txt", strip_ansi(result.stdout))
        if not result.ok:
            reply.notes.append(f"{result.status} (exit {result.exit_code})")
        return reply
