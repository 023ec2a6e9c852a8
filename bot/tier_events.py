"""What happened inside a tier, one row per unit of work: each fan_out subtask (ok, retried, escalated
to the mid model, failed) and each premium review of a cheaper draft (accept, reject, unavailable).

`bot stats` turns these into the cheap tier's escalation rate and the review stage's reject rate.
The table is created by one ledger migration (`migrate`, appended to bot.ledger.MIGRATIONS); this
module only needs the ledger's `db` (sqlite-utils), so it does not import bot.ledger.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

log = logging.getLogger(__name__)

SUBTASK_OUTCOMES = ("ok", "retried", "escalated", "failed")
REVIEW_OUTCOMES = ("accept", "reject", "unavailable")


def migrate(db: Any) -> None:
    """Ledger migration: the tier_events table (raw SQL, inside the migration's transaction)."""
    db.execute("""CREATE TABLE tier_events (
        id INTEGER PRIMARY KEY, request_id TEXT, kind TEXT NOT NULL, tier TEXT NOT NULL, model TEXT,
        outcome TEXT NOT NULL, detail TEXT, created_at TEXT NOT NULL)""")
    db.execute("CREATE INDEX idx_tier_events_created ON tier_events (created_at)")


def record(ledger: Any, *, request_id: str | None, kind: str, tier: str, outcome: str, model: str | None = None,
           detail: str | None = None) -> None:
    """One subtask or review. `detail` (a validation error, review reasons) must already be redacted."""
    try:
        ledger.db["tier_events"].insert({
            "request_id": request_id, "kind": kind, "tier": tier, "model": model, "outcome": outcome,
            "detail": (detail or "")[:500] or None,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")})
    except Exception:  # accounting must never take a reply down with it
        log.exception("could not record a %s event in the ledger", kind)


def events_for(ledger: Any, request_id: str) -> list[dict]:
    return list(ledger.db["tier_events"].rows_where("request_id = ?", [request_id], order_by="id"))


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def summary(ledger: Any, since_iso: str) -> dict[str, Any]:
    """{"cheap": {subtasks, ok, retried, escalated, failed, escalation_rate},
        "review": {reviews, accepted, rejected, unavailable, reject_rate}} since `since_iso`."""
    counts = {(kind, outcome): n for kind, outcome, n in ledger.db.execute(
        "SELECT kind, outcome, COUNT(*) FROM tier_events WHERE created_at >= ? GROUP BY kind, outcome",
        [since_iso])}
    sub = {o: counts.get(("subtask", o), 0) for o in SUBTASK_OUTCOMES}
    subtasks = sum(sub.values())
    # a subtask that failed had been escalated too (the mid model could not make it valid either)
    escalated = sub["escalated"] + sub["failed"]
    rev = {o: counts.get(("review", o), 0) for o in REVIEW_OUTCOMES}
    decided = rev["accept"] + rev["reject"]
    return {
        "cheap": {"subtasks": subtasks, **sub, "escalation_rate": _rate(escalated, subtasks)},
        "review": {"reviews": decided, "accepted": rev["accept"], "rejected": rev["reject"],
                   "unavailable": rev["unavailable"], "reject_rate": _rate(rev["reject"], decided)},
    }
