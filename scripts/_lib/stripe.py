"""Stripe helpers for the stripe.* scripts: the client, list pagination, amounts and MRR maths.

Stripe lists are `{"object": "list", "data": [...], "has_more": bool}` and page with
`starting_after=<last id>` (limit 1–100). Amounts are integers in the currency's minor unit.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from _lib.cli import Script, UsageError
from _lib.fmt import minor_units
from _lib.http import ApiClient

DEFAULT_URL = "https://api.stripe.com/v1"
PAGE_SIZE = 100  # Stripe's maximum `limit`


def client() -> ApiClient:
    return ApiClient.for_service("stripe", DEFAULT_URL, bearer=Script.env("STRIPE_API_KEY"))


def get_object(api: ApiClient, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    return api.get_json(path, params)


def list_all(api: ApiClient, path: str, params: dict[str, Any] | None = None, *, limit: int | None = None,
             max_pages: int = 100) -> tuple[list[dict[str, Any]], bool]:
    """Items of a Stripe list across pages → (items, more_exist). Stops after `limit` items."""
    query = dict(params or {})
    query["limit"] = min(PAGE_SIZE, limit) if limit else PAGE_SIZE
    items: list[dict[str, Any]] = []
    for _ in range(max_pages):
        body = get_object(api, path, query)
        page = body.get("data")
        if not isinstance(page, list):
            raise api.unexpected("GET", path, "no `data` list")
        items.extend(page)
        has_more = bool(body.get("has_more"))
        if limit is not None and len(items) >= limit:
            return items[:limit], has_more or len(items) > limit
        if not has_more or not page:
            return items, False
        query["starting_after"] = page[-1]["id"]
    return items, True


def to_minor(amount: str, currency: str) -> int:
    """'12.50' in the charge's currency → 1250 (JPY '500' → 500, KWD '1.005' → 1005)."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise UsageError(f"--amount {amount!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise UsageError(f"--amount must be a positive amount, got {amount!r}")
    scaled = value * (Decimal(10) ** minor_units(currency))
    if scaled != scaled.to_integral_value():
        raise UsageError(f"--amount {amount} has more decimals than {currency.upper()} allows "
                         f"({minor_units(currency)})")
    return int(scaled)


def email_of(charge: dict[str, Any]) -> str | None:
    billing = charge.get("billing_details") or {}
    customer = charge.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("email") or customer.get("id")
    return billing.get("email") or charge.get("receipt_email") or customer


# --- MRR -----------------------------------------------------------------------------------------

MRR_STATUSES = ("active", "past_due")
# Months per billing interval of one unit: a weekly price is billed 52/12 times a month.
MONTHS_PER_UNIT = {"day": Decimal(12) / Decimal(365), "week": Decimal(12) / Decimal(52),
                   "month": Decimal(1), "year": Decimal(12)}


def monthly_factor(interval: str, interval_count: int | None) -> Decimal:
    """Multiplier from one billing period's amount to a month's: year×1 → 1/12, week×2 → 52/24."""
    if interval not in MONTHS_PER_UNIT:
        raise ValueError(f"unknown interval {interval!r}")
    return 1 / (MONTHS_PER_UNIT[interval] * int(interval_count or 1))


def _coupon_of(discount: Any) -> Any:
    """The coupon of a Discount: `coupon` (API versions before 2025-09-30) or `source.coupon`."""
    if not isinstance(discount, dict):
        return None
    source = discount.get("source")
    if isinstance(source, dict) and source.get("coupon"):
        return source["coupon"]
    return discount.get("coupon")


class CouponCache:
    """Discount coupons arrive as objects, or as ids (newer API versions don't auto-expand them)."""

    def __init__(self, api: ApiClient):
        self.api, self.cache = api, {}

    def resolve(self, coupon: Any) -> dict[str, Any] | None:
        if isinstance(coupon, dict):
            return coupon
        if not isinstance(coupon, str) or not coupon:
            return None
        if coupon not in self.cache:
            path = "coupons/" + urllib.parse.quote(coupon, safe="")
            self.cache[coupon] = get_object(self.api, path, {"expand[]": ["currency_options"]})
        return self.cache[coupon]


