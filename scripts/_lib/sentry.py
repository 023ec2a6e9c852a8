"""Sentry API helper (https://sentry.io/api/0, Bearer auth token, Link-header cursor pagination).

Sentry paginates with `Link: <…&cursor=0:100:0>; rel="next"; results="true"; cursor="…"`; a next
link with results="false" means there is nothing more (ApiClient.link_next honours that). List
endpoints that count matches send the total in `X-Hits`.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from _lib.cli import Script, UsageError
from _lib.http import ApiClient

API_URL = "https://sentry.io/api/0"


def client() -> ApiClient:
    return ApiClient.for_service("sentry", API_URL, bearer=Script.env("SENTRY_TOKEN"))


def org() -> str:
    return urllib.parse.quote(Script.env("SENTRY_ORG"), safe="")


def slug(value: str, what: str = "--project") -> str:
    text = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", text):
        raise UsageError(f"{what} {value!r} is not a Sentry slug or ID")
    return text


def collect(api: ApiClient, path: str, params: dict[str, Any], limit: int, max_pages: int = 20
            ) -> tuple[list[dict[str, Any]], int | None, bool]:
    """Up to `limit` items across Link-header pages → (items, X-Hits total or None, more exist)."""
    items: list[dict[str, Any]] = []
    hits: int | None = None
    url: str = path
    query: dict[str, Any] | None = params
    more = False
    for _ in range(max_pages):
        response = api.request("GET", url, params=query)
        body = response.json_as(list)
        if hits is None and (response.header("X-Hits") or "").strip().isdigit():
            hits = int(response.header("X-Hits"))
        items.extend(body)
        following = response.link_next
        if len(items) >= limit or not following:
            more = len(items) > limit or bool(following)
            break
        url, query = following, None
    return items[:limit], hits, more


def project_id(api: ApiClient, organization: str, project: str) -> str:
    """A project's numeric ID (the org-level endpoints filter by ID, not slug)."""
    if project.isdigit():
        return project
    path = f"projects/{organization}/{urllib.parse.quote(project, safe='')}/"
    body = api.get_json(path)
    if not body.get("id"):
        raise api.unexpected("GET", path, "no project id")
    return str(body["id"])


def count(value: Any) -> int:
    """Sentry sends issue `count` as a string and `userCount` as a number."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def plural(n: int, word: str) -> str:
    """'1 event', '1,234 events'."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"
