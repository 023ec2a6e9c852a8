"""The premium sub-agent: one call to the premium model with pruned context.

It sees only what the orchestrator chose — the named skill bodies, the named memory notes, and an
excerpt — under an input budget (BOT_PREMIUM_INPUT_BUDGET, default 8,000 tokens, or the skill's
`budget_tokens`). Over budget, text is trimmed oldest-first with a marker: the excerpt's earliest lines
first, then the memory notes' earliest lines, then the skills' last lines. Nothing named is dropped whole.
The budget is kept by the premium model's own count: when its tokenizer counts more than our estimate
(code on the newer tokenizers does), the prompt is built again with the estimate scaled up to match.
The system prompt (role + skills, and the code route's standing task) is marked as a cached prefix: the
same skill set gives the same prefix, and the API ignores the marker below its minimum cacheable size.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

from bot.entries import SkillEntry
from bot.llm import LLM, LLMResponse
from bot.memory import MemoryStore
from bot.prompts import BUDGET_CHARS_PER_TOKEN, CACHE, PREMIUM_ROLE, budget_tokens, quote
from bot.registry import Registry
from bot.tiers import Meter, measure, premium_or_mid
from bot.tiers.budgets import Budget, Budgets, higher

MIN_KEEP_TOKENS = 40
DENSITY_MARGIN = 1.05   # trimmed text and what stays need not have the same tokens per character


@dataclass
class Part:
    kind: str          # skill | memory | excerpt
    name: str
    text: str
    trimmed: int = 0   # lines trimmed

    def render(self) -> str:
        if self.kind == "skill":
            return f"# Skill: {self.name}\n{self.text}"
        if self.kind == "memory":
            return quote("memory", self.text, name=self.name)
        return quote("excerpt", self.text)


@dataclass
class PremiumPrompt:
    system: str
    messages: list[dict[str, Any]]
    estimate: int                          # conservative token estimate of the whole input
    budget: int
    notes: list[str] = field(default_factory=list)


def trim_head(text: str, max_tokens: int, budget: int) -> tuple[str, int]:
    """Keep the latest lines that fit; a marker says how many earlier lines went."""
    lines = text.splitlines()
    kept: list[str] = []
    used = budget_tokens("[… 000 earlier lines trimmed to fit the 00,000-token budget …]")
    partial = False
    for line in reversed(lines):
        cost = budget_tokens(line) - 3
        if used + cost > max_tokens:
            if not kept:  # one huge line: keep its end
                room = max(0, int((max_tokens - used) * BUDGET_CHARS_PER_TOKEN) - 8)
                kept.append("…" + line[-room:] if room else "…")
                partial = True
            break
        kept.append(line)
        used += cost
    kept.reverse()
    dropped = len(lines) - len(kept) + partial
    if dropped <= 0:
        return text, 0
    marker = f"[… {dropped} earlier line(s) trimmed to fit the {budget:,}-token budget …]"
    return "\n".join([marker, *kept]), dropped


def trim_tail(text: str, max_tokens: int, budget: int) -> tuple[str, int]:
    """Keep the first lines that fit; a marker says how many later lines went."""
    lines = text.splitlines()
    kept: list[str] = []
    used = budget_tokens("[… 000 later lines trimmed to fit the 00,000-token budget …]")
    for line in lines:
        cost = budget_tokens(line) - 3
        if used + cost > max_tokens:
            break
        kept.append(line)
        used += cost
    dropped = len(lines) - len(kept)
    if dropped <= 0:
        return text, 0
    return "\n".join([*kept, f"[… {dropped} later line(s) trimmed to fit the {budget:,}-token budget …]"]), dropped


def build_prompt(*, task: str, skills: list[SkillEntry], memory: list[tuple[str, str]], excerpt: str,
                 budget: int, density: float = 1.0, fixed_task: bool = False) -> PremiumPrompt:
    """The premium prompt within `budget` tokens; `density`: the model's tokens per estimated token (≥ 1).
    `fixed_task`: the task is a standing instruction (the code route's, one per rule), so it goes in the
    system prompt after the skills — a prefix that is the same on every such call and can be cached."""
    parts = [Part("skill", s.name, s.body()) for s in skills]
    parts += [Part("memory", name, body) for name, body in memory]
    if excerpt.strip():
        parts.append(Part("excerpt", "excerpt", excerpt.strip()))
    task_text = f"Task:\n{task.strip()}"

    def total() -> int:
        system, user = _render(parts, task_text, fixed_task)
        return math.ceil((budget_tokens(system) + budget_tokens(user) + 8) * density)

    over = total() - budget
    notes: list[str] = []
    order = ([p for p in parts if p.kind == "excerpt"] + [p for p in parts if p.kind == "memory"]
             + [p for p in reversed(parts) if p.kind == "skill"])
    for part in order:
        if over <= 0:
            break
        current = budget_tokens(part.text)
        target = max(MIN_KEEP_TOKENS, current - math.ceil(over / density))
        trim = trim_tail if part.kind == "skill" else trim_head
        part.text, part.trimmed = trim(part.text, target, budget)
        over = total() - budget
        if part.trimmed:
            where = "last" if part.kind == "skill" else "earliest"
            label = part.kind if part.kind == "excerpt" else f"{part.kind} {part.name}"
            notes.append(f"{label}: {part.trimmed} {where} line(s) trimmed")
    if over > 0:  # the task alone is too big: keep its start and end
        room = max(200, int((budget_tokens(task_text) - over / density) * BUDGET_CHARS_PER_TOKEN))
        task_text = task_text[: room // 2] + "\n[… task trimmed to fit the budget …]\n" + task_text[-room // 2:]
        notes.append("task trimmed")
    system, user = _render(parts, task_text, fixed_task)
    return PremiumPrompt(system, [{"role": "user", "content": user}], total(), budget, notes)


def _render(parts: list[Part], task_text: str, fixed_task: bool = False) -> tuple[str, str]:
    """(system, user): skill bodies in the system prompt; memory, excerpt and the task in the user turn
    (a fixed task at the end of the system prompt instead)."""
    system = PREMIUM_ROLE + "".join("\n\n" + p.render() for p in parts if p.kind == "skill")
    data = [p.render() for p in parts if p.kind != "skill"]
    if fixed_task and data:
        return system + "\n\n" + task_text, "\n\n".join(data)
    return system, "\n\n".join([*data, task_text])


class PremiumAgent:
    def __init__(self, llm: LLM, registry: Registry, memory: MemoryStore | None, *, premium_model: str,
                 mid_model: str, default_budget: int, budgets: Budgets):
        self.llm = llm
        self.registry = registry
        self.memory = memory
        self.premium_model = premium_model
        self.mid_model = mid_model
        self.default_budget = default_budget
        self.budgets = budgets

    def output(self, skills: list[SkillEntry], *, code_route: bool = False) -> Budget:
        """Effort (the tier's — or the code route's — or more if a skill asks) and max_tokens of the call."""
        b = (self.budgets.code or self.budgets.premium) if code_route else self.budgets.premium
        return Budget(higher(b.effort, *(s.effort for s in skills)), b.max_tokens)

    def budget_for(self, skills: list[SkillEntry]) -> int:
        budgets = [s.budget_tokens for s in skills if s.budget_tokens]
        return max(budgets) if budgets else self.default_budget

    def prompt(self, *, task: str, skills: list[SkillEntry], memory: list[str], excerpt: str,
               budget: int | None = None, fixed_task: bool = False) -> PremiumPrompt:
        notes = []
        for name in memory:
            note = self.memory.get(name) if self.memory else None
            if note is not None:
                notes.append((note.name, note.body))
        budget = budget or self.budget_for(skills)
        build = functools.partial(build_prompt, task=task, skills=skills, memory=notes, excerpt=excerpt,
                                  budget=budget, fixed_task=fixed_task)
        prompt = build()
        counted = measure(self.llm, self.premium_model, system=prompt.system, messages=prompt.messages)
        if counted is not None and counted > budget:   # the model's tokenizer counts more than our estimate
            prompt = build(density=DENSITY_MARGIN * counted / prompt.estimate)
        return prompt

    def run(self, prompt: PremiumPrompt, meter: Meter, *, request_id: str | None, allow_premium: bool = True,
            skipped: str = "", output: Budget | None = None, progress: Any = None) -> LLMResponse:
        output = output or self.budgets.premium
        if prompt.notes:
            meter.note(f"Premium context trimmed to fit {prompt.budget:,} tokens ({'; '.join(prompt.notes)}).")
        return premium_or_mid(self.llm, meter, premium=self.premium_model, mid=self.mid_model,
                              allow_premium=allow_premium, skipped=skipped, purpose="premium",
                              system=[{"type": "text", "text": prompt.system, "cache_control": CACHE}],
                              messages=prompt.messages, max_tokens=output.max_tokens,
                              effort=output.effort, request_id=request_id, progress=progress, stream=True,
                              max_continuations=self.budgets.continuations)
