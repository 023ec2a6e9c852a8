"""`bot ledger migrate --to postgresql://…`: copy a SQLite ledger (and BOT_HOME's memory notes) into PostgreSQL.

The target must be empty (a fresh database: the schema is created on the way); everything is copied in
one transaction, so a failure leaves it empty again; then every table's rows are counted on both sides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.ledger.core import Ledger
from bot.ledger.dialect import quote

BATCH = 1000


class CopyRefused(Exception):
    """The target cannot take the copy (not empty); one line."""


@dataclass
class TableCount:
    table: str
    source: int
    target: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


def _columns(ledger: Ledger, table: str) -> dict[str, str]:
    return ledger.db[table].columns_dict


def _order(tables: Iterable[str]) -> list[str]:
    """Parents first (decisions refer to requests)."""
    return sorted(tables, key=lambda t: (t != "requests", t))


def copy_ledger(source: Ledger, target: Ledger, notes: list[dict] | None = None) -> list[TableCount]:
    """Copy every table of `source` into the empty `target`, plus `notes` (memory files) into its notes
    table; returns the row counts of both sides per table."""
    tables = _order(t for t in source.table_names() if t in set(target.table_names()))
    busy = [(t, target.db[t].count) for t in tables]
    busy = [(t, n) for t, n in busy if n]
    if busy:
        table, n = busy[0]
        raise CopyRefused(f"the target {target} already has data ({table}: {n} rows); refusing to copy "
                          "into a non-empty ledger — point --to at an empty database")
    expected: dict[str, int] = {}
    with target.transaction() as db:
        for table in tables:
            wanted = set(_columns(target, table))
            columns = [c for c in _columns(source, table) if c in wanted]
            names = ", ".join(quote(c) for c in columns)
            sql = f"INSERT INTO {quote(table)} ({names}) VALUES ({', '.join('?' for _ in columns)})"
            rows = source.db.execute(f"SELECT {names} FROM {quote(table)}")
            expected[table] = 0
            while batch := rows.fetchmany(BATCH):
                db.executemany(sql, batch)
                expected[table] += len(batch)
        if notes:
            db.executemany("INSERT INTO notes (name, summary, body, created_by, created_at, updated_at) "
                           "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                           [[n["name"], n["summary"], n["body"], n.get("created_by"), n.get("created_at"),
                             n.get("created_at")] for n in notes])
        for table in tables:                   # autoincrement ids go on after the copied ones
            if target.dialect.name == "postgresql" and _columns(target, table).get("id") == "bigint":
                db.execute(f"SELECT setval(pg_get_serial_sequence(?, 'id'), COALESCE(MAX(id), 1), "
                           f"MAX(id) IS NOT NULL) FROM {quote(table)}", [table])
    counts = [TableCount(t, expected[t], target.db[t].count) for t in tables if t != "notes"]
    counts.append(TableCount("notes", expected.get("notes", 0) + len(notes or []), target.db["notes"].count))
    return counts

