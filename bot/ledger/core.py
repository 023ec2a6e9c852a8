"""The ledger: every request, tier decision, LLM call, script and job run — in SQLite or PostgreSQL.

    Ledger(path)                     SQLite file (WAL), the embedded default (BOT_HOME/ledger.db)
    Ledger("postgresql://…")         PostgreSQL, shared by replicas (BOT_DATABASE_URL)

Plain tables with readable names, the same in both. One interface: the domain methods live in
requests.py, jobs.py and notes.py and write the SQL both databases agree on (dialect.py); the
backend (sqlite.py, postgres.py, chosen in backend.py) owns connections, transactions and the
schema version; migrations.py owns the schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.ledger.backend import open_backend
from bot.ledger.jobs import JobsMixin
from bot.ledger.migrations import run_migrations
from bot.ledger.notes import NotesMixin
from bot.ledger.requests import RequestsMixin


class Ledger(RequestsMixin, JobsMixin, NotesMixin):
    def __init__(self, path: Path | str):
        self.backend = open_backend(path)
        self.path: Path | None = self.backend.path        # None on PostgreSQL
        self.dialect = self.backend.dialect
        self.migrate()

    def __str__(self) -> str:
        return str(self.backend)              # the file, or the URL without its password

    @property
    def db(self) -> Any:
        """sqlite-utils' Database (SQLite, one per thread) or PgDatabase (PostgreSQL, pooled)."""
        return self.backend.db

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One atomic read-then-write step, exclusive across threads, processes and replicas."""
        with self.backend.transaction() as db:
            yield db

    @property
    def shared(self) -> bool:
        """A database server that replicas on other machines share (not a file on this one)."""
        return self.backend.path is None

    def migrate(self) -> int:
        return run_migrations(self.backend)

    def table_names(self) -> list[str]:
        return self.backend.table_names()

    def size_bytes(self) -> int:
        return self.backend.size_bytes()

    def close(self) -> None:
        self.backend.close()
