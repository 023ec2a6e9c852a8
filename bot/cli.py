"""The `bot` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from rich.console import Console
from rich.table import Table

from bot.config import ConfigError, Settings, load_settings
from bot.ledger.errors import LedgerError
from bot.logs import setup_logging
from bot.problems import ArgError
from bot.registry import load_registry

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _settings() -> Settings:
    return load_settings()


def _bot(settings: Settings):
    from bot.startup import create_bot

    return create_bot(settings)


def cmd_serve(args, settings: Settings, console: Console) -> int:
    if args.metrics_port is not None:
        settings.bot_metrics_port = args.metrics_port
    if settings.slack_configured:
        from bot.slack.server import serve_slack

        return serve_slack(settings, http=args.http, port=args.port, host=args.host,
                           scheduler=not args.no_scheduler)
    from bot.console import repl
    from bot.startup import serve_metrics, start_jobs

    bot = _bot(settings)
    bot.ledger.close_orphaned_requests()
    serve_metrics(settings, bot)
    scheduler, jobs = start_jobs(bot, settings, run_scheduler=not args.no_scheduler)
    try:
        return repl(bot, console, jobs=jobs)
    finally:
        if scheduler is not None:
            scheduler.shutdown()


def cmd_ask(args, settings: Settings, console: Console) -> int:
    from bot.console import ask, ask_yes_no

    reply = ask(_bot(settings), " ".join(args.text), console, confirm=ask_yes_no, yes=args.yes)
    return EXIT_OK if reply.outcome in ("ok", "cancelled") else EXIT_FAIL


def cmd_route(args, settings: Settings, console: Console) -> int:
    from bot.router import PreRouter

    router = PreRouter(load_registry(settings.bot_registry, settings.bot_skills, settings.bot_scripts,
                                     check_paths=False))
    lines = [" ".join(args.text)] if args.text else (line.rstrip("\n") for line in sys.stdin)
    for text in lines:
        if not text.strip():
            continue
        decision = router.route(text)
        if args.json or not args.text:
            print(json.dumps(decision.to_json(text), default=str), flush=True)
        else:
            target = f"{decision.script} {decision.args}" if decision.tier == "script" else "orchestrator"
            console.print(f"{decision.tier}: {target} (score {decision.score:.2f}) — {decision.reason}",
                          markup=False)
    return EXIT_OK


def cmd_run(args, settings: Settings, console: Console) -> int:
    from bot.registry import split_command

    text = "run " + args.name + " " + " ".join(_quote(t) for t in args.script_args)
    if not split_command(text):
        return EXIT_USAGE
    from bot.console import ask, ask_yes_no

    reply = ask(_bot(settings), text, console, confirm=ask_yes_no, yes=args.yes)
    return EXIT_OK if reply.outcome in ("ok", "cancelled") else EXIT_FAIL


def _quote(token: str) -> str:
    import shlex

    return shlex.quote(token)


def cmd_scripts(args, settings: Settings, console: Console) -> int:
    import os

    registry = load_registry(settings.bot_registry, settings.bot_skills, settings.bot_scripts)
    catalog = {
        service: [{"name": e.name, "summary": e.summary, "side_effects": e.side_effects,
                   "credentials": "missing " + ", ".join(missing) if (missing := e.missing_env(os.environ))
                   else "configured",
                   "usage": e.usage()} for e in entries]
        for service, entries in sorted(registry.by_service().items())
    }
    if args.json:
        print(json.dumps(catalog, indent=2))
        return EXIT_OK
    table = Table(title=f"{sum(map(len, catalog.values()))} scripts", show_lines=False)
    for column in ("script", "summary", "credentials"):
        table.add_column(column)
    for entries in catalog.values():
        table.add_section()
        for e in entries:
            marker = " [write]" if e["side_effects"] == "write" else ""
            table.add_row(e["name"] + marker, e["summary"], e["credentials"])
    console.print(table)
    return EXIT_OK


def cmd_registry_check(args, settings: Settings, console: Console) -> int:
    from bot.script_check import check_scripts

    registry = load_registry(settings.bot_registry, settings.bot_skills, settings.bot_scripts)
    problems = registry.problems + check_scripts(registry)   # each script's own parser vs its entry
    for warning in registry.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(problems)} problem(s) in the registry", file=sys.stderr)
        return EXIT_FAIL
    print(f"registry ok: {len(registry.scripts)} scripts, {len(registry.skills)} skills, "
          f"{len(registry.jobs)} jobs")
    return EXIT_OK


def cmd_stats(args, settings: Settings, console: Console) -> int:
    from bot.ledger import Ledger
    from bot.stats import compute_stats, parse_since

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    stats = compute_stats(Ledger(settings.ledger_target), since)
    if args.json:
        print(json.dumps(stats, indent=2))
        return EXIT_OK
    from bot.render import model_table, quality_lines, stats_table

    console.print(stats_table(stats))
    if stats["by_model"]:
        console.print(model_table(stats))
    for line in quality_lines(stats):
        console.print(line)
    return EXIT_OK


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description="opsbot: chat-ops on the cheapest tier that works")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="Slack when tokens are set, otherwise the terminal console")
    serve.add_argument("--http", action="store_true", help="HTTP mode (Events API) instead of Socket Mode")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--host", help="HTTP mode: address to listen on (default BOT_HTTP_HOST, or 127.0.0.1; "
                                      "0.0.0.0 for every interface)")
    serve.add_argument("--no-scheduler", action="store_true", help="do not run scheduled jobs in this process")
    serve.add_argument("--metrics-port", type=_port, metavar="PORT",
                       help="serve /metrics, /healthz, /readyz on PORT (BOT_METRICS_PORT); "
                            "with --http they are on the HTTP port anyway")
    serve.set_defaults(func=cmd_serve)

    ask = sub.add_parser("ask", help="one request through the full pipeline")
    ask.add_argument("text", nargs="+")
    ask.add_argument("--yes", action="store_true",
                     help="confirm a write script you named (`run NAME …`); never one the model proposes")
    ask.set_defaults(func=cmd_ask)

    route = sub.add_parser("route", help="the pre-router's decision only (stdin: one request per line)")
    route.add_argument("--json", action="store_true")
    route.add_argument("text", nargs="*")
    route.set_defaults(func=cmd_route)

    run = sub.add_parser("run", help="run a registry script: bot run NAME [--arg value …]")
    run.add_argument("name")
    run.add_argument("--yes", action="store_true", help="confirm this write script without asking")
    run.add_argument("script_args", nargs=argparse.REMAINDER)
    run.set_defaults(func=cmd_run)

    scripts = sub.add_parser("scripts", help="the script catalog with credential status")
    scripts.add_argument("--json", action="store_true")
    scripts.set_defaults(func=cmd_scripts)

    registry = sub.add_parser("registry", help="registry tools")
    registry_sub = registry.add_subparsers(dest="registry_command", required=True)
    check = registry_sub.add_parser("check", help="validate every script, skill and job entry")
    check.set_defaults(func=cmd_registry_check)

    stats = sub.add_parser("stats", help="requests by tier, tokens, cost, errors, latency")
    stats.add_argument("--json", action="store_true")
    stats.add_argument("--since", default="24h")
    stats.set_defaults(func=cmd_stats)

    for extension in _extensions():
        extension(sub)
    return parser


def _extensions():
    """Subcommands that live beside their feature: each module has `add_commands(subparsers)`."""
    from bot import learn_cli, ledger_cli
    from bot.jobs import cli as jobs_cli
    from bot.slack import cli as slack_cli

    return [jobs_cli.add_commands, slack_cli.add_commands, ledger_cli.add_commands, learn_cli.add_commands]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve", *(argv or [])])
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped or captured: don't squeeze tables into 80 columns
    try:
        settings = _settings()
        settings.require_folders()
        setup_logging(settings)
        return args.func(args, settings, console)
    except ConfigError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LedgerError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except ArgError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        if exc.usage:
            print(exc.usage, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:              # one line, never a traceback (BOT_LOG_LEVEL=DEBUG logs it)
        from bot import errors

        fault = errors.describe(exc, locals().get("settings"))
        logging.getLogger("bot").debug("%s", type(exc).__name__, exc_info=True)
        if fault is None:
            print(f"bot: internal error ({type(exc).__name__}): {str(exc)[:300]}; run with "
                  "BOT_LOG_LEVEL=DEBUG for the details", file=sys.stderr)
            return EXIT_FAIL
        print(f"bot: {fault.line}", file=sys.stderr)
        return fault.exit_code
    finally:
        logging.shutdown()
