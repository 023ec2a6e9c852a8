"""Text and Block Kit renderings of jobs and their runs: shared by `/ops jobs` (JobService) and the
`bot jobs` CLI, so the service never imports the CLI."""

from __future__ import annotations

from typing import Any

STATE_ICONS = {"scheduled": "🟢", "disabled": "⛔", "off": "⚪", "waiting": "⏳", "invalid": "❗"}


def short_time(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "—"


def state_label(job: dict[str, Any]) -> str:
    if job["state"] == "disabled":
        return f"disabled: {job.get('disabled_reason') or '?'}"
    if job["state"] == "waiting":
        return f"waiting for {job['waiting_for']}"
    if job["state"] == "invalid":
        return f"invalid: {job['waiting_for']}"
    if job["state"] == "off":
        return "off in registry"
    return "running" if job.get("running") else "scheduled"


def jobs_text(jobs: list[dict[str, Any]], *, mrkdwn: bool = True) -> str:
    """One line per job (Slack mrkdwn, or plain for a terminal)."""
    if not jobs:
        return "No jobs. Add them to registry/jobs.yaml."
    lines = []
    for j in jobs:
        failures = f" · failures {j['consecutive_failures']}/{j['max_failures']}" if j["consecutive_failures"] else ""
        last = f" · last {j['last_status']} {short_time(j['last_run_at'])}" if j["last_status"] else ""
        nxt = f" · next {short_time(j['next_run'])} UTC" if j["next_run"] else ""
        name, schedule = (f"*{j['name']}*", f"`{j['schedule']}`") if mrkdwn else (j["name"], j["schedule"])
        lines.append(f"{STATE_ICONS.get(j['state'], '•')} {name} — {state_label(j)} · {schedule} "
                     f"{j['timezone']} → {j['target']}{failures}{last}{nxt}")
    return "\n".join(lines)


def jobs_blocks(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from slack_sdk.models.blocks import (
        ContextBlock,
        HeaderBlock,
        MarkdownTextObject,
        PlainTextObject,
        SectionBlock,
    )

    scheduled = sum(j["state"] == "scheduled" for j in jobs)
    blocks: list[Any] = [HeaderBlock(text=PlainTextObject(text=f"Jobs: {scheduled} of {len(jobs)} scheduled"))]
    lines = jobs_text(jobs).splitlines()
    for start in range(0, len(lines), 10):                 # ≤ 3000 chars per section, ≤ 50 blocks
        if len(blocks) >= 48:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"… {len(lines) - start} more")]))
            break
        chunk = "\n".join(lines[start:start + 10])
        blocks.append(SectionBlock(text=MarkdownTextObject(text=chunk[:2990])))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(
        text="`/ops jobs run NAME` · `enable NAME` · `disable NAME [reason]` · `history NAME`")]))
    return [b.to_dict() for b in blocks]


def history_text(name: str, runs: list[dict[str, Any]]) -> str:
    if not runs:
        return f"`{name}` has not run yet."
    lines = [f"Last {len(runs)} runs of `{name}`:"]
    for r in runs:
        took = f" in {r['duration_ms'] / 1000:.1f}s" if r.get("duration_ms") is not None else ""
        error = f" — {r['error'][:200]}" if r.get("error") else ""
        lines.append(f"• #{r['id']} {short_time(r['started_at'])} UTC {r['status']}{took} ({r.get('trigger') or '?'})"
                     f"{error}")
    return "\n".join(lines)
