"""Jira Cloud: basic auth (email + API token), REST v3 and the Agile API, enhanced JQL search."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from _lib.cli import MissingConfig, Script, UsageError
from _lib.fmt import escape
from _lib.http import ApiClient, ApiError, Response, api_url

ISSUE_FIELDS = ["summary", "status", "assignee", "priority", "issuetype", "updated", "created"]
PAGE_MAX = 100  # the enhanced search returns at most 100 issues per page when fields are requested


def site_url() -> str:
    """$JIRA_BASE_URL (https://acme.atlassian.net), or $JIRA_API_URL when only that is set."""
    base = Script.env_optional("JIRA_BASE_URL") or Script.env_optional("JIRA_API_URL")
    if not base:
        raise MissingConfig("missing credentials: set JIRA_BASE_URL (e.g. https://acme.atlassian.net)")
    return base.rstrip("/")


def client() -> ApiClient:
    email, token = Script.env("JIRA_EMAIL"), Script.env("JIRA_API_TOKEN")
    return ApiClient("jira", api_url("jira", site_url()), basic=(email, token))


def browse_url(key: str) -> str:
    return f"{site_url()}/browse/{key}"


def issue_key(value: str) -> str:
    key = (value or "").strip().upper()
    if not re.fullmatch(r"[A-Z][A-Z0-9_]+-\d+", key):
        raise UsageError(f"--key {value!r}: expected an issue key like ABC-123")
    return key


def project_key(value: str | None) -> str:
    key = (value or "").strip().upper()
    if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,9}", key):
        raise UsageError(f"--project {value!r}: expected a project key like ABC")
    return key


def _next_token(_response: Response, body: Any) -> dict[str, Any] | None:
    token = (body or {}).get("nextPageToken")
    return {"nextPageToken": token} if token and not (body or {}).get("isLast") else None


def search(jira: ApiClient, jql: str, fields: list[str], limit: int) -> Iterator[dict[str, Any]]:
    """GET /rest/api/3/search/jql (the enhanced search; /rest/api/3/search is deprecated): pages
    with nextPageToken, no total in the answer."""
    params = {"jql": jql, "fields": ",".join(fields), "maxResults": max(1, min(limit, PAGE_MAX))}
    yield from jira.paginate("/rest/api/3/search/jql", params, items=lambda b: (b or {}).get("issues"),
                             next_page=_next_token, limit=limit)


def approximate_count(jira: ApiClient, jql: str) -> int | None:
    """POST /rest/api/3/search/approximate-count — the enhanced search has no `total`. Best effort:
    a failure other than rejected credentials just means we cannot say "…and N more"."""
    bounded = re.sub(r"(?is)\s+order\s+by\s+.*$", "", jql).strip()
    try:
        body = jira.post("/rest/api/3/search/approximate-count", {"jql": bounded}) or {}
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        return None
    count = body.get("count") if isinstance(body, dict) else None
    return count if isinstance(count, int) else None


def more_lines(more: bool, total: int | None, shown: int) -> list[str]:
    """'…and N more' when the approximate count says how many, else a plain '…and more'."""
    if not more:
        return []
    return [f"…and {total - shown} more" if total and total > shown else "…and more"]


def _name(value: Any, *keys: str) -> str | None:
    if not isinstance(value, dict):
        return None
    for key in keys:
        if value.get(key):
            return str(value[key])
    return None


def issue_row(issue: dict[str, Any]) -> dict[str, Any]:
    f = issue.get("fields") or {}
    status = f.get("status") or {}
    return {
        "key": issue.get("key"), "summary": f.get("summary"),
        "status": status.get("name"), "status_category": (status.get("statusCategory") or {}).get("key"),
        "assignee": _name(f.get("assignee"), "displayName", "emailAddress"),
        "priority": _name(f.get("priority"), "name"), "type": _name(f.get("issuetype"), "name"),
        "created": f.get("created"), "updated": f.get("updated"),
        "url": browse_url(issue["key"]) if issue.get("key") else None,
    }


def issue_line(row: dict[str, Any]) -> str:
    bits = [f"<{row['url']}|{row['key']}> {escape(row['summary'])}".rstrip(), f"_{escape(row['status'] or '?')}_"]
    if row.get("priority"):
        bits.append(escape(row["priority"]))
    bits.append(escape(row.get("assignee") or "unassigned"))
    return " — ".join(bits)


def adf_text(node: Any, limit: int = 500) -> str:
    """Plain text out of an Atlassian Document Format tree (description, comments)."""
    parts: list[str] = []

    def walk(n: Any) -> None:
        if isinstance(n, list):
            for child in n:
                walk(child)
            return
        if not isinstance(n, dict):
            return
        kind = n.get("type")
        if kind == "text":
            parts.append(n.get("text", ""))
        elif kind == "hardBreak":
            parts.append("\n")
        elif kind in ("mention", "emoji", "status"):
            attrs = n.get("attrs") or {}
            parts.append(str(attrs.get("text") or attrs.get("shortName") or ""))
        walk(n.get("content"))
        if kind in ("paragraph", "heading", "codeBlock", "blockquote"):
            parts.append("\n\n")
        elif kind in ("listItem", "rule"):
            parts.append("\n")

    walk(node)
    text = re.sub(r"\n{3,}", "\n\n", "".join(parts)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def adf_doc(text: str) -> dict[str, Any]:
    """Plain text → an ADF document: blank lines separate paragraphs, single newlines are hard breaks."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        content: list[dict[str, Any]] = []
        for i, line in enumerate(block.split("\n")):
            if i:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}
