"""`bot jobs list|run|enable|disable|history` and `bot health`: argparse over bot/jobs/commands.py, which
also answers `/ops jobs` in Slack and the console (same verbs, same actions, same texts)."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table

from bot.jobs.commands import HISTORY_LIMIT, NAMED, VERBS, CommandResult, JobsCommand, execute, health
from bot.jobs.render import short_time, state_label
from bot.jobs.spec import JobNotFound

EXIT_OK, EXIT_FAIL = 0, 1
WITH_JSON = frozenset({"list", "run", "history"})


def _service(settings):
    from bot.startup import create_bot, start_jobs

    return start_jobs(create_bot(settings), settings, run_scheduler=False)[1]


def _fail(message: str) -> int:
    print(f"bot: {message}", file=sys.stderr)
    return EXIT_FAIL


def _print_table(jobs: list[dict], console: Console) -> None:
    table = Table(title=f"{len(jobs)} jobs")
    for column in ("job", "state", "schedule", "target", "failures", "last run", "next run (UTC)"):
        table.add_column(column)
    for j in jobs:
        last = f"{j['last_status']} {short_time(j['last_run_at'])}" if j["last_status"] else "—"
        table.add_row(j["name"], state_label(j), f"{j['schedule']} ({j['timezone']})", j["target"],
                      f"{j['consecutive_failures']}/{j['max_failures']}", last, short_time(j["next_run"]))
    console.print(table)


def cmd_jobs(args, settings, console: Console) -> int:
    command = JobsCommand(args.verb, getattr(args, "name", None), getattr(args, "reason", None),
                          getattr(args, "limit", HISTORY_LIMIT))
    try:
        result: CommandResult = execute(_service(settings), command, by="cli", mrkdwn=False)
    except JobNotFound as exc:               # an unknown name: one clear line and a failing exit code
        return _fail(str(exc))
    if args.json:
        print(json.dumps(result.data, indent=2, default=str))
    elif command.verb == "list" and console.is_terminal:
        _print_table(result.data, console)
    elif command.verb == "list":
        print(result.text)
    else:
        console.print(result.text, markup=False, highlight=False)
    return EXIT_OK if result.ok else EXIT_FAIL


def cmd_health(args, settings, console: Console) -> int:
    result = health(_service(settings), blocks=False)
    if args.json:
        print(json.dumps(result.data, indent=2, default=str))
    else:
        console.print(result.text, markup=False, highlight=False)
    return EXIT_OK if result.ok else EXIT_FAIL


def add_commands(sub: argparse._SubParsersAction) -> None:
    jobs = sub.add_parser("jobs", help=f"scheduled jobs: {', '.join(VERBS)}")
    jobs.set_defaults(func=cmd_jobs, verb="list", json=False)
    jobs_sub = jobs.add_subparsers(dest="jobs_command")
    for verb, help_text in VERBS.items():
        parser = jobs_sub.add_parser(verb, help=help_text)
        parser.set_defaults(verb=verb)
        if verb in NAMED:
            parser.add_argument("name")
        if verb == "disable":
            parser.add_argument("--reason", default=None)
        if verb == "history":
            parser.add_argument("--limit", type=int, default=HISTORY_LIMIT)
        if verb in WITH_JSON:
            parser.add_argument("--json", action="store_true")

    health_parser = sub.add_parser("health", help="run the heartbeat checks now and print the report")
    health_parser.add_argument("--json", action="store_true")
    health_parser.set_defaults(func=cmd_health)
