"""Code goes straight to premium: a request that is mostly code, a diff or a stack trace (bot.code_detect,
0 tokens) is answered by the premium sub-agent with pruned context — the request, the last few thread
messages and the one skill that fits the rule — and the mid model never reads it.

The call runs at BOT_EFFORT_CODE (default `medium`, the premium model's own default), not the premium
tier's `high`: the task is fully specified — everything it needs is in the message, one call, no tools —
which is what Anthropic's effort guide puts at medium; `high` is for complex reasoning and agentic work,
which is what a `delegate_premium` (the orchestrator judged the task hard) keeps. A skill may ask for more.

The decision is the pre-router's (`decided_by: pre-router`), its reason the detector's rule, share and
threshold. Budget and availability rules are the premium sub-agent's own: over today's budget or with
premium down, the mid model answers instead, with a visible note.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.code_detect import detect
from bot.llm import LLMError
from bot.prompts import prune_thread, quote

log = logging.getLogger(__name__)

RULE_SKILL = {"diff": "code-review", "stack_trace": "debug-helper", "code": None}
TASK = {
    "diff": "The user's Slack message (in <excerpt>) is mostly a diff. Do what they ask; if they only "
            "pasted it, review it: correctness, security, tests, with concrete fixes.",
    "stack_trace": "The user's Slack message (in <excerpt>) is mostly a stack trace. Do what they ask; if they "
                   "only pasted it, say what failed, the likely causes ranked, how to confirm, and the fix.",
    "code": "The user's Slack message (in <excerpt>) is mostly code. Do what they ask; if they only pasted "
            "it, explain what it does and point out bugs, with fixes.",
}
THREAD_MESSAGES = 6
THREAD_CHARS = 2000


def code_to_premium(request: Any) -> Any:
    """The reply when the request is mostly code (the premium sub-agent answered), else None."""
    ctx, services, o = request.ctx, request.services, request.o
    verdict = detect(ctx.incoming.text)
    if not verdict.is_code:
        return None
    if o.daily_budget is not None and (o.daily_budget == 0 or services.ledger.spend_today() >= o.daily_budget):
        return None   # the orchestrator's own refusal says LLM spend is off or spent
    log.info("request %s: %s → premium", ctx.request_id, verdict.reason)
    skill = services.registry.skills.get(RULE_SKILL[verdict.rule] or "")
    services.ledger.record_decision(ctx.request_id, tier="premium", decided_by="pre-router", reason=verdict.reason,
                                    score=verdict.share, candidates=ctx.route.candidates,
                                    skill=skill.name if skill else None)
    request.tier = "premium"
    thread = prune_thread([{"user": m.get("user", ""), "text": services.redactor(m.get("text", ""))}
                           for m in ctx.incoming.thread], max_messages=THREAD_MESSAGES, max_chars=THREAD_CHARS)
    excerpt = services.redactor(ctx.incoming.text)
    if thread:
        excerpt = "Earlier messages in the Slack thread:\n" + quote("thread", thread) + "\n\nThe message:\n" + excerpt
    skills = [skill] if skill else []
    try:
        output = o.premium.output(skills, code_route=True)
        budget = min(o.premium.budget_for(skills), request.room() - output.max_tokens)
        prompt = o.premium.prompt(task=TASK[verdict.rule], skills=skills, memory=[], excerpt=excerpt,
                                  budget=budget, fixed_task=True)
        allowed, skipped = request.premium_allowed(prompt.estimate, output.max_tokens)
        response = o.premium.run(prompt, request.meter, request_id=ctx.request_id, allow_premium=allowed,
                                 skipped=skipped, output=output, progress=ctx.incoming.progress)
    except LLMError as exc:
        return request.unavailable(exc)
    reply = request.finish_response(response)
    reply.decided_by = "pre-router"
    return reply
