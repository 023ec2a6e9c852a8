"""Slack Web API helper: Bearer auth, `{"ok": false}` errors, cursor pagination.

Slack answers almost every error with HTTP 200 and `{"ok": false, "error": "..."}`; only rate
limits use HTTP 429 (+ Retry-After), which ApiClient already retries.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from _lib.http import ApiClient, ApiError

DEFAULT_URL = "https://slack.com/api"
AUTH_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
               "no_permission_for_token", "two_factor_setup_required", "ekm_access_denied"}
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


class SlackError(ApiError):
    """`ok: false` from a Web API method; `.error` is Slack's error code (e.g. channel_not_found)."""

    def __init__(self, call: str, error: str, detail: str):
        self.error = error
        super().__init__("slack", call, None, detail)


class Slack:
    def __init__(self, token: str):
        self.api = ApiClient.for_service("slack", DEFAULT_URL, bearer=token)

    def call(self, method: str, http: str = "GET", **params: Any) -> dict[str, Any]:
        """One Web API method. GET sends params as the query; POST sends them as a JSON body."""
        clean = {k: v for k, v in params.items() if v is not None}
        if http == "GET":
            response = self.api.request("GET", method, params=clean)
        else:
            # Slack wants the charset on JSON bodies (else a `missing_charset` warning).
            response = self.api.request(http, method, json_body=clean,
                                        headers={"Content-Type": "application/json; charset=utf-8"})
        body = response.json()
        if not isinstance(body, dict) or "ok" not in body:
            raise ApiError("slack", response.call, response.status, "unexpected response (no `ok` field)")
        if not body["ok"]:
            error = str(body.get("error") or "unknown_error")
            if error in AUTH_ERRORS:
                detail = f"credentials rejected: {error} (check SLACK_BOT_TOKEN)"
            elif error == "missing_scope":
                detail = f"missing_scope: the token needs {body.get('needed', '?')} (has {body.get('provided', '?')})"
            else:
                detail = error
            raise SlackError(response.call, error, detail)
        return body

    def paginate(self, method: str, key: str, limit: int | None = None, page_size: int = 200,
                 max_pages: int = 50, **params: Any) -> Iterator[dict[str, Any]]:
        """Items under `key` across pages, following `response_metadata.next_cursor`."""
        cursor = None
        count = 0
        for _ in range(max_pages):
            size = page_size if limit is None else max(1, min(page_size, limit - count))
            body = self.call(method, limit=size, cursor=cursor, **params)
            for item in body.get(key) or []:
                yield item
                count += 1
                if limit is not None and count >= limit:
                    return
            cursor = (body.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def user_names(self, user_ids: list[str], known: dict[str, str] | None = None,
                   max_lookups: int = 20) -> dict[str, str]:
        """Display names for user IDs: those already `known`, then users.info for the rest (up to
        `max_lookups`; a user that cannot be looked up keeps its ID)."""
        names = dict(known or {})
        for user_id in [u for u in dict.fromkeys(user_ids) if u not in names][:max_lookups]:
            try:
                user = self.call("users.info", user=user_id).get("user") or {}
            except SlackError:
                continue
            profile = user.get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or user.get("real_name") or user.get("name")
            if name:
                names[user_id] = str(name)
        return names

    def resolve_channel(self, channel: str) -> dict[str, Any] | None:
        """A channel ID as-is (as {"id": ...}); a name (with or without #) looked up in conversations.list."""
        text = channel.strip()
        mention = re.fullmatch(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>", text)
        if mention:
            return {"id": mention.group(1), "name": mention.group(2)}
        if CHANNEL_ID.match(text):
            return {"id": text}
        name = text.lstrip("#").lower()
        for item in self.paginate("conversations.list", "channels", types="public_channel,private_channel",
                                  exclude_archived="false"):
            if str(item.get("name", "")).lower() == name:
                return item
        return None


_BROADCAST = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_SUBTEAM = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|@?([^>]*))?>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")


def quiet(text: str | None, names: dict[str, str] | None = None) -> str:
    """Slack text the bot shows again (channel history, an echo of a posted message) must not ping
    anyone a second time: `<!here>`, `<!channel>`, `<!everyone>`, user-group and user mentions become
    plain `@name` text, which Slack never turns into a notification (the bot posts without link_names)."""
    names = names or {}
    out = _BROADCAST.sub(lambda m: "@" + m.group(1), text or "")
    out = _SUBTEAM.sub(lambda m: "@" + (m.group(2) or m.group(1)), out)
    return _USER.sub(lambda m: "@" + (names.get(m.group(1)) or m.group(2) or m.group(1)), out)


def one_line(text: str, width: int = 200) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
