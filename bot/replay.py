"""`bot replay`: every recorded request text re-routed under today's registry (0 tokens, no script runs).

Reports the decisions that would change, the requests that would now be answered at 0 tokens, and the
possible regressions: a request that would now go to a different script than the one that answered it,
or to a script after a person gave 👎 to its answer. Run it before merging a registry change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from bot.history import Past, load_history
from bot.ledger import Ledger
from bot.registry import Registry
from bot.router import PreRouter


@dataclass
class Change:
    past: Past
    now: str
    regression: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"request": self.past.id, "text": self.past.text, "was": self.past.was, "now": self.now}


@dataclass
class ReplayResult:
    requests: int = 0
    changes: list[Change] = field(default_factory=list)
    now_zero_token: int = 0

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regression]

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "changed": len(self.changes), "now_zero_token": self.now_zero_token,
                "regressions": len(self.regressions), "changes": [c.to_json() for c in self.changes]}


def replay(ledger: Ledger, registry: Registry, since: dt.datetime) -> ReplayResult:
    router = PreRouter(registry)
    result = ReplayResult()
    for past in load_history(ledger, since):
        if not (past.text or "").strip() or past.decided_by not in ("pre-router", "orchestrator", "rate-limit"):
            continue          # explicit runs, memory commands, undecided requests: nothing was routed
        result.requests += 1
        decision = router.route(past.text)
        now = decision.script if decision.tier == "script" and not decision.error and decision.script \
            else "orchestrator"
        if now == past.was:
            continue
        change = Change(past, now)
        if now != "orchestrator":
            if past.was == "orchestrator":
                result.now_zero_token += 1
            answered = past.answered_by
            if past.feedback == "down":
                change.regression = f"a person gave 👎 to this request's answer ({answered or past.tier})"
            elif answered and answered != now:
                change.regression = f"answered by {answered}, would now run {now}"
        result.changes.append(change)
    return result
