"""LLM tiers beyond the orchestrator itself: the premium sub-agent and the two-stage pipeline.

Both take a `Meter` that adds up tokens, cost and models for the request's reply and "why" line, and
both fall back from the premium model to the mid model (with a visible note) when premium is
unavailable or over budget. Both keep the premium input under its token budget: trimmed by our
conservative estimate first, then checked with the API's token counter (the model's own tokenizer,
free), and trimmed harder when that counts more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import anthropic

from bot.llm import LLM, LLMError, LLMResponse, Usage

log = logging.getLogger(__name__)


@dataclass
class Meter:
    """Tokens, cost, models and notes of one request, across every LLM call it makes."""

    usage: Usage = field(default_factory=Usage)
    models: list[str] = field(default_factory=list)      # in the order they were first called
    notes: list[str] = field(default_factory=list)
    visible: list[str] = field(default_factory=list)     # notes the reply text must show, too

    def add(self, response: LLMResponse) -> None:
        self.usage.add(response.usage)
        if response.model not in self.models:
            self.models.append(response.model)

    def note(self, text: str, *, visible: bool = False) -> None:
        if text not in self.notes:
            self.notes.append(text)
        if visible and text not in self.visible:
            self.visible.append(text)


def measure(llm: LLM, model: str, *, system: str, messages: list[dict[str, Any]]) -> int | None:
    """Input tokens of this prompt by `model`'s own tokenizer (the API's free counter); None if unavailable."""
    try:
        return llm.count_tokens(model=model, system=system, messages=messages)
    except anthropic.AnthropicError as exc:
        log.info("token count on %s unavailable (%s): trusting the estimate", model, type(exc).__name__)
        return None


def premium_or_mid(llm: LLM, meter: Meter, *, premium: str, mid: str, allow_premium: bool, skipped: str,
                   purpose: str, **create: Any) -> LLMResponse:
    """Call the premium model; on any failure (or when not allowed) the mid model, with a note.

    A failure of the mid model as well raises LLMError for the caller to turn into a clear reply.
    A malformed premium response (HTML, non-JSON, wrong shape) is a failure like any other. Both calls
    go through `LLM.complete`, so an answer cut at max_tokens is continued (`max_continuations`).
    """
    if allow_premium:
        try:
            response = llm.complete(model=premium, purpose=purpose, **create)
        except LLMError as exc:
            meter.note(f"The premium model is unavailable ({exc.describe()}), so the mid model {mid} "
                       f"answered instead.", visible=True)
        else:
            meter.add(response)
            return response
    else:
        meter.note(skipped, visible=True)
    response = llm.complete(model=mid, purpose=f"{purpose}:fallback", **create)
    meter.add(response)
    return response
