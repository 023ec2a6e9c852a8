"""PagerDuty REST API v2 helpers for the pagerduty.* scripts: token auth and offset pagination.

Only the pagerduty scripts import this module.
"""

from __future__ import annotations

from typing import Any

from _lib.cli import Script
from _lib.http import ApiClient

API_URL = "https://api.pagerduty.com"
PAGE_SIZE = 100      # PagerDuty's maximum `limit`
MAX_PAGES = 10       # listings stop after 1,000 records


def client(script: Script) -> ApiClient:
    """`Authorization: Token token=…` (REST API key), the versioned v2 media type."""
    token = script.env("PAGERDUTY_TOKEN")
    return ApiClient.for_service("pagerduty", API_URL, headers={
        "Authorization": f"Token token={token}",
        "Accept": "application/vnd.pagerduty+json;version=2",
    })


def id_list(value: str | None) -> list[str] | None:
    """'PABC123, PDEF456' → ['PABC123', 'PDEF456'] (None when empty)."""
    ids = [part.strip() for part in (value or "").split(",") if part.strip()]
    return ids or None


def list_all(pd: ApiClient, path: str, key: str, params: dict[str, Any] | None = None,
             max_pages: int = MAX_PAGES) -> tuple[list[Any], int | None, bool]:
    """Every record of a classic offset-paginated list (limit/offset/more, total=true).

    Returns (records, total, truncated): total is the API's count when it gave one, truncated is
    True when max_pages was reached while `more` was still true.
    """
    records: list[Any] = []
    total: int | None = None
    offset = 0
    for _ in range(max_pages):
        body = pd.get(path, {**(params or {}), "limit": PAGE_SIZE, "offset": offset, "total": True}) or {}
        page = body.get(key) or []
        records.extend(page)
        if body.get("total") is not None:
            total = body["total"]
        if not body.get("more") or not page:
            return records, total if total is not None else len(records), False
        offset += len(page)
    return records, total if total is not None else len(records), True
