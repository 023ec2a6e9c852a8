"""`bot jobs list|run|enable|disable|history` and `bot health` (renderings shared with `/ops jobs`:
bot/jobs/render.py)."""

from __future__ import annotations

import argparse
import functools
import json
import sys

from rich.console import Console
from rich.table import Table

from bot.jobs.render import history_text, jobs_text, short_time, state_label

EXIT_OK, EXIT_FAIL = 0, 1


def _service(settings):
    from bot.jobs.schedule import JobService, default_poster
    from bot.wiring import create_bot

    return JobService(create_bot(settings), settings, poster=default_poster(settings))


def _fail(message: str) -> int:
    print(f"bot: {message}", file=sys.stderr)
    return EXIT_FAIL


def _names_a_job(command):
    """An unknown job name is one clear line and a failing exit code, for every job command."""

    @functools.wraps(command)
    def run(args, settings, console: Console) -> int:
        from bot.jobs.schedule import JobNotFound

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
        last = f"{j['last_status']} {short_time(j['last_run_at'])}" if j["last_status"] else "—"
        table.add_row(j["name"], state_label(j), f"{j['schedule']} ({j['timezone']})", j["target"],
                      f"{j['consecutive_failures']}/{j['max_failures']}", last, short_time(j["next_run"]))
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