def _discounts(owner: dict[str, Any]) -> list[dict[str, Any]]:
    """Expanded discounts of a subscription or item: `discounts` plus the legacy singular `discount`."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    candidates = list(owner.get("discounts") or []) + [owner.get("discount")]
    for discount in candidates:
        if not isinstance(discount, dict):
            continue  # None, or an unexpanded id (we ask for expansion; nothing to compute)
        key = discount.get("id") or repr(sorted(discount.items(), key=str))
        if key in seen:
            continue
        seen.add(key)
        found.append(discount)
    return found


def _active(discount: dict[str, Any], coupon: dict[str, Any], now: dt.datetime) -> bool:
    """Does this discount keep reducing future invoices? `once` coupons apply to one invoice only."""
    if coupon.get("duration") == "once":
        return False
    end = discount.get("end")
    return end is None or dt.datetime.fromtimestamp(int(end), dt.UTC) > now


def _amount_off(coupon: dict[str, Any], currency: str) -> Decimal | None:
    if coupon.get("amount_off") is None:
        return None
    if (coupon.get("currency") or "").lower() == currency:
        return Decimal(coupon["amount_off"])
    option = (coupon.get("currency_options") or {}).get(currency) or {}
    if option.get("amount_off") is not None:
        return Decimal(option["amount_off"])
    return None  # Stripe doesn't apply an amount-off coupon to another currency


def apply_discounts(amount: Decimal, discounts: list[dict[str, Any]], currency: str, coupons: CouponCache,
                    now: dt.datetime, notes: list[str]) -> Decimal:
    """One billing period's amount after its discounts: amounts off first, then percentages."""
    percents: list[Decimal] = []
    for discount in discounts:
        coupon = coupons.resolve(_coupon_of(discount))
        if not coupon or not _active(discount, coupon, now):
            continue
        off = _amount_off(coupon, currency)
        if off is not None:
            amount -= off
        elif coupon.get("percent_off") is not None:
            percents.append(Decimal(str(coupon["percent_off"])))
        elif coupon.get("amount_off") is not None:
            notes.append(f"coupon {coupon.get('id')} is in {str(coupon.get('currency')).upper()}, "
                         f"not {currency.upper()}: ignored")
    amount = max(amount, Decimal(0))
    for percent in percents:
        amount *= (Decimal(100) - percent) / Decimal(100)
    return amount


def _price_of(item: dict[str, Any]) -> dict[str, Any]:
    """Normalised price of a subscription item: Price objects, or legacy Plan objects."""
    price = item.get("price") or {}
    plan = item.get("plan") or {}
    recurring = price.get("recurring") or {}
    if price:
        unit = price.get("unit_amount_decimal", price.get("unit_amount"))
        return {"id": price.get("id"), "currency": (price.get("currency") or "").lower(), "unit": unit,
                "interval": recurring.get("interval"), "interval_count": recurring.get("interval_count"),
                "usage_type": recurring.get("usage_type") or "licensed",
                "scheme": price.get("billing_scheme") or "per_unit",
                "transform": price.get("transform_quantity")}
    unit = plan.get("amount_decimal", plan.get("amount"))
    return {"id": plan.get("id"), "currency": (plan.get("currency") or "").lower(), "unit": unit,
            "interval": plan.get("interval"), "interval_count": plan.get("interval_count"),
            "usage_type": plan.get("usage_type") or "licensed", "scheme": plan.get("billing_scheme") or "per_unit",
            "transform": plan.get("transform_usage")}


def _quantity(item: dict[str, Any], transform: dict[str, Any] | None) -> Decimal:
    quantity = Decimal(item.get("quantity") if item.get("quantity") is not None else 1)
    if transform and transform.get("divide_by"):
        quantity = quantity / Decimal(transform["divide_by"])
        rounding = "ROUND_UP" if transform.get("round") == "up" else "ROUND_DOWN"
        quantity = quantity.to_integral_value(rounding=rounding)
    return quantity


def subscription_mrr(sub: dict[str, Any], items: list[dict[str, Any]], coupons: CouponCache,
                     now: dt.datetime, skipped: dict[str, int], notes: list[str]) -> dict[str, Decimal]:
    """Monthly amount (minor units, unrounded) per currency of one subscription, after discounts."""
    per_currency: dict[str, Decimal] = {}
    period_totals: dict[str, Decimal] = {}
    factors: dict[str, Decimal] = {}
    for item in items:
        price = _price_of(item)
        if price["usage_type"] == "metered":
            skipped["metered items"] = skipped.get("metered items", 0) + 1
            continue
        if price["scheme"] != "per_unit" or price["unit"] is None:
            skipped["tiered-price items"] = skipped.get("tiered-price items", 0) + 1
            continue
        if price["interval"] not in MONTHS_PER_UNIT:
            skipped["non-recurring items"] = skipped.get("non-recurring items", 0) + 1
            continue
        currency = price["currency"] or (sub.get("currency") or "").lower()
        amount = Decimal(str(price["unit"])) * _quantity(item, price["transform"])
        amount = apply_discounts(amount, _discounts(item), currency, coupons, now, notes)
        period_totals[currency] = period_totals.get(currency, Decimal(0)) + amount
        factor = monthly_factor(price["interval"], price["interval_count"])
        factors.setdefault(currency, factor)
        per_currency[currency] = per_currency.get(currency, Decimal(0)) + amount * factor
    sub_discounts = _discounts(sub)
    if sub_discounts:
        # Subscription-level discounts apply to each invoice's total, after item discounts.
        for currency, period_total in period_totals.items():
            if period_total <= 0:
                continue
            after = apply_discounts(period_total, sub_discounts, currency, coupons, now, notes)
            per_currency[currency] *= after / period_total
    return per_currency


def round_minor(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
