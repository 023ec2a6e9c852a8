"""The one place that picks the ledger's database: a file path → SQLite, `postgresql://…` → PostgreSQL.

`BOT_DATABASE_URL` unset keeps the ledger in `BOT_HOME/ledger.db` (see Settings.ledger_target).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.ledger.postgres import PostgresBackend
    from bot.ledger.sqlite import SqliteBackend

URL_SCHEMES = ("postgresql://", "postgres://")


class LedgerError(Exception):
    """The ledger's database cannot be used (unreachable, refused); the message is one line, no password."""


def is_database_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def open_backend(target: Path | str) -> SqliteBackend | PostgresBackend:
    if is_database_url(target):
        from bot.ledger.postgres import PostgresBackend  # psycopg only where PostgreSQL is used

        return PostgresBackend(str(target))
    if isinstance(target, str) and "://" in target:
        raise LedgerError(f"BOT_DATABASE_URL: unsupported database URL scheme {target.split('://')[0]!r} "
                         "(expected postgresql://…)")
    from bot.ledger.sqlite import SqliteBackend

    return SqliteBackend(target)
