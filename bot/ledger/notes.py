"""Memory notes kept in the ledger's database (used when BOT_DATABASE_URL is set: see bot/memory.py)."""

from __future__ import annotations

from typing import Any

from bot.ledger.sql import first, rows
from bot.ledger.times import now_iso


class NotesMixin:
    db: Any

    def notes(self) -> list[dict]:
        return rows(self.db, "SELECT * FROM notes ORDER BY name")

    def note(self, name: str) -> dict | None:
        return first(self.db, "SELECT * FROM notes WHERE name = ?", [name])

    def add_note(self, *, name: str, summary: str, body: str, created_by: str | None, created_at: str) -> bool:
        """False when a note of that name exists already (another replica was first)."""
        return self.db.execute(
            "INSERT INTO notes (name, summary, body, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING", [name, summary, body, created_by, created_at, now_iso()]).rowcount == 1

    def delete_note(self, name: str) -> bool:
        return self.db.execute("DELETE FROM notes WHERE name = ?", [name]).rowcount == 1
