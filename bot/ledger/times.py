"""The ledger's small vocabulary: outcomes, ids and its time format (ISO strings, UTC, milliseconds)."""

from __future__ import annotations

import datetime as dt
import uuid

OUTCOMES = ("ok", "error", "refused", "timeout", "awaiting_confirmation", "cancelled")


def iso(moment: dt.datetime) -> str:
    """The ledger's time format: UTC, milliseconds (so strings compare in time order)."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def now_iso() -> str:
    return iso(dt.datetime.now(dt.UTC))


def new_id() -> str:
    return uuid.uuid4().hex[:16]
