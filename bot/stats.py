"""`bot stats`: requests by tier, zero-token share, tokens and cost, errors, latency percentiles."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from bot import tier_events
from bot.ledger import Ledger, iso


def parse_since(text: str) -> dt.datetime:
    """'24h', '7d', '30m' → the UTC moment that long ago."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", text or "")
    if not match:
        raise ValueError(f"--since {text!r}: expected e.g. 30m, 24h or 7d")
    n, unit = int(match.group(1)), match.group(2)
    delta = {"m": dt.timedelta(minutes=n), "h": dt.timedelta(hours=n), "d": dt.timedelta(days=n)}[unit]
    return dt.datetime.now(dt.UTC) - delta


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 1)


# The first decision of a request is its tier (later ones are confirmations and follow-ups).
_REQUESTS_SQL = """
SELECT r.id, r.outcome, r.latency_ms, r.feedback,
       COALESCE(d.tier, 'none') AS tier, d.decided_by, d.misclassified,
       COALESCE(l.input_tokens, 0) AS input_tokens, COALESCE(l.output_tokens, 0) AS output_tokens,
       COALESCE(l.cache_read_tokens, 0) AS cache_read_tokens,
       COALESCE(l.cache_write_tokens, 0) AS cache_write_tokens, COALESCE(l.cost_usd, 0) AS cost_usd
FROM requests r
LEFT JOIN decisions d ON d.id = (SELECT MIN(id) FROM decisions WHERE request_id = r.id)
LEFT JOIN (SELECT request_id, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens,
                  SUM(cache_read_tokens) AS cache_read_tokens, SUM(cache_write_tokens) AS cache_write_tokens,
                  SUM(cost_usd) AS cost_usd
           FROM llm_calls GROUP BY request_id) l ON l.request_id = r.id
WHERE r.received_at >= ?
"""


def compute_stats(ledger: Ledger, since: dt.datetime) -> dict[str, Any]:
    since_iso = iso(since)
    rows = list(ledger.db.query(_REQUESTS_SQL, [since_iso]))
    by_tier: dict[str, dict[str, Any]] = {}
    latencies: dict[str, list[float]] = {}
    for row in rows:
        tier = by_tier.setdefault(row["tier"], {
            "requests": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0,
            "cache_write_tokens": 0, "cost_usd": 0.0, "errors": 0, "thumbs_down": 0})
        tier["requests"] += 1
        for key in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd"):
            tier[key] += row[key]
        tier["errors"] += row["outcome"] in ("error", "timeout") or row["outcome"] is None
        tier["thumbs_down"] += row["feedback"] == "down"
        if row["latency_ms"] is not None:
            latencies.setdefault(row["tier"], []).append(row["latency_ms"])
    for name, tier in by_tier.items():
        tier["cost_usd"] = round(tier["cost_usd"], 6)
        tier["p50_ms"] = percentile(latencies.get(name, []), 0.5)
        tier["p95_ms"] = percentile(latencies.get(name, []), 0.95)

    by_model = {
        row[0]: {"calls": row[1], "input_tokens": row[2], "output_tokens": row[3], "cache_read_tokens": row[4],
                 "cache_write_tokens": row[5], "cost_usd": round(row[6], 6), "errors": row[7]}
        for row in ledger.db.execute(
            "SELECT model, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), "
            "SUM(cache_write_tokens), SUM(cost_usd), SUM(error IS NOT NULL) FROM llm_calls "
            "WHERE created_at >= ? GROUP BY model ORDER BY model", [since_iso])
    }
    script_failures = {
        row[0]: {"runs": row[1], "failures": row[2], "last_error": row[3]}
        for row in ledger.db.execute(
            "SELECT script, COUNT(*), SUM(status != 'ok'), "
            "(SELECT error FROM script_runs s2 WHERE s2.script = s.script AND s2.status != 'ok' "
            " ORDER BY id DESC LIMIT 1) FROM script_runs s WHERE created_at >= ? GROUP BY script "
            "HAVING SUM(status != 'ok') > 0 ORDER BY 3 DESC", [since_iso])
    }
    total = len(rows)
    zero = sum(1 for r in rows if r["input_tokens"] + r["output_tokens"] == 0)
    errors = sum(t["errors"] for t in by_tier.values())
    return {
        "since": since_iso,
        "requests": total,
        "zero_token_share": round(zero / total, 4) if total else 0.0,
        "error_rate": round(errors / total, 4) if total else 0.0,
        "cost_usd": round(sum(t["cost_usd"] for t in by_tier.values()), 6),
        "possible_misclassifications": sum(1 for r in rows if r["misclassified"]),
        "by_tier": by_tier,
        "by_model": by_model,
        "script_failures": script_failures,
        **_quality(ledger, since_iso),
    }


def _quality(ledger: Ledger, since_iso: str) -> dict[str, Any]:
    """The cheap tier's subtasks and escalation rate, the review stage's reject rate."""
    events = tier_events.summary(ledger, since_iso)
    return {**events, "escalation_rate": events["cheap"]["escalation_rate"],
            "reject_rate": events["review"]["reject_rate"]}
