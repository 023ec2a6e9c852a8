"""Output formatting shared by the scripts: short, Slack-mrkdwn friendly, UTC ISO-8601."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
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


def parse_time(value: str | int | float | dt.datetime | None) -> dt.datetime | None:
    """ISO-8601 strings (with Z or offsets), RFC 2822 dates (Twilio, HTTP), or epoch seconds /
    milliseconds (numbers or digit strings) → aware UTC datetime. Naive values are taken as UTC.
    Raises ValueError for text that is none of these."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return _utc(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return _from_epoch(float(value))
    text = str(value).strip()
    if re.fullmatch(r"-?\d{9,}(?:\.\d+)?", text):  # epoch as text; short digit runs are ISO dates
        return _from_epoch(float(text))
    iso_text = re.sub(r"[zZ]$", "+00:00", text)
    iso_text = re.sub(r"(\.\d{6})\d+", r"\1", iso_text)  # nanoseconds (Go, k8s) → microseconds
    iso_text = re.sub(r"\s*(?:UTC|GMT)$", "+00:00", iso_text)
    try:
        return _utc(dt.datetime.fromisoformat(iso_text))
    except ValueError:
        pass
    try:
        return _utc(email.utils.parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"not a recognisable time: {text!r}") from None


def _from_epoch(number: float) -> dt.datetime:
    seconds = number / 1000 if abs(number) > 10**11 else number
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _moment(value: str | int | float | dt.datetime | None) -> dt.datetime | str | None:
    """parse_time, but text it cannot read comes back unchanged (shown as is, not a crash)."""
    try:
        return parse_time(value)
    except (ValueError, OverflowError, OSError):
        return str(value)


def iso(value: str | int | float | dt.datetime | None) -> str:
    moment = _moment(value)
    if moment is None:
        return "—"
    if isinstance(moment, str):
        return moment
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def span(seconds: float) -> str:
    """A short human duration: 45s, 12m, 3h, 5d (largest whole unit)."""
    seconds = round(abs(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def ago(value: str | int | float | dt.datetime | None, now: dt.datetime | None = None) -> str:
    """'2026-11-25T09:00:00Z (3h ago)' — both the exact UTC time and a human form."""
    moment = _moment(value)
    if moment is None:
        return "—"
    if isinstance(moment, str):
        return moment
    now = _utc(now) if now else dt.datetime.now(dt.UTC)
    seconds = (now - moment).total_seconds()
    human = f"in {span(seconds)}" if seconds < 0 else f"{span(seconds)} ago"
    return f"{iso(moment)} ({human})"


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
    extra = more_line(len(lines), total)
    if not lines:
        return [extra] if extra else [f"_{empty}_"]
    return lines + ([extra] if extra else [])


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A fixed-width table inside a code block (renders aligned in Slack)."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "```\n" + "\n".join(lines) + "\n```"


def escape(text: object) -> str:
    """Slack mrkdwn control characters in upstream text (titles like `Foo<Bar>` or `<anonymous>`)."""
    return str(text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def one_line(text: str | None, width: int = 90) -> str:
    """First line of a title or message, escaped for Slack, cut to width."""
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    first = escape(first)
    return first if len(first) <= width else first[: width - 1] + "…"


def link(url: str | None, text: str) -> str:
    """Slack mrkdwn link; plain text when there is no URL."""
    return f"<{url}|{text}>" if url else text
