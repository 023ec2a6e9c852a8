"""Past requests as `bot replay` and `bot learn` see them: text, the first decision, the scripts run,
feedback, and whether someone corrected the answer later in the thread.

All ledger SQL of the learning loop is here (plain SQL both ledger backends accept), so the rest of
it works on `Past` records.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from bot.ledger import Ledger, iso

# A later message in the same thread that says the answer was wrong.
CORRECTION_RE = re.compile(
    r"""(?ix)
    ^\s*(?:no|nope|nah|wrong|incorrect|not\s+that|not\s+quite|actually|i\s+meant|i\s+mean|that'?s\s+not|that\s+is\s+not)\b
    | \bwrong\s+(?:tool|script|answer|one|thing)\b | \bnot\s+what\s+i\s+(?:asked|wanted|meant)\b
    """
)


@dataclass
class ScriptRun:
    script: str
    args: dict[str, Any]
    status: str


@dataclass
class Past:
    id: str
    text: str
    source: str | None
    user: str | None
    channel: str | None
    thread_ts: str | None
    received_at: str
    feedback: str | None
    tier: str | None = None               # the first decision: how the request was decided
    decided_by: str | None = None
    script: str | None = None
    runs: list[ScriptRun] = field(default_factory=list)
    tokens: int = 0
    follow_up: bool = False               # not the first request of its thread
    corrected: str | None = None          # the later message in the thread that corrected it

    @property
    def answered_by(self) -> str | None:
        """The script whose output answered it: exactly one successful run."""
        ok = [r for r in self.runs if r.status == "ok"]
        return ok[0].script if len(self.runs) == 1 and len(ok) == 1 else None

    @property
    def was(self) -> str:
        """What the pre-router decided then: a script name, or 'orchestrator'."""
        if self.tier == "script" and self.decided_by in ("pre-router", "command") and self.script:
            return self.script
        return "orchestrator"


_IN_WINDOW = "SELECT id FROM requests WHERE received_at >= ?"


def load_history(ledger: Ledger, since: dt.datetime) -> list[Past]:
    """Requests received since `since` (oldest first), jobs left out: they do not route text."""
    at = iso(since)
    rows = ledger.db.execute(
        'SELECT id, text, source, "user", channel, thread_ts, received_at, feedback FROM requests '
        "WHERE received_at >= ? AND (source IS NULL OR source != 'job') ORDER BY received_at, id", [at]).fetchall()
    history = {row[0]: Past(*row) for row in rows}
    for request_id, tier, decided_by, script in ledger.db.execute(
            f"SELECT request_id, tier, decided_by, script FROM decisions WHERE request_id IN ({_IN_WINDOW}) "
            "ORDER BY id", [at]).fetchall():
        past = history.get(request_id)
        if past is not None and past.tier is None:
            past.tier, past.decided_by, past.script = tier, decided_by, script
    for request_id, script, args, status in ledger.db.execute(
            f"SELECT request_id, script, args, status FROM script_runs WHERE request_id IN ({_IN_WINDOW}) "
            "ORDER BY id", [at]).fetchall():
        if request_id in history:
            try:
                parsed = json.loads(args or "{}")
            except ValueError:
                parsed = {}
            history[request_id].runs.append(ScriptRun(script, parsed if isinstance(parsed, dict) else {}, status))
    for request_id, total in ledger.db.execute(
            f"SELECT request_id, SUM(input_tokens + output_tokens) FROM llm_calls WHERE request_id IN ({_IN_WINDOW}) "
            "GROUP BY request_id", [at]).fetchall():
        if request_id in history:
            history[request_id].tokens = int(total or 0)
    _mark_threads(list(history.values()))
    return list(history.values())


def _mark_threads(history: list[Past]) -> None:
    threads: dict[tuple[str, str], list[Past]] = {}
    for past in history:
        if past.channel and past.thread_ts:
            threads.setdefault((past.channel, past.thread_ts), []).append(past)
    for items in threads.values():
        for i, past in enumerate(items):
            past.follow_up = i > 0
            later = next((p.text for p in items[i + 1:] if CORRECTION_RE.search(p.text or "")), None)
            past.corrected = later
