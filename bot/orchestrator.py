"""The orchestrator: the mid model decides, and usually does the work itself.

Prompt: a short role + the index (one line per script, skill, memory note) as a cached prefix, then
the pruned Slack thread and the request as quoted data. Tools (exactly these names):
run_script, load_skill, load_memory, delegate_premium, run_pipeline, fan_out.

- The first tool the model uses (or none: a direct answer) is the tier decision, recorded once with
  the model's stated `reason` and the pre-router's candidates.
- Scripts run through `Services.run_script`, the pipeline's script tier, so ACL (the requester's),
  confirmation of write scripts and the ledger are the same as on every other path. A write script
  never runs here: the reply carries the pending confirmation for the requester's Confirm/Cancel.
- The loop is bounded (6 model calls; the last one may not use tools) and budgeted (per-request token
  cap, daily USD cap). delegate_premium and run_pipeline end the loop: their output is the answer.
- Degradation: premium unavailable or over budget → the mid model, with a visible note; the mid model
  unavailable → a clear reply that says so and that scripts still work. Never a request without a reply.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from bot.confirmations import PendingConfirmation
from bot.llm import LLM, LLMError, LLMResponse
from bot.problems import ArgError
from bot.prompts import (
    CACHE,
    TOOL_NAMES,
    clip,
    orchestrator_system,
    orchestrator_tools,
    prune_thread,
    quote,
    request_message,
)
from bot.request import Reply, RequestContext
from bot.services import Services
from bot.tiers import Meter
from bot.tiers.budgets import Budgets, higher, settle
from bot.tiers.cheap import FanOut
from bot.tiers.code_route import code_to_premium
from bot.tiers.draft_implement import Pipeline
from bot.tiers.premium import PremiumAgent
from bot.tool_input import BadInput, name_list, required_text

log = logging.getLogger(__name__)

MAX_STEPS = 6
SCRIPT_OUTPUT_CHARS = 6000
MIN_PREMIUM_INPUT = 1000      # below this, a premium call is not worth making: the mid model answers
_REF = re.compile(r"\[\[(request|thread|script:([a-z0-9]+\.[a-z0-9-]+))\]\]")
FIRST_TOOL_TIER = {"run_script": "script", "load_skill": "direct", "load_memory": "direct",
                   "delegate_premium": "premium", "run_pipeline": "pipeline", "fan_out": "cheap"}
SCRIPTS_STILL_WORK = ("Scripts still work without it: `/ops scripts` lists them and "
                      "`run <script> --arg value` runs one.")


@dataclass
class _Result:
    content: str
    is_error: bool = False
    final: Reply | None = None    # set by tools that end the loop (their output is the answer)


class LLMOrchestrator:
    """`Orchestrator` for OpsBot: answer(ctx) → Reply, on the mid model with the tools above."""

    def __init__(self, services: Services, llm: LLM, *, max_steps: int = MAX_STEPS):
        settings = services.settings
        self.services = services
        self.llm = llm
        self.max_steps = max_steps
        self.mid_model = settings.bot_model_mid
        self.premium_model = settings.bot_model_premium
        self.token_cap = settings.bot_request_token_cap
        self.daily_budget = settings.bot_daily_budget_usd        # None = no daily cap; 0 = no LLM spend
        self.memory = services.memory
        self.budgets = Budgets.from_settings(settings)
        self.premium = PremiumAgent(llm, services.registry, self.memory, premium_model=self.premium_model,
                                    mid_model=self.mid_model, default_budget=settings.bot_premium_input_budget,
                                    budgets=self.budgets)
        self.pipeline = Pipeline(llm, mid_model=self.mid_model, premium_model=self.premium_model,
                                 default_budget=settings.bot_premium_input_budget, budgets=self.budgets)
        self.tools = orchestrator_tools()
        self.cheap = FanOut(llm, cheap_model=settings.bot_model_cheap, mid_model=self.mid_model)

    def base_prompt(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(system blocks, tools) exactly as sent: what bench/context.py measures."""
        lines = self.memory.index_lines() if self.memory is not None else []
        return orchestrator_system(self.services.registry, lines), self.tools

    def answer(self, ctx: RequestContext) -> Reply:
        request = _Request(self, ctx)
        return code_to_premium(request) or request.run()   # mostly code: premium, the mid model never reads it


