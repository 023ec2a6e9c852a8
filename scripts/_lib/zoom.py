"""Zoom REST API v2 helper: Server-to-Server OAuth token exchange, next_page_token pagination,
meeting ID / UUID path encoding, WebVTT transcript to plain text.

Token: POST https://zoom.us/oauth/token?grant_type=account_credentials&account_id=… with HTTP Basic
client_id:client_secret → {"access_token", "token_type": "bearer", "expires_in": 3600, …}. The token
acts as the app's owner, so `users/me` means that user. Override the token URL with ZOOM_OAUTH_URL
and the API with ZOOM_API_URL (tests, Zoom for Government: https://zoomgov.com / api.zoomgov.com).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

from _lib.cli import Script, UsageError
from _lib.http import ApiClient, ApiError

API_URL = "https://api.zoom.us/v2"
OAUTH_URL = "https://zoom.us/oauth/token"
ENV = ["ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET"]
# What the token endpoint says for bad credentials (HTTP 400 or 401 with an OAuth error code).
AUTH_ERRORS = {"invalid_client", "unauthorized_client", "invalid_grant", "invalid_request", "access_denied"}


def access_token() -> str:
    account = Script.env("ZOOM_ACCOUNT_ID")
    client_id, secret = Script.env("ZOOM_CLIENT_ID"), Script.env("ZOOM_CLIENT_SECRET")
    url = Script.env_optional("ZOOM_OAUTH_URL", OAUTH_URL)
    oauth = ApiClient("zoom", url, basic=(client_id, secret))
    response = oauth.request("POST", url, params={"grant_type": "account_credentials", "account_id": account},
                             form={}, ok=(400,))
    body = response.json()
    if response.status == 400:
        body = body if isinstance(body, dict) else {}
        error = str(body.get("error") or "")
        reason = body.get("reason") or body.get("error_description") or error or "bad request"
        if error in AUTH_ERRORS or not error:
            raise ApiError("zoom", response.call, None,
                           f"credentials rejected (HTTP 400): {reason} — check ZOOM_ACCOUNT_ID, "
                           "ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET")
        raise ApiError("zoom", response.call, 400, str(reason))
    token = body.get("access_token") if isinstance(body, dict) else None
    if not token:
        raise ApiError("zoom", response.call, response.status, "no access_token in the token response")
    return str(token)


def client() -> ApiClient:
    """An API client holding a fresh Server-to-Server OAuth token."""
    return ApiClient.for_service("zoom", API_URL, bearer=access_token(), credential_domains=("zoom.us",))


def paginate(api: ApiClient, path: str, key: str, params: dict[str, Any] | None = None,
             page_size: int = 300, limit: int | None = None, meta: dict[str, Any] | None = None
             ) -> Iterator[dict[str, Any]]:
    """Items under `key`, following `next_page_token` (an empty string means the last page).
    `meta` (if given) receives `total_records` from the first page."""
    token = None
    count = 0
    for _ in range(50):
        body = api.get_json(path, {**(params or {}), "page_size": page_size, "next_page_token": token or None})
        if meta is not None and "total_records" not in meta and body.get("total_records") is not None:
            meta["total_records"] = body["total_records"]
        for item in body.get(key) or []:
            yield item
            count += 1
            if limit is not None and count >= limit:
                return
        token = body.get("next_page_token")
        if not token:
            return


def meeting_id(raw: str) -> str:
    """A path segment for a meeting: digits of a numeric ID ("812 3456 7890", a join URL), or a UUID.
    Zoom wants a UUID that starts with '/' or contains '//' encoded twice."""
    text = raw.strip()
    url = re.search(r"/j/(\d{9,12})", text)
    if url:
        return url.group(1)
    digits = re.sub(r"[\s-]", "", text)
    if re.fullmatch(r"\d{9,12}", digits):
        return digits
    if not text or not re.fullmatch(r"[A-Za-z0-9+/=_-]{8,}", text):
        raise UsageError(f"--meeting {raw!r} is not a Zoom meeting ID or UUID")
    once = urllib.parse.quote(text, safe="")
    return urllib.parse.quote(once, safe="") if text.startswith("/") or "//" in text else once


_TIMING = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?[.,]\d{3}\s+-->")


def vtt_to_text(vtt: str) -> list[tuple[str, str]]:
    """WebVTT → [(speaker, text)], consecutive lines of the same speaker merged. Zoom writes cues as
    'Name: words'; a cue without a 'Name:' prefix gets speaker ''."""
    turns: list[tuple[str, str]] = []
    block: list[str] = []

    def flush():
        text = " ".join(line.strip() for line in block if line.strip())
        block.clear()
        if not text:
            return
        speaker, sep, words = text.partition(": ")
        if not sep or len(speaker) > 60:
            speaker, words = "", text
        if turns and turns[-1][0] == speaker:
            turns[-1] = (speaker, f"{turns[-1][1]} {words}")
        else:
            turns.append((speaker, words))

    in_cue = False
    for line in vtt.replace("\r\n", "\n").replace("\ufeff", "").split("\n"):
        if not line.strip():
            if in_cue:
                flush()
            in_cue = False
            continue
        if _TIMING.match(line.strip()):
            in_cue = True
            block.clear()
            continue
        if in_cue:
            block.append(line)
    if in_cue:
        flush()
    return turns
