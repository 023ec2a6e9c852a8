"""Effort and output budgets per tier (env settings, see README), and what a stop reason means for
the answer the user gets.

max_tokens holds adaptive thinking AND the answer (thinking tokens count toward it on the 5.5
models), so it is thousands for the mid model and tens of thousands for premium and pipeline stage 2.
A skill may ask for more effort in its front matter (`effort: xhigh`); it never lowers a tier's.
Stop reasons (bot/models.py STOP_PAGE): end_turn, stop_sequence, tool_use → use as is; max_tokens →
continued by LLM.complete, and if still cut, delivered as a file with a clear note; refusal → said
plainly; pause_turn → the caller sends the turn back to let it continue; model_context_window_exceeded
→ a note that the input was too long.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.llm import LLMResponse
from bot.models import EFFORTS
from bot.request import Artifact


@dataclass(frozen=True)
class Budget:
    effort: str
    max_tokens: int


@dataclass(frozen=True)
class Budgets:
    orchestrator: Budget
    premium: Budget
    stage1: Budget
    stage2: Budget
    continuations: int = 2
    code: Budget | None = None      # the code route (bot/tiers/code_route.py); None: the premium budget

    @classmethod
    def from_settings(cls, s: Any) -> Budgets:
        return cls(Budget(s.bot_effort_orchestrator, s.bot_max_tokens_orchestrator),
                   Budget(s.bot_effort_premium, s.bot_max_tokens_premium),
                   Budget(s.bot_effort_pipeline_stage1, s.bot_max_tokens_pipeline_stage1),
                   Budget(s.bot_effort_pipeline_stage2, s.bot_max_tokens_pipeline_stage2),
                   s.bot_llm_max_continuations, Budget(s.bot_effort_code, s.bot_max_tokens_premium))


def higher(effort: str, *asked: str | None) -> str:
    """The highest of a tier's effort and what skills ask for."""
    return max([effort, *(a for a in asked if a in EFFORTS)], key=EFFORTS.index)


CODE_FILE_CHARS = 3_000    # a fenced block this long (a code module) goes out as a file, not inline
_FENCE = re.compile(r"```([A-Za-z0-9_+-]*)([^\n]*)\n(.*?)\n```", re.S)
_NAMED = re.compile(r"(?:title|file(?:name)?)=[\"']?([\w.-]+\.\w+)")
_EXT = {"python": "py", "py": "py", "javascript": "js", "js": "js", "typescript": "ts", "ts": "ts", "go": "go",
        "rust": "rs", "java": "java", "ruby": "rb", "bash": "sh", "sh": "sh", "shell": "sh", "sql": "sql",
        "yaml": "yaml", "json": "json", "html": "html", "css": "css", "tsx": "tsx", "jsx": "jsx", "diff": "diff"}


def code_file(text: str, stem: str) -> Artifact | None:
    """The longest fenced code block as a file when it is a module rather than a snippet."""
    blocks = _FENCE.findall(text)
    if not blocks:
        return None
    lang, info, code = max(blocks, key=lambda b: len(b[2]))
    if len(code) < CODE_FILE_CHARS:
        return None
    named = _NAMED.search(info)
    return Artifact(named.group(1) if named else f"{stem}.{_EXT.get(lang.lower(), 'txt')}", code.rstrip() + "\n")


REFUSED = "The model declined to answer this request (stop reason: refusal)."
TOO_LONG_INPUT = "The conversation reached the model's context window; the answer may be incomplete."


@dataclass
class Settled:
    text: str
    artifact: Artifact | None = None
    note: str | None = None          # visible note for the reply
    outcome: str = "ok"


def settle(response: LLMResponse, *, name: str) -> Settled:
    """What the user gets from a final response, by its stop reason. Never a silently cut answer."""
    reason = response.stop_reason
    text = response.text
    if reason == "refusal":
        return Settled(text or REFUSED, note=None if not text else REFUSED, outcome="refused")
    if reason == "model_context_window_exceeded":
        return Settled(text, note=TOO_LONG_INPUT)
    if reason == "max_tokens":
        more = f" after {response.continuations} continuation(s)" if response.continuations else ""
        note = (f"The answer reached the output limit{more} and is incomplete; the full text so far is "
                f"attached as `{name}`.")
        return Settled(text, artifact=Artifact(name, text + "\n\n[… cut at the output limit …]\n"), note=note)
    return Settled(text, artifact=code_file(text, name.rsplit(".", 1)[0]))
