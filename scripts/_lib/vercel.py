"""Vercel REST API: bearer token, optional team scope (`teamId` on every call), `until` pagination."""

from __future__ import annotations

import datetime as dt
from typing import Any

from _lib.cli import Script
from _lib.fmt import ago, escape
from _lib.http import ApiClient, Response

DEFAULT_URL = "https://api.vercel.com"


def client() -> ApiClient:
    return ApiClient.for_service("vercel", DEFAULT_URL, bearer=Script.env("VERCEL_TOKEN"))


def scoped(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Params plus `teamId` when $VERCEL_TEAM_ID is set (team-owned resources need it)."""
    team = Script.env_optional("VERCEL_TEAM_ID")
    return {**(params or {}), **({"teamId": team} if team else {})}


def next_until(_response: Response, body: Any) -> dict[str, Any] | None:
    """Vercel lists page backwards in time: `pagination.next` is the timestamp to pass as `until`."""
    following = ((body or {}).get("pagination") or {}).get("next")
    return {"until": following} if following else None


def ms_ago(days: float) -> int:
    return int((dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).timestamp() * 1000)


STATE_ICON = {"READY": "✅", "ERROR": "❌", "BUILDING": "🔨", "INITIALIZING": "⏳", "QUEUED": "⏳",
              "CANCELED": "⚪"}


def deployment_row(d: dict[str, Any]) -> dict[str, Any]:
    """The fields we show, from a /v6/deployments item or a /v13/deployments/{id} object."""
    meta = d.get("meta") or {}
    state = d.get("state") or d.get("readyState") or "UNKNOWN"
    created = d.get("created") or d.get("createdAt")
    building, ready = d.get("buildingAt"), d.get("ready")
    url = d.get("url")
    return {
        "id": d.get("uid") or d.get("id"),
        "name": d.get("name"),
        "state": state,
        "target": d.get("target") or "preview",
        "url": f"https://{url}" if url and not url.startswith("http") else url,
        "inspector_url": d.get("inspectorUrl"),
        "created_at": ago(created) if created else None,
        "created_ms": created,
        "build_seconds": round((ready - building) / 1000) if ready and building and state == "READY" else None,
        "branch": meta.get("githubCommitRef") or meta.get("gitlabCommitRef") or meta.get("bitbucketCommitRef"),
        "commit": (meta.get("githubCommitSha") or meta.get("gitlabCommitSha") or meta.get("bitbucketCommitSha")
                   or "")[:7] or None,
        "message": (meta.get("githubCommitMessage") or meta.get("gitlabCommitMessage")
                    or meta.get("bitbucketCommitMessage") or "").split("\n")[0][:80] or None,
        "creator": (d.get("creator") or {}).get("username"),
    }


def deployment_line(row: dict[str, Any]) -> str:
    icon = STATE_ICON.get(row["state"], "•")
    parts = [f"{icon} `{row['state']}` *{escape(row['name'])}* ({row['target']})"]
    if row["branch"] or row["commit"]:
        parts.append(f"{row['branch'] or '?'}@{row['commit'] or '?'}")
    if row["message"]:
        parts.append(f"“{escape(row['message'])}”")
    if row["creator"]:
        parts.append(f"by {escape(row['creator'])}")
    parts.append(row["created_at"] or "—")
    if row["url"]:
        parts.append(row["url"])
    return " — ".join(parts)
