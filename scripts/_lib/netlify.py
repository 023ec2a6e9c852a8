"""Netlify API (https://api.netlify.com/api/v1): bearer token, page/per_page + Link header paging."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from _lib.cli import Script, UsageError
from _lib.fmt import ago, escape
from _lib.http import ApiClient

DEFAULT_URL = "https://api.netlify.com/api/v1"
STATE_ICON = {"ready": "✅", "error": "❌", "building": "🔨", "enqueued": "⏳", "new": "⏳", "uploading": "⏳",
              "uploaded": "⏳", "preparing": "⏳", "prepared": "⏳", "processing": "⏳", "processed": "⏳",
              "retrying": "🔁", "rejected": "⛔", "skipped": "⚪", "canceled": "⚪"}


def client() -> ApiClient:
    return ApiClient.for_service("netlify", DEFAULT_URL, bearer=Script.env("NETLIFY_TOKEN"))


def site_ref(value: str | None) -> str:
    """Netlify accepts a site id or the site's domain wherever `{site_id}` appears. A bare name
    (`my-site`) means `my-site.netlify.app`."""
    text = (value or "").strip().lower()
    if "://" in text:
        text = urllib.parse.urlsplit(text).netloc
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{0,252}", text):
        raise UsageError(f"--site {value!r}: expected a site id, name or domain")
    if "." not in text and not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text):
        text += ".netlify.app"
    return urllib.parse.quote(text, safe="")


def deploy_row(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": d.get("id"), "site": d.get("name"), "state": d.get("state") or "unknown",
        "context": d.get("context"), "branch": d.get("branch"), "commit": (d.get("commit_ref") or "")[:7] or None,
        "title": (d.get("title") or "").split("\n")[0][:80] or None,
        "created_at": ago(d.get("created_at")) if d.get("created_at") else None,
        "published_at": ago(d.get("published_at")) if d.get("published_at") else None,
        "deploy_time_s": d.get("deploy_time"), "error": d.get("error_message"),
        "url": d.get("deploy_ssl_url") or d.get("deploy_url"), "admin_url": d.get("admin_url"),
    }


def deploy_line(row: dict[str, Any]) -> str:
    parts = [f"{STATE_ICON.get(row['state'], '•')} `{row['state']}` ({row['context'] or '?'})"]
    if row["branch"] or row["commit"]:
        parts.append(f"{row['branch'] or '?'}@{row['commit'] or '?'}")
    if row["title"]:
        parts.append(f"“{escape(row['title'])}”")
    parts.append(row["created_at"] or "—")
    if row["deploy_time_s"]:
        parts.append(f"built in {row['deploy_time_s']}s")
    if row["error"]:
        parts.append(f"error: {escape(row['error'][:120])}")
    return " — ".join(parts)
