"""Context sizes: the orchestrator's base prompt with the full catalog vs a naive prompt, and the largest
premium sub-agent input in realistic scenarios.

Prints:
  1. orchestrator base prompt (role + index of every script and skill + the five tools), exactly as
     bot/orchestrator.py sends it — target ≤ 2,500 tokens with 61 scripts and all skills;
  2. the same for a naive prompt (every skill body + every script's full schema as a tool);
  3. the premium sub-agent's input in three scenarios run through the real bot and the fake server
     (code review of a big pasted diff, debugging from a long thread + a memory note, the premium review
     of the landing-page pipeline's mid-model build: content + draft) — target ≤ 8,000 tokens.
Both prompts are counted the same way: the API's counter (`messages.count_tokens`) when
ANTHROPIC_API_KEY is set, else an offline estimate; the method is printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._fakes import (  # noqa: E402
    CATALOG_TARGET,
    OFFLINE_METHOD,
    PESSIMISTIC_CHARS_PER_TOKEN,
    BenchBot,
    count_pessimistic,
    diff_text,
    filler,
    load_catalog,
    naive_prompt,
)
from bot.config import Settings  # noqa: E402
from bot.prompts import orchestrator_system, orchestrator_tools  # noqa: E402
from bot.request import Incoming  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic, Reply, estimate_input_tokens  # noqa: E402

TARGET_BASE = 2500
TARGET_PREMIUM = 8000


def counter() -> tuple[str, Callable[[dict[str, Any]], int]]:
    """(method, count(request body)) — the API's counter with a key, else the offline estimate. Every
    figure below goes through it: base prompt, naive prompt and the premium requests."""
    key = os.environ.get("ANTHROPIC_API_KEY")
    if key:
        import anthropic

        from bot.config import load_settings

        settings = load_settings()
        client = anthropic.Anthropic(api_key=key, base_url=settings.anthropic_base_url or None, max_retries=2)

        def count(body: dict[str, Any]) -> int:
            fields = {k: body[k] for k in ("model", "system", "tools", "messages") if body.get(k)}
            return client.messages.count_tokens(**fields).input_tokens
        return "Anthropic token counter (messages.count_tokens, each request's own model)", count
    return OFFLINE_METHOD, estimate_input_tokens


def prompt_body(model: str, system: Any, tools: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model": model, "system": system, "tools": tools, "messages": [{"role": "user", "content": "."}]}


def premium_scenarios(count: Callable[[dict[str, Any]], int]) -> list[tuple[str, int, str]]:
    """Run three premium scenarios through the real bot; (name, premium input tokens, note)."""
    out = []
    with FakeAnthropic() as fake:
        bench = BenchBot(fake)
        bot = bench.bot
        premium = bot.settings.bot_model_premium
        try:
            def run(name: str, incoming: Incoming, turns: list) -> None:
                fake.reset()
                fake.enqueue(*turns)
                reply = bot.handle(incoming)
                size = max((count(r.body) for r in fake.message_requests if r.model == premium), default=0)
                out.append((name, size, "; ".join(reply.notes) or "no trimming"))

            diff = diff_text(600)
            run("code-review, 600-line diff pasted", Incoming("review this diff please\n" + diff, user="U1"), [
                Reply.tool_use("delegate_premium", {"task": "Review the pasted diff for correctness and security.",
                                                    "skills": ["code-review"], "context": "[[request]]",
                                                    "reason": "code review is premium work"}),
                Reply.text(filler(700))])

            bot.memory.remember("Payments service runs on Python 3.12 behind gunicorn with 4 workers; "
                                "Redis is the session store. Deploys go through Vercel for the web app.", "U1")
            note = bot.memory.notes()[0].name
            thread = [{"user": f"U{i % 5}", "text": filler(180, seed=i)} for i in range(40)]
            thread.append({"user": "U2", "text": "Traceback (most recent call last):\n" + "\n".join(
                f'  File "/app/payments/handlers.py", line {100 + i}, in handle\n    result = process(event)'
                for i in range(40)) + "\nKeyError: 'customer_id'"})
            run("debug-helper, 41-message thread + memory", Incoming("why does this keep crashing?", user="U1",
                                                                      thread=thread), [
                Reply.tool_use("delegate_premium", {"task": "Find the cause of the KeyError and propose a fix.",
                                                    "skills": ["debug-helper"], "memory": [note],
                                                    "context": "[[thread]]", "reason": "debugging"}),
                Reply.text(filler(600))])

            run("landing-page pipeline, premium review", Incoming("make a landing page for deploy previews",
                                                                  user="U1"), [
                Reply.tool_use("run_pipeline", {"skill": "landing-page", "reason": "content then HTML",
                                                "brief": "Deploy Previews: a preview URL for every branch. " + filler(150)}),
                Reply.text("# Ship with confidence\n" + filler(1100, seed=3)),
                Reply.text("```html\n<!doctype html>\n" + filler(2500, seed=5) + "\n```"),  # the mid build
                Reply.text('{"verdict": "accept", "reasons": []}')])          # review: true (its SKILL.md)
        finally:
            bench.close()
    return out


def main() -> int:
    registry, padded = load_catalog(CATALOG_TARGET)
    method, count = counter()
    model = Settings(_env_file=None).bot_model_mid
    system = orchestrator_system(registry, [])
    tools = orchestrator_tools()
    base = count(prompt_body(model, system, tools))
    naive_system, naive_tools = naive_prompt(registry)
    naive = count(prompt_body(model, naive_system, naive_tools))

    print(f"token counting: {method}")
    real = len(registry.scripts) - padded
    pad_note = f" ({real} real + {padded} synthetic copies of real entries, until the catalog is complete)" \
        if padded else ""
    print(f"catalog: {len(registry.scripts)} scripts{pad_note}, {len(registry.skills)} skills")
    print()
    print(f"orchestrator base prompt (role + index + {len(tools)} tools): {base:>7,} tokens   "
          f"target ≤ {TARGET_BASE:,}  {'OK' if base <= TARGET_BASE else 'OVER'}")
    print(f"naive prompt (all skill bodies + all script schemas): {naive:>7,} tokens   "
          f"({naive / base:.1f}× the orchestrator's)")
    if not os.environ.get("ANTHROPIC_API_KEY"):
        print(f"  pessimistic (chars / {PESSIMISTIC_CHARS_PER_TOKEN}): base {count_pessimistic(system, tools):,}, "
              f"naive {count_pessimistic(naive_system, naive_tools):,}")
    print()
    print("premium sub-agent input (requests the bot sent to the fake server, counted the same way):")
    scenarios = premium_scenarios(count)
    for name, size, note in scenarios:
        print(f"  {name:<42} {size:>6,} tokens  — {note[:110]}")
    largest = max(size for _, size, _ in scenarios)
    print(f"largest premium sub-agent input: {largest:,} tokens   target ≤ {TARGET_PREMIUM:,}  "
          f"{'OK' if largest <= TARGET_PREMIUM else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
