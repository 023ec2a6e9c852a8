"""Output formatting shared by the scripts: short, Slack-mrkdwn friendly, UTC ISO-8601."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

# ISO 4217 minor units that are not 2 (Stripe's zero-decimal and three-decimal currencies).
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
                "xaf", "xof", "xpf"}
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹", "krw": "₩"}


def minor_units(currency: str) -> int:
    code = currency.lower()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def money(amount_minor: int | float | Decimal, currency: str) -> str:
    """Minor units (as the APIs send them) → '$1,234.50 USD'."""
    digits = minor_units(currency)
    value = Decimal(str(amount_minor)) / (Decimal(10) ** digits)
    sign = "-" if value < 0 else ""
    symbol = SYMBOLS.get(currency.lower(), "")
    return f"{sign}{symbol}{abs(value):,.{digits}f} {currency.upper()}"


def parse_time(value: str | int | float | None) -> dt.datetime | None:
    """ISO-8601 strings (with Z or offsets) or epoch seconds/milliseconds → aware UTC datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10**11 else value
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    text = str(value).strip().replace("Z", "+00:00")
    if text.endswith("+0000"):
        text = text[:-5] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def iso(value: str | int | float | dt.datetime | None) -> str:
    moment = value if isinstance(value, dt.datetime) else parse_time(value)
    if moment is None:
        return "—"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(value: str | int | float | dt.datetime | None, now: dt.datetime | None = None) -> str:
    """'2026-11-25T09:00:00Z (3h ago)' — both the exact UTC time and a human form."""
    moment = value if isinstance(value, dt.datetime) else parse_time(value)
    if moment is None:
        return "—"
    now = now or dt.datetime.now(dt.UTC)
    seconds = int((now - moment).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            span = f"{seconds // size}{unit}"
            break
    else:
        span = f"{seconds}s"
    return f"{iso(moment)} ({'in ' + span if future else span + ' ago'})"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def more_line(shown: int, total: int | None) -> str | None:
    if total is not None and total > shown:
        return f"…and {total - shown} more"
    return None


def bullet_list(items: Iterable[str], total: int | None = None, empty: str = "none") -> list[str]:
    """Lines of `• item`, then '…and N more' when `total` says there were more than shown."""
    lines = [f"• {item}" for item in items]
    if not lines:
        return [f"_{empty}_"]
    extra = more_line(len(lines), total)
    return lines + ([extra] if extra else [])


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A fixed-width table inside a code block (renders aligned in Slack)."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "```\n" + "\n".join(lines) + "\n```"
