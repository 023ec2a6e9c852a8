"""Twilio helpers for the twilio.* scripts: client, account paths, paging, RFC 2822 times, prices.

Twilio's REST API (2010-04-01) uses HTTP basic auth (Account SID : Auth Token), returns list pages
as `{"<resource>": [...], "next_page_uri": "/2010-04-01/…?Page=1&PageToken=…" | null}` and writes
dates as RFC 2822 ("Wed, 18 Aug 2010 20:20:06 +0000"). Prices are strings, negative for costs.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import urllib.parse
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from _lib.cli import Script
from _lib.fmt import SYMBOLS, minor_units, money
from _lib.http import ApiClient

DEFAULT_URL = "https://api.twilio.com"  # list pages' next_page_uri is a path from this root
MAX_PAGE_SIZE = 1000


def client() -> tuple[ApiClient, str]:
    sid = Script.env("TWILIO_ACCOUNT_SID")
    token = Script.env("TWILIO_AUTH_TOKEN")
    return ApiClient.for_service("twilio", DEFAULT_URL, basic=(sid, token)), sid


def account_path(sid: str, resource: str) -> str:
    """/2010-04-01/Accounts/{Sid}/{resource}.json"""
    return f"/2010-04-01/Accounts/{urllib.parse.quote(sid, safe='')}/{resource}.json"


def get_object(api: ApiClient, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return api.get_json(path, params)


def list_all(api: ApiClient, path: str, key: str, params: dict[str, Any] | None = None, *,
             limit: int | None = None, max_pages: int = 50) -> tuple[list[dict[str, Any]], bool]:
    """Items under `key` across pages (following next_page_uri) → (items, more_exist)."""
    query: dict[str, Any] | None = {**(params or {}),
                                    "PageSize": min(limit, MAX_PAGE_SIZE) if limit else MAX_PAGE_SIZE}
    current = path
    items: list[dict[str, Any]] = []
    for _ in range(max_pages):
        body = get_object(api, current, query)
        page = body.get(key)
        if not isinstance(page, list):
            raise api.unexpected("GET", current, f"no `{key}` list")
        items.extend(page)
        following = body.get("next_page_uri")
        if limit is not None and len(items) >= limit:
            return items[:limit], bool(following) or len(items) > limit
        if not following or not page:
            return items, False
        current, query = following, None  # the next page's URI carries every parameter
    return items, True


def when(value: str | None) -> dt.datetime | None:
    """Twilio's RFC 2822 dates (or ISO-8601, just in case) → aware UTC datetime; None if absent."""
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        try:
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def major_money(amount: Decimal, currency: str) -> str:
    """A major-unit amount (Twilio's balance) rounded to the currency's minor units → '$12.34 USD'."""
    minor = (amount * (Decimal(10) ** minor_units(currency))).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return money(int(minor), currency)


def price(amount: Decimal | None, currency: str | None) -> str:
    """Per-message/call prices keep sub-cent precision: '$0.0079 USD'. Costs arrive negative."""
    if amount is None:
        return "price pending"
    code = (currency or "USD").upper()
    value = abs(amount)
    text = f"{value:,.4f}".rstrip("0")
    if len(text.split(".")[1]) < 2:
        text = f"{value:,.2f}"
    return f"{SYMBOLS.get(code.lower(), '')}{text} {code}"


def duration(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
