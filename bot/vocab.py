"""The words the ledger, `bot stats` and the "why?" footer use for a request: one place, checked types.

- Tier: who answered. `script` a registry script · `direct` the mid model itself (a skill or not) ·
  `cheap` parallel specialists (fan_out) · `premium` the premium sub-agent · `pipeline` draft →
  implement → review · `memory` a remember/forget/recall command · `none` nobody (refused, no LLM).
- DecidedBy: what chose the tier. `pre-router` (deterministic, 0 tokens) · `orchestrator` (the mid
  model's first tool) · `command` (/run, `run …`, a confirmation click, a memory command) · `job` (a
  scheduled job) · `rate-limit` (over the per-user LLM rate: refused before any model).
- Outcome: how the request ended. `ok` · `error` · `refused` (not allowed, bad arguments, over a
  limit) · `timeout` · `awaiting_confirmation` (a write waits for its requester) · `cancelled`
  (the requester said no, or the confirmation expired).
"""

from __future__ import annotations

from typing import Literal, get_args

Tier = Literal["script", "direct", "cheap", "premium", "pipeline", "memory", "none"]
SkillTier = Literal["direct", "premium", "pipeline"]          # what a skill's front matter may ask for
DecidedBy = Literal["pre-router", "orchestrator", "command", "job", "rate-limit"]
Outcome = Literal["ok", "error", "refused", "timeout", "awaiting_confirmation", "cancelled"]

TIERS: tuple[str, ...] = get_args(Tier)
DECIDED_BY: tuple[str, ...] = get_args(DecidedBy)
OUTCOMES: tuple[str, ...] = get_args(Outcome)
