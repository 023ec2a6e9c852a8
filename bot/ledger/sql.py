"""Small helpers over either backend's database object: the same calls, the same SQL."""

from __future__ import annotations

from typing import Any

from bot.ledger.dialect import quote


def insert(db: Any, table: str, record: dict[str, Any], *, returning: str | None = None) -> Any:
    """INSERT one row; with `returning`, that column's value (e.g. the new autoincrement id)."""
    columns = ", ".join(quote(c) for c in record)
    marks = ", ".join("?" for _ in record)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
    if returning is None:
        db.execute(sql, list(record.values()))
        return None
    # fetchall, not fetchone: SQLite finishes (and commits) the statement only once it is read to the end.
    return db.execute(f"{sql} RETURNING {returning}", list(record.values())).fetchall()[0][0]


def rows(db: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    return list(db.query(sql, params or []))


def first(db: Any, sql: str, params: list[Any] | None = None) -> dict[str, Any] | None:
    found = rows(db, sql, params)
    return found[0] if found else None
