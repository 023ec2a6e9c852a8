"""`bot jobs list|run|enable|disable|history` and `bot health`, plus the text/Block Kit renderings that
`/ops jobs` shares with them (see JobService.jobs_command)."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

EXIT_OK, EXIT_FAIL = 0, 1

STATE_ICONS = {"scheduled": "🟢", "disabled": "⛔", "off": "⚪", "waiting": "⏳", "invalid": "❗"}


def _when(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else "—"


def _state_label(job: dict[str, Any]) -> str:
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
        last = f" · last {j['last_status']} {_when(j['last_run_at'])}" if j["last_status"] else ""
        nxt = f" · next {_when(j['next_run'])} UTC" if j["next_run"] else ""
        name, schedule = (f"*{j['name']}*", f"`{j['schedule']}`") if mrkdwn else (j["name"], j["schedule"])
        lines.append(f"{STATE_ICONS.get(j['state'], '•')} {name} — {_state_label(j)} · {schedule} "
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
        lines.append(f"• #{r['id']} {_when(r['started_at'])} UTC {r['status']}{took} ({r.get('trigger') or '?'})"
                     f"{error}")
    return "\n".join(lines)


def _service(settings):
    from bot.scheduler import JobService, default_poster
    from bot.wiring import create_bot

    return JobService(create_bot(settings), settings, poster=default_poster(settings))


def _fail(message: str) -> int:
    print(f"bot: {message}", file=sys.stderr)
    return EXIT_FAIL


def _names_a_job(command):
    """An unknown job name is one clear line and a failing exit code, for every job command."""

    @functools.wraps(command)
    def run(args, settings, console: Console) -> int:
        from bot.scheduler import JobNotFound

        try:
            return command(args, settings, console)
        except JobNotFound as exc:
            return _fail(str(exc))

    return run


def cmd_jobs_list(args, settings, console: Console) -> int:
    jobs = _service(settings).list_jobs()
    if args.json:
        print(json.dumps(jobs, indent=2, default=str))
        return EXIT_OK
    if not console.is_terminal:
        print(jobs_text(jobs, mrkdwn=False))
        return EXIT_OK
    table = Table(title=f"{len(jobs)} jobs")
    for column in ("job", "state", "schedule", "target", "failures", "last run", "next run (UTC)"):
        table.add_column(column)
    for j in jobs:
        last = f"{j['last_status']} {_when(j['last_run_at'])}" if j["last_status"] else "—"
        table.add_row(j["name"], _state_label(j), f"{j['schedule']} ({j['timezone']})", j["target"],
                      f"{j['consecutive_failures']}/{j['max_failures']}", last, _when(j["next_run"]))
    console.print(table)
    return EXIT_OK


@_names_a_job
def cmd_jobs_run(args, settings, console: Console) -> int:
    result = _service(settings).run_now(args.name, by="cli")
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        console.print(result.summary(), markup=False, highlight=False)
    return EXIT_OK if result.ok else EXIT_FAIL


@_names_a_job
def cmd_jobs_enable(args, settings, console: Console) -> int:
    result = _service(settings).enable(args.name, by="cli")
    console.print(result.text, markup=False, highlight=False)
    return EXIT_OK


@_names_a_job
def cmd_jobs_disable(args, settings, console: Console) -> int:
    result = _service(settings).disable(args.name, args.reason, by="cli")
    console.print(result.text, markup=False, highlight=False)
    return EXIT_OK


@_names_a_job
def cmd_jobs_history(args, settings, console: Console) -> int:
    runs = _service(settings).history(args.name, args.limit)
    if args.json:
        print(json.dumps(runs, indent=2, default=str))
    else:
        console.print(history_text(args.name, runs), markup=False, highlight=False)
    return EXIT_OK


def cmd_health(args, settings, console: Console) -> int:
    report = _service(settings).health_report()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        console.print(report.to_text(full=True), markup=False, highlight=False)
    return EXIT_FAIL if report.status == "fail" else EXIT_OK


def add_commands(sub: argparse._SubParsersAction) -> None:
    jobs = sub.add_parser("jobs", help="scheduled jobs: list, run, enable, disable, history")
    jobs.set_defaults(func=cmd_jobs_list, json=False)
    jobs_sub = jobs.add_subparsers(dest="jobs_command")

    listing = jobs_sub.add_parser("list", help="every job with its state, failures, last and next run")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_jobs_list)

    run = jobs_sub.add_parser("run", help="run a job now, as the scheduler would (counted, recorded, posted)")
    run.add_argument("name")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=cmd_jobs_run)

    enable = jobs_sub.add_parser("enable", help="enable a job and reset its failure count")
    enable.add_argument("name")
    enable.set_defaults(func=cmd_jobs_enable)

    disable = jobs_sub.add_parser("disable", help="stop a job from running until it is enabled again")
    disable.add_argument("name")
    disable.add_argument("--reason", default=None)
    disable.set_defaults(func=cmd_jobs_disable)

    history = jobs_sub.add_parser("history", help="a job's recent runs")
    history.add_argument("name")
    history.add_argument("--limit", type=int, default=20)
    history.add_argument("--json", action="store_true")
    history.set_defaults(func=cmd_jobs_history)

    health = sub.add_parser("health", help="run the heartbeat checks now and print the report")
    health.add_argument("--json", action="store_true")
    health.set_defaults(func=cmd_health)
