"""`bot ledger migrate --to postgresql://…`: move BOT_HOME's SQLite ledger and memory notes to PostgreSQL."""

from __future__ import annotations

import argparse
import sys

from bot.config import Settings

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def cmd_migrate(args, settings: Settings, console) -> int:
    from bot.ledger import Ledger
    from bot.ledger.backend import is_database_url
    from bot.ledger.copy import CopyRefused, copy_ledger
    from bot.memory import MemoryStore

    if not is_database_url(args.to):
        print("bot ledger migrate: --to needs a postgresql://user:password@host:port/database URL",
              file=sys.stderr)
        return EXIT_USAGE
    if not settings.ledger_path.is_file():
        print(f"bot ledger migrate: no SQLite ledger at {settings.ledger_path} (BOT_HOME); nothing to copy",
              file=sys.stderr)
        return EXIT_FAIL
    source, target = Ledger(settings.ledger_path), Ledger(args.to)
    notes = [{"name": n.name, "summary": n.summary, "body": n.body, "created_by": n.created_by,
              "created_at": n.created_at} for n in MemoryStore(settings.memory_dir).notes()]
    try:
        counts = copy_ledger(source, target, notes)
    except CopyRefused as exc:
        print(f"bot ledger migrate: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(f"copied {source} → {target}")
    width = max(len(c.table) for c in counts)
    for c in counts:
        print(f"{c.table:<{width}}  {c.source:>8} → {c.target:<8} {'ok' if c.ok else 'MISMATCH'}")
    bad = [c.table for c in counts if not c.ok]
    if bad:
        print(f"bot ledger migrate: row counts differ in {', '.join(bad)}", file=sys.stderr)
        return EXIT_FAIL
    print(f"all {len(counts)} tables match; set BOT_DATABASE_URL to the target to use it")
    return EXIT_OK


def add_commands(sub: argparse._SubParsersAction) -> None:
    ledger = sub.add_parser("ledger", help="ledger tools")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    migrate = ledger_sub.add_parser("migrate", help="copy BOT_HOME's SQLite ledger into PostgreSQL, "
                                                    "verified by row counts per table")
    migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://… (an empty database)")
    migrate.set_defaults(func=cmd_migrate)
