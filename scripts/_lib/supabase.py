"""Supabase: the project URL is the base for PostgREST (/rest/v1) and GoTrue (/auth/v1)."""

from __future__ import annotations

import re

from _lib.cli import MissingConfig, Script, UsageError
from _lib.http import ApiClient

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def client() -> ApiClient:
    """PostgREST and GoTrue both want the key twice: `apikey` and `Authorization: Bearer`.
    Base URL: $SUPABASE_API_URL (override) else $SUPABASE_URL (the project URL)."""
    key = Script.env("SUPABASE_SERVICE_KEY")
    base = Script.env_optional("SUPABASE_URL")
    if not base and not Script.env_optional("SUPABASE_API_URL"):
        raise MissingConfig("missing credentials: set SUPABASE_URL (the project URL, https://<ref>.supabase.co)")
    return ApiClient.for_service("supabase", base or "", bearer=key, headers={"apikey": key})


def identifier(value: str, flag: str) -> str:
    """Table and column names go into the URL path/query: only plain SQL identifiers."""
    if not IDENT.match(value or ""):
        raise UsageError(f"{flag} {value!r} is not a table/column name (letters, digits, _)")
    return value


def content_range_total(header: str | None) -> int | None:
    """PostgREST `Content-Range: 0-24/3573` (or `*/3573` when no rows are returned) → 3573."""
    match = re.fullmatch(r"\s*(?:\d+-\d+|\*)/(\d+)\s*", header or "")
    return int(match.group(1)) if match else None