class _Request:
    """One request's tool loop and its accounting."""

    def __init__(self, orch: LLMOrchestrator, ctx: RequestContext):
        self.o = orch
        self.services = orch.services
        self.ctx = ctx
        self.meter = Meter()
        self.tier: str | None = None
        self.script: str | None = None
        self.confirmation: PendingConfirmation | None = None
        self.artifact = None
        self.request_text = ""
        self.thread_text = ""
        self.outputs: dict[str, str] = {}     # script → its latest output, for [[script:name]]
        self.effort = orch.budgets.orchestrator.effort     # raised when a loaded skill asks for more

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> Reply:
        try:
            return self._loop()
        except LLMError as exc:
            return self.unavailable(exc)
        except Exception as exc:  # a bug of ours: still a reply, with the tokens already spent
            log.exception("request %s: orchestrator failed", self.ctx.request_id)
            self.decide("none", f"orchestrator error: {type(exc).__name__}")
            self.meter.note(self.services.redactor(f"{type(exc).__name__}: {exc}")[:300])
            return self.reply(f"Sorry, something went wrong on my side ({type(exc).__name__}). It is logged as "
                              f"request `{self.ctx.request_id}`. {SCRIPTS_STILL_WORK}", outcome="error")

    def _loop(self) -> Reply:
        o = self.o
        if o.daily_budget == 0:
            self.decide("none", "LLM spend is off (BOT_DAILY_BUDGET_USD=0)")
            return self.reply(f"LLM spend is switched off here (BOT_DAILY_BUDGET_USD=0), so I can't reason about "
                              f"this. {SCRIPTS_STILL_WORK}", outcome="refused")
        spent = self.services.ledger.spend_today()
        if o.daily_budget is not None and spent >= o.daily_budget:
            self.decide("none", f"daily LLM budget reached (${spent:.2f} of ${o.daily_budget:.2f})")
            return self.reply(f"Today's LLM budget (${o.daily_budget:.2f}) is used up, so I can't reason about "
                              f"this until tomorrow (UTC). {SCRIPTS_STILL_WORK}{self.hint()}", outcome="refused")
        system, tools = o.base_prompt()
        incoming = self.ctx.incoming
        self.request_text = self.services.redactor(incoming.text)
        self.thread_text = prune_thread([{"user": m.get("user", ""), "text": self.services.redactor(m.get("text", ""))}
                                         for m in incoming.thread])
        route = self.ctx.route
        guesses = [route.script] if route.script else [n for n, score in route.candidates[:3] if score >= 0.2]
        if route.missing and route.script:
            guesses = [f"{route.script} (needs {', '.join('--' + m for m in route.missing)})"]
        messages: list[dict[str, Any]] = [{"role": "user", "content": request_message(
            self.request_text, user=incoming.user, thread=self.thread_text, guesses=guesses)}]
        last_text, paused, last_input = "", "", 0
        for step in range(o.max_steps):
            if step and self.meter.usage.total + last_input > o.token_cap:
                self.meter.note(f"Stopped at this request's token cap ({o.token_cap:,} tokens).", visible=True)
                break
            final_step = step == o.max_steps - 1
            response = o.llm.complete(
                model=o.mid_model, system=system, tools=tools, messages=messages, purpose="orchestrator",
                max_tokens=o.budgets.orchestrator.max_tokens, effort=self.effort, request_id=self.ctx.request_id,
                tool_choice={"type": "none"} if final_step else None, max_continuations=o.budgets.continuations,
                cache_control=CACHE)   # the loop: each turn reads the turn before (see README, cost levers)
            self.meter.add(response)
            last_input = response.usage.total_input
            uses = response.tool_uses
            messages.extend(response.turns)
            if response.stop_reason == "pause_turn" and not final_step:   # send it back as is to go on
                messages.append(response.message.to_param())
                paused = "\n".join(t for t in (paused, response.raw_text) if t)   # the answer so far
                continue
            if paused:   # what came before the pause is part of the answer
                response.joined_text, paused = "\n".join(t for t in (paused, response.raw_text) if t).strip(), ""
            if self.tier is None:
                self.decide_from(response)
            last_text = response.text or last_text
            if not uses:
                return self.finish_response(response)
            if final_step:
                self.meter.note(f"Stopped after {o.max_steps} steps.", visible=True)
                break
            results = []
            for use in uses:
                result = self.call_tool(use)
                if result.final is not None:
                    return result.final
                block: dict[str, Any] = {"type": "tool_result", "tool_use_id": use.id, "content": result.content}
                if result.is_error:
                    block["is_error"] = True
                results.append(block)
            messages.append(response.message.to_param())
            messages.append({"role": "user", "content": results})
        if not last_text:
            return self.reply(f"I couldn't finish this within my step and token limits. Try a narrower "
                              f"question.{self.hint()}", outcome="error")
        return self.finish(last_text, None)

    # -- decisions and replies ---------------------------------------------------------------

    def decide(self, tier: str, reason: str, *, script: str | None = None, skill: str | None = None) -> None:
        if self.tier is not None:
            return
        self.tier = tier
        route = self.ctx.route
        self.services.ledger.record_decision(
            self.ctx.request_id, tier=tier, decided_by="orchestrator", reason=(reason or tier)[:500],
            score=route.score or None, candidates=route.candidates, script=script, skill=skill)

    def decide_from(self, response: LLMResponse) -> None:
        uses = response.tool_uses
        said = response.text.splitlines()[0][:300] if response.text else ""
        if not uses:
            self.decide("direct", said or "answered directly")
            return
        first = uses[0]
        data = first.input if isinstance(first.input, dict) else {}
        stated = data.get("reason") if isinstance(data.get("reason"), str) else ""
        name = data.get("name") if isinstance(data.get("name"), str) else None
        tier = FIRST_TOOL_TIER.get(first.name, "direct")
        reason = stated or said or f"{first.name}({name or ''})"
        script = name if first.name == "run_script" and name in self.services.registry.scripts else None
        skill = None
        if first.name == "load_skill":
            skill = name
        elif first.name == "run_pipeline":
            skill = data.get("skill") if isinstance(data.get("skill"), str) else None
        elif first.name == "delegate_premium" and isinstance(data.get("skills"), list) and data["skills"]:
            skill = str(data["skills"][0])
        self.decide(tier, reason, script=script, skill=skill)

    def reply(self, text: str, *, outcome: str = "ok") -> Reply:
        m = self.meter
        if m.visible:
            text = text.rstrip() + "\n\n" + "\n".join(f"_Note: {n}_" for n in m.visible)
        reply = Reply(text, self.ctx.request_id, tier=self.tier or "none", decided_by="orchestrator",
                      outcome=outcome, script=self.script, models=m.models, input_tokens=m.usage.total_input,
                      output_tokens=m.usage.output_tokens, cost_usd=m.usage.cost_usd,
                      artifact=self.artifact, notes=list(m.notes))
        if self.confirmation is not None:
            reply.confirmation = self.confirmation
            if outcome == "ok":
                reply.outcome = "awaiting_confirmation"
            reply.text = (reply.text.rstrip() + f"\n\n`{self.confirmation.script}` changes things. Confirm to "
                          f"run:\n`{self.confirmation.command()}`").lstrip()
        return reply

    def finish(self, text: str, stop_reason: str | None) -> Reply:
        return self.reply(text.strip() or ("" if self.confirmation else "I have no answer to that."))

    def finish_response(self, response: LLMResponse) -> Reply:
        """The reply for a final response, by its stop reason: a still-cut answer goes out as a file."""
        settled = settle(response, name=f"answer-{self.ctx.request_id}.md")
        if settled.note:
            self.meter.note(settled.note, visible=True)
        if settled.artifact is not None and self.artifact is None:
            self.artifact = settled.artifact
        reply = self.finish(settled.text, response.stop_reason)
        if settled.outcome != "ok":
            reply.outcome = settled.outcome
        return reply

    def unavailable(self, exc: LLMError) -> Reply:
        """The mid model (or every model) failed for good: say so clearly; scripts still work."""
        self.decide("none", f"LLM unavailable: {exc.describe()}")
        if exc.kind == "timeout":
            text = f"The model did not answer in time ({exc.describe()}). {SCRIPTS_STILL_WORK}"
        elif exc.unavailable:
            text = f"The LLM is unavailable right now ({exc.describe()}). {SCRIPTS_STILL_WORK}"
        else:
            text = f"The LLM call failed ({exc.describe()}). {SCRIPTS_STILL_WORK}"
        self.meter.note(self.services.redactor(f"llm error: {exc}"))    # API text goes to the ledger: redact it
        return self.reply(text + self.hint(), outcome="timeout" if exc.kind == "timeout" else "error")

    def hint(self) -> str:
        names = [n for n, _ in self.ctx.route.candidates[:3]]
        if not names:
            return ""
        return "\nClosest scripts: " + ", ".join(f"`{n}`" for n in names) + "."

    # -- tools -------------------------------------------------------------------------------

    def call_tool(self, use: Any) -> _Result:
        handler = {"run_script": self.run_script, "load_skill": self.load_skill, "load_memory": self.load_memory,
                   "delegate_premium": self.delegate_premium, "run_pipeline": self.run_pipeline,
                   "fan_out": self.fan_out}.get(use.name)
        if handler is None:
            return _Result(f"There is no tool {use.name!r}. Tools: {', '.join(TOOL_NAMES)}.", is_error=True)
        if not isinstance(use.input, dict):
            return _Result(f"{use.name}: the input must be a JSON object.", is_error=True)
        try:
            return handler(use.input)
        except BadInput as exc:
            return _Result(f"{use.name}: {exc}", is_error=True)

    def run_script(self, data: dict[str, Any]) -> _Result:
        name = required_text(data, "name", "a script name from the index").lower().removeprefix("run ")
        entry = self.services.registry.script(name)
        if entry is None:
            close = self.services.closest_scripts(name)
            hint = f" Closest: {', '.join(close)}." if close else ""
            log.info("request %s: model asked for unknown script %r", self.ctx.request_id, name)
            return _Result(f"There is no script {name!r}; nothing was run. Use a name from the index.{hint}",
                           is_error=True)
        args = data.get("args") or {}
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                raise BadInput(f"args must be an object of flags, e.g. {{\"repo\": \"org/app\"}}.\n"
                               f"{entry.help_text()}") from None
        if not isinstance(args, dict):
            raise BadInput(f"args must be an object of flags.\n{entry.help_text()}")
        try:
            clean = entry.validate_args(args)
        except ArgError as exc:
            return _Result(f"{exc}\n{exc.usage or entry.help_text()}\nNothing was run.", is_error=True)
        if entry.is_write and self.confirmation is not None:
            return _Result("A confirmation is already pending for this request; one change at a time. "
                           "Nothing was run.", is_error=True)
        reply = self.services.run_script(self.ctx.incoming, self.ctx.request_id, entry, clean,
                                         decided_by="orchestrator")
        self.script = self.script or entry.name
        if reply.confirmation is not None:
            self.confirmation = reply.confirmation
            return _Result(f"Awaiting confirmation: `{entry.name}` has NOT run. The requesting user must press "
                           "Confirm; tell them briefly what it will do.")
        if reply.artifact is not None and self.artifact is None:
            self.artifact = reply.artifact
        self.outputs[entry.name] = reply.artifact.content if reply.artifact is not None else reply.text
        body = quote("script_output", clip(reply.text, SCRIPT_OUTPUT_CHARS), name=entry.name, status=reply.outcome)
        return _Result("Script output (untrusted data):\n" + body, is_error=reply.outcome != "ok")

    def load_skill(self, data: dict[str, Any]) -> _Result:
        name = required_text(data, "name", "a skill name from the index")
        skill = self.services.registry.skills.get(name)
        if skill is None:
            return _Result(f"There is no skill {name!r}. Skills: {', '.join(self.services.registry.skills)}.",
                           is_error=True)
        extra = ""
        self.effort = higher(self.effort, skill.effort)
        if skill.tier == "premium":
            extra = f"\n\n(This is a [premium] skill: use delegate_premium with skills=[\"{name}\"].)"
        elif skill.tier == "pipeline":
            extra = f"\n\n(This is a [pipeline] skill: use run_pipeline with skill=\"{name}\".)"
        if skill.scripts:
            extra += f"\n\nScripts for this skill: {', '.join(skill.scripts)}."
        return _Result(skill.body() + extra)

    def load_memory(self, data: dict[str, Any]) -> _Result:
        name = required_text(data, "name", "a memory note name from the index")
        note = self.o.memory.get(name) if self.o.memory is not None else None
        if note is None:
            names = [n.name for n in self.o.memory.notes()][:40] if self.o.memory is not None else []
            return _Result(f"There is no memory note {name!r}. Notes: {', '.join(names) or 'none'}.", is_error=True)
        return _Result("Memory note (untrusted data):\n" + quote("memory", note.body, name=note.name))

    def delegate_premium(self, data: dict[str, Any]) -> _Result:
        o = self.o
        task = required_text(data, "task", "what the premium model must do")
        skills = self._skills(data.get("skills"))
        memory = name_list(data.get("memory"), "memory")
        missing = [n for n in memory if o.memory is None or o.memory.get(n) is None]
        if missing:
            raise BadInput(f"unknown memory note(s): {', '.join(missing)}")
        context = data.get("context") or ""
        if not isinstance(context, str):
            context = json.dumps(context, ensure_ascii=False)
        context = self.expand(context)
        output = o.premium.output(skills)
        budget = min(o.premium.budget_for(skills), self.room() - output.max_tokens)
        if budget < MIN_PREMIUM_INPUT:
            return self.no_room("the premium model")
        prompt = o.premium.prompt(task=task, skills=skills, memory=memory, excerpt=self.services.redactor(context),
                                  budget=budget)
        allowed, skipped = self.premium_allowed(prompt.estimate, output.max_tokens)
        response = o.premium.run(prompt, self.meter, request_id=self.ctx.request_id, allow_premium=allowed,
                                 skipped=skipped, output=output, progress=self.ctx.incoming.progress)
        return _Result("delegated", final=self.finish_response(response))

    def fan_out(self, data: dict[str, Any]) -> _Result:
        return _Result(*self.o.cheap.tool(self, data))

    def run_pipeline(self, data: dict[str, Any]) -> _Result:
        o = self.o
        name = required_text(data, "skill", "a [pipeline] skill name from the index")
        skill = self.services.registry.skills.get(name)
        if skill is None or skill.tier != "pipeline":
            pipelines = [s.name for s in self.services.registry.skills.values() if s.tier == "pipeline"]
            what = "no skill" if skill is None else f"a {skill.tier} skill, not a pipeline:"
            raise BadInput(f"{name!r} is {what}. Pipeline skills: {', '.join(pipelines) or 'none'}.")
        brief = self.services.redactor(required_text(data, "brief", "everything the content needs"))
        if o.pipeline.max_tokens(skill, brief) > self.room():
            return self.no_room("the two-stage pipeline")
        allowed, skipped = self.premium_allowed(o.pipeline.budget_for(skill), o.budgets.stage2.max_tokens)
        result = o.pipeline.run(skill, brief, self.meter, request_id=self.ctx.request_id,
                                allow_premium=allowed, skipped=skipped, progress=self.ctx.incoming.progress)
        self.artifact = result.artifact
        preview = clip(result.content.strip(), 800, "content")
        text = f"Here is the {skill.name.replace('-', ' ')}: `{result.artifact.filename}` is attached.\n\n{preview}"
        if result.notes:
            text += f"\n\n{result.notes}"
        return _Result("pipeline done", final=self.reply(text))

    def expand(self, context: str) -> str:
        """[[request]], [[thread]], [[script:name]] → that text, so the model need not copy it out."""
        def one(match: re.Match[str]) -> str:
            key, name = match.group(1), match.group(2)
            if key == "request":
                return self.request_text
            if key == "thread":
                return self.thread_text or "(no thread)"
            if name in self.outputs:
                return self.outputs[name]
            raise BadInput(f"[[script:{name}]]: that script has not run in this request")
        return _REF.sub(one, context)

    def room(self) -> int:
        """Tokens this request may still spend under its cap (BOT_REQUEST_TOKEN_CAP)."""
        return self.o.token_cap - self.meter.usage.total

    def no_room(self, what: str) -> _Result:
        self.meter.note(f"This request's token cap left no room for {what}; the mid model answered instead.",
                        visible=True)
        return _Result("This request's token budget is nearly spent; answer the user yourself, briefly.",
                       is_error=True)

    def premium_allowed(self, input_tokens: int, output_tokens: int) -> tuple[bool, str]:
        """Premium is skipped (mid model, with a note) when it would overrun today's budget."""
        o = self.o
        if o.daily_budget is None:
            return True, ""
        spent = self.services.ledger.spend_today()
        estimate = o.llm.pricing.cost(o.premium_model, input_tokens=input_tokens, output_tokens=output_tokens)
        if spent + estimate <= o.daily_budget:
            return True, ""
        return False, (f"Today's LLM budget is nearly spent (${spent:.2f} of ${o.daily_budget:.2f}), so the mid "
                       f"model {o.mid_model} answered instead of the premium model.")

    def _skills(self, raw: Any) -> list:
        names, skills = name_list(raw, "skills"), self.services.registry.skills
        unknown = [n for n in names if n not in skills]
        if unknown:
            raise BadInput(f"unknown skill(s): {', '.join(unknown)}. Skills: {', '.join(skills)}")
        return [skills[n] for n in names]


def build_orchestrator(services: Services, llm: LLM | None = None) -> LLMOrchestrator:
    """The orchestrator over the bot's services, with an LLM client built from their settings."""
    llm = llm or LLM.from_settings(services.settings, ledger=services.ledger, redactor=services.redactor)
    return LLMOrchestrator(services, llm)
