"""Terminal rendering of reports (rich)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def stats_table(stats: dict[str, Any]) -> Table:
    table = Table(title=f"{stats['requests']} requests since {stats['since'][:16]} · "
                        f"{stats['zero_token_share']:.0%} at 0 tokens · ${stats['cost_usd']:.4f}")
    for column in ("tier", "requests", "in tokens", "cached in", "out tokens", "cost", "errors", "👎", "p50 ms",
                   "p95 ms"):
        table.add_column(column, justify="right" if column != "tier" else "left")
    for tier, row in sorted(stats["by_tier"].items()):
        cached = row["cache_read_tokens"] + row["cache_write_tokens"]
        table.add_row(tier, str(row["requests"]), f"{row['input_tokens']:,}", f"{cached:,}", f"{row['output_tokens']:,}",
                      f"${row['cost_usd']:.4f}", str(row["errors"]), str(row["thumbs_down"]),
                      str(row["p50_ms"] or "—"), str(row["p95_ms"] or "—"))
    return table


def model_table(stats: dict[str, Any]) -> Table:
    table = Table(title="LLM calls by model")
    for column in ("model", "calls", "in tokens", "out tokens", "cache read", "cache write", "cost", "errors"):
        table.add_column(column, justify="right" if column != "model" else "left")
    for model, row in stats["by_model"].items():
        table.add_row(model, str(row["calls"]), f"{row['input_tokens']:,}", f"{row['output_tokens']:,}",
                      f"{row['cache_read_tokens']:,}", f"{row['cache_write_tokens']:,}", f"${row['cost_usd']:.4f}",
                      str(row["errors"]))
    return table


def quality_lines(stats: dict[str, Any]) -> list[str]:
    """The cheap tier (fan_out subtasks, escalation rate) and the review stage (reject rate), always shown."""
    cheap, review = stats["cheap"], stats["review"]
    return [f"cheap tier: {cheap['subtasks']} fan_out subtasks · {cheap['retried']} retried · "
            f"{cheap['escalated'] + cheap['failed']} escalated to mid · escalation rate {stats['escalation_rate']:.1%}",
            f"premium review: {review['reviews']} drafts reviewed · {review['rejected']} rejected · "
            f"reject rate {stats['reject_rate']:.1%}"]
