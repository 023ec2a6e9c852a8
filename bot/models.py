"""Model profiles: what each model accepts, so bot/llm.py never sends what a model rejects.

Per model: context window, max output, default effort, the effort levels it takes, whether thinking can
be turned off, the request features it rejects with a 400, the minimum cacheable prompt, and the
`max_tokens` above which a call must stream. Every row cites its pages, all read on READ_ON:

- MODEL_PAGE/<model>/overview: context, max output, thinking, default effort (the comparison table);
- MODEL_PAGE/<model>/migration-guide: the settings that return a 400 on the 5.5 generation — thinking
  budgets (`thinking: {type: enabled}`), sampling parameters (non-default temperature/top_p/top_k),
  assistant prefill (a final assistant turn), forced tool choice (`tool_choice` any/tool; not listed for
  Haiku 5.5) and `thinking: {type: disabled}` (Sonnet 5.5 takes `adaptive` and `between_tools` only;
  Opus 5.5 "thinking can't be disabled"); thinking blocks are bound to the model and conversation and
  must come back unchanged; minimum cacheable prompt 512 tokens (1,024 on Sonnet 5, 4,096 on Haiku 4.5);
- EFFORT_PAGE: `output_config.effort` is low | medium | high | xhigh | max;
- STREAM_RULE: the SDK refuses a non-streaming call whose max_tokens could take over 10 minutes
  (anthropic 2.10.0 `_calculate_nonstreaming_timeout`: 3,600 s × max_tokens / 128,000 > 600 s, i.e.
  max_tokens > 21,333).

An unknown model gets STRICTEST: every rejection of any profile, the smallest limits, no effort
parameter unless the id names a 5.x family (then that family's newest profile, with a warning).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

log = logging.getLogger(__name__)

READ_ON = "2026-12-05"
MODEL_PAGE = "https://platform.claude.com/docs/en/models"
EFFORT_PAGE = "https://platform.claude.com/docs/en/build-with-claude/effort"
THINKING_PAGE = "https://platform.claude.com/docs/en/build-with-claude/adaptive-thinking"
STOP_PAGE = "https://platform.claude.com/docs/en/build-with-claude/handling-stop-reasons"
STREAM_RULE = "https://platform.claude.com/docs/en/cli-sdks-libraries/sdks/python#long-requests"

Effort = Literal["low", "medium", "high", "xhigh", "max"]
EFFORTS: tuple[str, ...] = ("low", "medium", "high", "xhigh", "max")
NONSTREAMING_MAX = 128_000 * 600 // 3_600      # 21,333: the SDK's 10-minute rule

# Request features a model may reject (names used by the profile table and conform()).
SAMPLING = "sampling"                    # temperature / top_p / top_k at non-default values
PREFILL = "prefill"                      # messages ending with an assistant turn
THINKING_BUDGET = "thinking.enabled"     # thinking: {type: enabled, budget_tokens}
THINKING_OFF = "thinking.disabled"       # thinking: {type: disabled}
FORCED_TOOL = "tool_choice.forced"       # tool_choice: {type: any | tool}
EFFORT_PARAM = "output_config.effort"    # models before effort existed
ALL_REJECTS = frozenset({SAMPLING, PREFILL, THINKING_BUDGET, THINKING_OFF, FORCED_TOOL})

_GEN_5_5 = frozenset({SAMPLING, PREFILL, THINKING_BUDGET, THINKING_OFF, FORCED_TOOL})


@dataclass(frozen=True)
class ModelProfile:
    id: str
    context: int
    max_output: int
    default_effort: str | None          # None: the model takes no effort parameter
    efforts: tuple[str, ...]
    thinking_off: bool                   # may thinking be turned off (thinking: disabled)?
    rejects: frozenset[str]
    min_cache_tokens: int
    max_nonstreaming: int = NONSTREAMING_MAX
    adaptive_default: bool = True        # thinks without a `thinking` field; its tokens count toward max_tokens
    source: str = field(default="", compare=False)

    def takes_effort(self, effort: str) -> bool:
        return effort in self.efforts

    def must_stream(self, max_tokens: int) -> bool:
        return max_tokens > self.max_nonstreaming

    def nearest_effort(self, effort: str) -> str | None:
        """`effort` if taken, else the closest lower level it takes (a model without effort: None)."""
        if not self.efforts:
            return None
        rank = EFFORTS.index(effort) if effort in EFFORTS else EFFORTS.index("medium")
        lower = [e for e in self.efforts if EFFORTS.index(e) <= rank]
        return lower[-1] if lower else self.efforts[0]


def _src(*pages: str) -> str:
    return ", ".join(pages) + f" (read {READ_ON})"


_P = MODEL_PAGE
PROFILES: dict[str, ModelProfile] = {p.id: p for p in (
    ModelProfile("claude-opus-5-5", 1_000_000, 128_000, "medium", EFFORTS, False, _GEN_5_5, 512,
                 source=_src(f"{_P}/opus-5-5/overview", f"{_P}/opus-5-5/migration-guide", EFFORT_PAGE)),
    ModelProfile("claude-sonnet-5-5", 1_000_000, 128_000, "high", EFFORTS, False, _GEN_5_5, 512,
                 source=_src(f"{_P}/sonnet-5-5/overview", f"{_P}/sonnet-5-5/migration-guide", EFFORT_PAGE)),
    ModelProfile("claude-haiku-5-5", 1_000_000, 128_000, "medium", EFFORTS, False,
                 frozenset({SAMPLING, PREFILL, THINKING_BUDGET, THINKING_OFF}), 512,
                 source=_src(f"{_P}/haiku-5-5/overview", f"{_P}/haiku-5-5/migration-guide", EFFORT_PAGE)),
    # The previous generation: adaptive by default, thinking may be disabled, forced tool use accepted.
    ModelProfile("claude-sonnet-5", 1_000_000, 128_000, "high", EFFORTS, True,
                 frozenset({SAMPLING, THINKING_BUDGET}), 1_024,
                 source=_src(f"{_P}/sonnet-5/overview", f"{_P}/sonnet-5-5/migration-guide")),
    ModelProfile("claude-opus-5", 1_000_000, 128_000, "high", EFFORTS, True,
                 frozenset({SAMPLING, THINKING_BUDGET}), 1_024,
                 source=_src(f"{_P}/sonnet-5/overview", f"{_P}/opus-5-5/migration-guide")),
    # Haiku 4.5: extended (manual) thinking, off unless asked, no effort parameter.
    ModelProfile("claude-haiku-4-5", 200_000, 64_000, None, (), True, frozenset({EFFORT_PARAM}), 4_096,
                 adaptive_default=False, source=_src(f"{_P}/sonnet-5-5/overview", f"{_P}/haiku-5-5/migration-guide")),
)}

# Unknown ids: every rejection, the smallest limits seen, no effort parameter, streaming early.
STRICTEST = ModelProfile("unknown", 200_000, 64_000, None, (), False, ALL_REJECTS | {EFFORT_PARAM}, 4_096,
                         max_nonstreaming=8_192, source="strictest profile for an unknown model")

_DATED = re.compile(r"-\d{8}$")
_FAMILY = re.compile(r"claude-(opus|sonnet|haiku)-5")
_warned: set[str] = set()


def profile(model: str) -> ModelProfile:
    """The model's profile; a dated id uses its undated row; an unknown one the strictest profile
    (a 5.x family id keeps the newest profile of its family, whose rejections it can only add to)."""
    if model in PROFILES:
        return PROFILES[model]
    undated = _DATED.sub("", model)
    if undated in PROFILES:
        return replace(PROFILES[undated], id=model)
    family = _FAMILY.search(model)
    base = PROFILES.get(f"claude-{family.group(1)}-5-5") if family else None
    if model not in _warned:
        _warned.add(model)
        log.warning("no profile for model %r: using the %s profile", model, base.id if base else "strictest")
    if base is None:
        return replace(STRICTEST, id=model)
    return replace(base, id=model, rejects=ALL_REJECTS, max_nonstreaming=min(base.max_nonstreaming, 8_192))


def conform(params: dict[str, Any], effort: str | None) -> tuple[dict[str, Any], list[str]]:
    """The request `params` reshaped for its model: nothing the model rejects, effort set (or left out
    where the model takes none), max_tokens within its max output. (params, what was changed)."""
    prof = profile(params["model"])
    out = dict(params)
    changed: list[str] = []
    rejects = prof.rejects
    if SAMPLING in rejects:
        for name in ("temperature", "top_p", "top_k"):
            if name in out:
                out.pop(name)
                changed.append(f"dropped {name}")
    thinking = out.get("thinking")
    if isinstance(thinking, dict):
        kind = thinking.get("type")
        if (kind == "enabled" and THINKING_BUDGET in rejects) or (kind == "disabled" and not prof.thinking_off):
            out.pop("thinking")
            changed.append(f"dropped thinking.type={kind}")
    choice = out.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool") and FORCED_TOOL in rejects:
        out["tool_choice"] = {"type": "auto"}
        changed.append("forced tool_choice → auto")
    messages = out.get("messages") or []
    if PREFILL in rejects and messages and messages[-1].get("role") == "assistant":
        out["messages"] = [*messages, {"role": "user", "content": "Continue from exactly where you stopped."}]
        changed.append("final assistant turn → user turn")
    config = dict(out.get("output_config") or {})
    chosen = prof.nearest_effort(effort) if effort else None
    if chosen and EFFORT_PARAM not in rejects:
        config["effort"] = chosen
        if chosen != effort:
            changed.append(f"effort {effort} → {chosen}")
    else:
        config.pop("effort", None)
    if config:
        out["output_config"] = config
    else:
        out.pop("output_config", None)
    if out.get("max_tokens", 0) > prof.max_output:
        out["max_tokens"] = prof.max_output
        changed.append(f"max_tokens capped at {prof.max_output:,}")
    return out, changed
