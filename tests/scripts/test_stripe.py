"""stripe.* scripts against a local fake speaking Stripe's REST shapes (lists, has_more/starting_after,
form-encoded writes, `{"error": {...}}` bodies)."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from werkzeug import Request, Response

from tests.scripts.harness import run_script
from tests.scripts.upstream import Case, Rejection, Upstream, failure_tests

KEY = "sk_test_opsbot"
NOW = int(time.time())
DAY = 86400


@pytest.fixture(autouse=True)
def _fresh_now():
    """Relative times ("2m ago") are computed by the script against the real clock: anchor the
    fake data to the clock when each test starts, not when the module was imported."""
    global NOW
    NOW = int(time.time())


@pytest.fixture
def env(httpserver):
    return {"STRIPE_API_KEY": KEY, "STRIPE_API_URL": httpserver.url_for("/v1")}


def stripe_list(httpserver, path: str, objects: list[dict]) -> None:
    """A Stripe list endpoint: honours `limit` and `starting_after`, answers has_more."""

    def handler(request: Request) -> Response:
        limit = int(request.args.get("limit", 10))
        start = 0
        if "starting_after" in request.args:
            ids = [o["id"] for o in objects]
            start = ids.index(request.args["starting_after"]) + 1
        page = objects[start:start + limit]
        body = {"object": "list", "url": path, "has_more": start + limit < len(objects), "data": page}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request(path, method="GET").respond_with_handler(handler)


def requests_to(httpserver, path: str, method: str = "GET") -> list[Request]:
    return [req for req, _ in httpserver.log if req.path == path and req.method == method]


def charge(i: int, *, amount=2500, currency="usd", status="succeeded", age=3600, **extra) -> dict:
    return {"id": f"ch_{i:04d}", "object": "charge", "amount": amount, "currency": currency, "status": status,
            "paid": status == "succeeded", "amount_refunded": 0, "refunded": False, "disputed": False,
            "created": NOW - age, "customer": f"cus_{i}", "description": None,
            "billing_details": {"email": f"user{i}@example.com"}, "receipt_email": None,
            "failure_code": None, "failure_message": None, "outcome": {"reason": None}, **extra}


# --- stripe.balance ------------------------------------------------------------------------------

def test_balance_per_currency_with_minor_units(httpserver, env):
    httpserver.expect_request("/v1/balance").respond_with_json({
        "object": "balance", "livemode": True,
        "available": [{"amount": 123456, "currency": "usd", "source_types": {"card": 123456}},
                      {"amount": 5000, "currency": "jpy", "source_types": {"card": 5000}}],
        "pending": [{"amount": 4200, "currency": "usd", "source_types": {"card": 4200}},
                    {"amount": 0, "currency": "jpy", "source_types": {"card": 0}}],
    })
    result = run_script("stripe.balance", env=env)
    assert result.code == 0, result.stderr
    assert "*$1,234.56 USD* available · $42.00 USD pending" in result.stdout
    assert "*¥5,000 JPY* available" in result.stdout  # zero-decimal currency
    (req,) = requests_to(httpserver, "/v1/balance")
    assert req.headers["Authorization"] == f"Bearer {KEY}"

    data = run_script("stripe.balance", "--json", env=env).json()
    assert data["balances"][0] == {"currency": "usd", "available_minor": 123456, "available": "$1,234.56 USD",
                                   "pending_minor": 4200, "pending": "$42.00 USD"}
    assert data["balances"][1]["available_minor"] == 5000


def test_balance_empty(httpserver, env):
    httpserver.expect_request("/v1/balance").respond_with_json(
        {"object": "balance", "livemode": False, "available": [], "pending": []})
    result = run_script("stripe.balance", env=env)
    assert result.code == 0
    assert "no funds" in result.stdout


# --- stripe.mrr ----------------------------------------------------------------------------------

def price(unit: int, interval: str, count: int = 1, currency: str = "usd", **extra) -> dict:
    return {"id": f"price_{unit}_{interval}{count}", "object": "price", "currency": currency, "unit_amount": unit,
            "unit_amount_decimal": str(unit), "billing_scheme": "per_unit", "type": "recurring",
            "recurring": {"interval": interval, "interval_count": count, "usage_type": "licensed"}, **extra}


def sub(sid: str, items: list[tuple[dict, int]], status: str = "active", *, discounts=(), discount=None,
        item_discounts=None) -> dict:
    data = [{"id": f"si_{sid}_{n}", "object": "subscription_item", "price": p, "quantity": q,
             "discounts": list((item_discounts or {}).get(n, []))} for n, (p, q) in enumerate(items)]
    body = {"id": f"sub_{sid}", "object": "subscription", "status": status, "currency": items[0][0]["currency"],
            "items": {"object": "list", "data": data, "has_more": False}, "discounts": list(discounts)}
    if discount is not None:
        body["discount"] = discount  # the singular field of API versions before 2025-03-31
    return body


def coupon(cid: str, *, percent_off=None, amount_off=None, currency=None, duration="forever") -> dict:
    return {"id": cid, "object": "coupon", "percent_off": percent_off, "amount_off": amount_off,
            "currency": currency, "duration": duration, "valid": True}


def discount(did: str, coupon_obj, *, end=None, clover=False) -> dict:
    base = {"id": did, "object": "discount", "start": NOW - 30 * DAY, "end": end}
    if clover:  # 2025-09-30.clover: `source.coupon`, an id unless expanded
        return {**base, "source": {"type": "coupon", "coupon": coupon_obj}}
    return {**base, "coupon": coupon_obj}


def test_mrr_normalises_intervals_quantities_discounts_per_currency(httpserver, env):
    subs = [
        sub("monthly", [(price(2000, "month"), 3)]),                                   # 6000
        sub("yearly", [(price(120000, "year"), 1)]),                                   # 10000
        sub("weekly", [(price(1000, "week"), 2)], status="past_due"),                  # 2000 × 52/12
        sub("quarterly", [(price(30000, "month", 3), 1)]),                             # 10000
        sub("daily", [(price(100, "day"), 1)]),                                        # 100 × 365/12
        sub("pct", [(price(5000, "month"), 1)],                                        # 4000
            discount=discount("di_pct", coupon("c20", percent_off=20))),
        sub("amt", [(price(10000, "month"), 1)],                                       # 7500 (clover shape)
            discounts=[discount("di_amt", "co_25off", end=NOW + 60 * DAY, clover=True)]),
        sub("yearoff", [(price(60000, "year"), 1)],                                    # (60000-6000)/12 = 4500
            discounts=[discount("di_yr", coupon("c60", amount_off=6000, currency="usd"))]),
        sub("once", [(price(3000, "month"), 1)],                                       # 3000: once ≠ recurring
            discounts=[discount("di_once", coupon("half1", percent_off=50, duration="once"))]),
        sub("expired", [(price(2000, "month"), 1)],                                    # 2000: repeating, ended
            discounts=[discount("di_old", coupon("rep", percent_off=50, duration="repeating"), end=NOW - DAY)]),
        sub("metered", [(price(1000, "month"), 1),                                     # 1000 + a metered item
                        (price(5, "month") | {"recurring": {"interval": "month", "usage_type": "metered"}}, 1)]),
        sub("eur", [(price(900, "month", currency="eur"), 2)],                         # 1800 − 10 % = 1620
            item_discounts={0: [discount("di_eur", coupon("c10", percent_off=10))]}),
        sub("eurwrong", [(price(1000, "month", currency="eur"), 1)],                   # 1000: USD coupon ignored
            discounts=[discount("di_usd", coupon("usd5", amount_off=500, currency="usd"))]),
        sub("jpy", [(price(1200, "year", currency="jpy"), 10)]),                       # ¥1,000
        sub("trial", [(price(99900, "month"), 1)], status="trialing"),
        sub("canceled", [(price(99900, "month"), 1)], status="canceled"),
        sub("incomplete", [(price(99900, "month"), 1)], status="incomplete"),
    ]
    stripe_list(httpserver, "/v1/subscriptions", subs)
    httpserver.expect_request("/v1/coupons/co_25off").respond_with_json(
        coupon("co_25off", amount_off=2500, currency="usd", duration="repeating"))

    result = run_script("stripe.mrr", "--json", env=env)
    assert result.code == 0, result.stderr
    data = result.json()
    usd = (Decimal(6000) + 10000 + Decimal(2000) * 52 / 12 + 10000 + Decimal(100) * 365 / 12 + 4000 + 7500
           + 4500 + 3000 + 2000 + 1000)
    assert data["currencies"]["usd"]["mrr_minor"] == round(usd)  # 59708.33… → 59708
    assert data["currencies"]["usd"]["mrr"] == "$597.08 USD"
    assert data["currencies"]["usd"]["subscriptions"] == 11
    assert data["currencies"]["usd"]["past_due_subscriptions"] == 1
    assert data["currencies"]["eur"]["mrr_minor"] == 1620 + 1000
    assert data["currencies"]["jpy"] == {"mrr_minor": 1000, "mrr": "¥1,000 JPY", "arr_minor": 12000,
                                         "arr": "¥12,000 JPY", "subscriptions": 1, "past_due_subscriptions": 0}
    assert data["subscriptions_counted"] == 14
    assert data["skipped"] == {"metered items": 1}
    assert any("usd5" in note for note in data["notes"])

    req = requests_to(httpserver, "/v1/subscriptions")[0]
    assert req.headers["Authorization"] == f"Bearer {KEY}"
    assert "status" not in req.args  # default list = everything but canceled; filtered client-side
    assert set(req.args.getlist("expand[]")) == {"data.discounts", "data.items.data.discounts"}
    assert req.args["limit"] == "100"
    assert len(requests_to(httpserver, "/v1/coupons/co_25off")) == 1

    text = run_script("stripe.mrr", env=env)
    assert text.code == 0
    assert "• *$597.08 USD* /month — ARR $7,164.96 USD — 11 subscriptions, 1 past due" in text.stdout
    assert "• *€26.20 EUR* /month" in text.stdout
    assert "• *¥1,000 JPY* /month" in text.stdout
    assert "Not counted: 1 metered items" in text.stdout
    assert text.stdout.index("USD") < text.stdout.index("EUR")  # biggest first


def test_mrr_paginates_subscriptions_and_items(httpserver, env):
    many = [sub(f"p{i:03d}", [(price(1000, "month"), 1)]) for i in range(150)]
    big = sub("big", [(price(100, "month"), 1)])
    big["items"]["has_more"] = True  # more items than came inline: fetched from /v1/subscription_items
    many.append(big)
    stripe_list(httpserver, "/v1/subscriptions", many)
    stripe_list(httpserver, "/v1/subscription_items", [
        {"id": f"si_big_{n}", "object": "subscription_item", "price": price(100, "month"), "quantity": 1,
         "discounts": []} for n in range(3)])
    data = run_script("stripe.mrr", "--json", env=env).json()
    assert data["currencies"]["usd"]["mrr_minor"] == 150 * 1000 + 300
    pages = requests_to(httpserver, "/v1/subscriptions")
    assert len(pages) == 2
    assert pages[1].args["starting_after"] == "sub_p099"
    (items_req,) = requests_to(httpserver, "/v1/subscription_items")
    assert items_req.args["subscription"] == "sub_big"


def test_mrr_empty(httpserver, env):
    stripe_list(httpserver, "/v1/subscriptions", [sub("t", [(price(500, "month"), 1)], status="trialing")])
    result = run_script("stripe.mrr", env=env)
    assert result.code == 0
    assert "MRR is 0" in result.stdout
    assert run_script("stripe.mrr", "--json", env=env).json()["currencies"] == {}


# --- stripe.recent-charges -----------------------------------------------------------------------

def test_recent_charges(httpserver, env):
    charges = [charge(1, amount=4999, description="Pro plan", age=120),
               charge(2, amount=1000, status="failed", failure_code="card_declined",
                      failure_message="Your card was declined.", age=7200),
               charge(3, amount=500000, currency="jpy", amount_refunded=100000, age=3 * DAY)]
    stripe_list(httpserver, "/v1/charges", charges)
    result = run_script("stripe.recent-charges", "--limit", "3", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*Last 3 Stripe charges*"
    assert lines[1].startswith("• *$49.99 USD* — succeeded — user1@example.com — “Pro plan” — `ch_0001` — ")
    assert "(2m ago)" in lines[1]
    assert "failed — card_declined: Your card was declined." in lines[2]
    assert "*¥500,000 JPY* — succeeded (refunded ¥100,000 JPY)" in lines[3]
    (req,) = requests_to(httpserver, "/v1/charges")
    assert req.args["limit"] == "3"
    assert req.headers["Authorization"] == f"Bearer {KEY}"

    short = run_script("stripe.recent-charges", "--limit", "2", "--json", env=env).json()
    assert [c["id"] for c in short["charges"]] == ["ch_0001", "ch_0002"]
    assert short["has_more"] is True
    assert short["charges"][0]["amount"] == "$49.99 USD"
    assert short["charges"][0]["created"].endswith("Z")
    assert "more charges exist" in run_script("stripe.recent-charges", "--limit", "2", env=env).stdout


def test_recent_charges_empty_and_bad_limit(httpserver, env):
    stripe_list(httpserver, "/v1/charges", [])
    assert run_script("stripe.recent-charges", env=env).stdout.strip() == "No charges yet."
    assert run_script("stripe.recent-charges", "--limit", "500", env=env).code == 2


# --- stripe.failed-payments ----------------------------------------------------------------------

def test_failed_payments_pages_through_the_window(httpserver, env):
    charges = [charge(i, age=600 + i * 60) for i in range(150)]
    charges[10] = charge(10, amount=1500, status="failed", failure_code="card_declined",
                         failure_message="Your card was declined.", outcome={"reason": "insufficient_funds"})
    charges[120] = charge(120, amount=2000, status="failed", failure_code="card_declined",
                          failure_message="Your card was declined.", outcome={"reason": "generic_decline"})
    charges[140] = charge(140, amount=700, currency="eur", status="failed", failure_code="expired_card",
                          failure_message="Your card has expired.", outcome={"reason": "expired_card"})
    stripe_list(httpserver, "/v1/charges", charges)
    result = run_script("stripe.failed-payments", "--days", "3", "--limit", "2", env=env)
    assert result.code == 0, result.stderr
    out = result.stdout
    assert "*3 failed payments* in the last 3 days ($35.00 USD + €7.00 EUR) out of 150 charges" in out
    assert "insufficient_funds ×1" in out and "expired_card ×1" in out
    assert "• $15.00 USD — user10@example.com — Your card was declined. — `ch_0010`" in out
    assert "…and 1 more" in out
    pages = requests_to(httpserver, "/v1/charges")
    assert len(pages) == 2
    since = int(pages[0].args["created[gte]"])
    assert abs(since - (time.time() - 3 * DAY)) < 60
    assert pages[1].args["starting_after"] == "ch_0099"

    data = run_script("stripe.failed-payments", "--json", env=env).json()
    assert data["failed"] == 3 and data["charges_seen"] == 150
    assert data["totals"]["usd"] == {"minor": 3500, "amount": "$35.00 USD"}
    assert [p["id"] for p in data["payments"]] == ["ch_0010", "ch_0120", "ch_0140"]


def test_failed_payments_none(httpserver, env):
    stripe_list(httpserver, "/v1/charges", [charge(1), charge(2)])
    result = run_script("stripe.failed-payments", env=env)
    assert result.code == 0
    assert result.stdout.strip() == "No failed payments in the last 7 days (2 charges checked)."


# --- stripe.customer -----------------------------------------------------------------------------

def customer_obj(cid="cus_1", email="jane@example.com", **extra) -> dict:
    subs = {"object": "list", "has_more": False, "data": [
        {"id": "sub_1", "object": "subscription", "status": "active", "cancel_at_period_end": True,
         "created": NOW - 90 * DAY, "items": {"object": "list", "has_more": False, "data": [
             {"id": "si_1", "quantity": 2, "price": price(4900, "month") | {"nickname": "Pro"}}]}}]}
    return {"id": cid, "object": "customer", "email": email, "name": "Jane Doe", "created": NOW - 400 * DAY,
            "delinquent": False, "balance": -1500, "currency": "usd", "subscriptions": subs, **extra}


def test_customer_by_email(httpserver, env):
    stripe_list(httpserver, "/v1/customers", [customer_obj()])
    stripe_list(httpserver, "/v1/charges", [charge(7, amount=9800, customer="cus_1")])
    result = run_script("stripe.customer", "--email", "jane@example.com", env=env)
    assert result.code == 0, result.stderr
    out = result.stdout
    assert "*Jane Doe* (jane@example.com) `cus_1`" in out
    assert "balance: $15.00 USD (credit)" in out
    assert "subscription `sub_1`: active (cancels at period end) — Pro $49.00 USD/month ×2" in out
    assert "• $98.00 USD succeeded — `ch_0007`" in out
    (req,) = requests_to(httpserver, "/v1/customers")
    assert req.args["email"] == "jane@example.com"
    assert req.args.getlist("expand[]") == ["data.subscriptions"]
    charges_req = requests_to(httpserver, "/v1/charges")[0]
    assert charges_req.args["customer"] == "cus_1" and charges_req.args["limit"] == "3"

    data = run_script("stripe.customer", "--email", "jane@example.com", "--json", env=env).json()
    assert data["customers"][0]["id"] == "cus_1"
    assert data["customers"][0]["subscriptions"][0]["status"] == "active"
    assert data["customers"][0]["recent_charges"][0]["id"] == "ch_0007"


def test_customer_not_found_retries_lowercase(httpserver, env):
    stripe_list(httpserver, "/v1/customers", [])
    result = run_script("stripe.customer", "--email", "Nobody@Example.com", env=env)
    assert result.code == 0
    assert result.stdout.strip() == "No Stripe customer with email Nobody@Example.com."
    assert [r.args["email"] for r in requests_to(httpserver, "/v1/customers")] == [
        "Nobody@Example.com", "nobody@example.com"]
    assert run_script("stripe.customer", "--email", "not-an-email", env=env).code == 2


# --- stripe.subscriptions ------------------------------------------------------------------------

def test_subscription_counts_by_status(httpserver, env):
    statuses = ["active"] * 90 + ["trialing"] * 20 + ["past_due"] * 5 + ["canceled"] * 7
    stripe_list(httpserver, "/v1/subscriptions",
                [{"id": f"sub_{i:03d}", "object": "subscription", "status": s} for i, s in enumerate(statuses)])
    result = run_script("stripe.subscriptions", "--include-canceled", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "*Stripe subscriptions by status* — 122 total",
        "• active: 90", "• trialing: 20", "• past_due: 5", "• canceled: 7"]
    pages = requests_to(httpserver, "/v1/subscriptions")
    assert len(pages) == 2 and pages[0].args["status"] == "all"

    httpserver.clear_log()
    data = run_script("stripe.subscriptions", "--json", env=env).json()
    assert data["counts"]["active"] == 90 and data["total"] == 122
    assert "status" not in requests_to(httpserver, "/v1/subscriptions")[0].args


def test_subscriptions_empty(httpserver, env):
    stripe_list(httpserver, "/v1/subscriptions", [])
    assert "No Stripe subscriptions" in run_script("stripe.subscriptions", env=env).stdout


# --- stripe.payouts ------------------------------------------------------------------------------

def test_payouts(httpserver, env):
    payouts = [
        {"id": "po_2", "object": "payout", "amount": 250000, "currency": "usd", "status": "in_transit",
         "arrival_date": NOW + 2 * DAY + 3600, "created": NOW - 3600, "method": "standard", "automatic": True},
        {"id": "po_1", "object": "payout", "amount": 99000, "currency": "usd", "status": "failed",
         "arrival_date": NOW - 5 * DAY, "created": NOW - 7 * DAY, "method": "instant", "automatic": False,
         "failure_code": "account_closed", "failure_message": "The bank account has been closed."},
        {"id": "po_0", "object": "payout", "amount": 1000, "currency": "usd", "status": "paid",
         "arrival_date": NOW - 9 * DAY, "created": NOW - 10 * DAY, "method": "standard", "automatic": True},
    ]
    stripe_list(httpserver, "/v1/payouts", payouts)
    result = run_script("stripe.payouts", "--limit", "2", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("• *$2,500.00 USD* — in_transit — arrives ")
    assert lines[1].endswith("(in 2d) — `po_2`")
    assert lines[2].endswith("`po_1` (instant) — The bank account has been closed.")
    assert "more payouts exist" in lines[3]
    (req,) = requests_to(httpserver, "/v1/payouts")
    assert req.args["limit"] == "2"
    data = run_script("stripe.payouts", "--json", env=env).json()
    assert [p["status"] for p in data["payouts"]] == ["in_transit", "failed", "paid"]
    assert data["payouts"][0]["amount_minor"] == 250000 and data["has_more"] is False


def test_payouts_empty(httpserver, env):
    stripe_list(httpserver, "/v1/payouts", [])
    assert run_script("stripe.payouts", env=env).stdout.strip() == "No Stripe payouts yet."


# --- stripe.refund (write) -----------------------------------------------------------------------

def refund_fake(httpserver, ch: dict) -> None:
    httpserver.expect_request(f"/v1/charges/{ch['id']}", method="GET").respond_with_json(ch)

    def create(request: Request) -> Response:
        amount = int(request.form.get("amount") or ch["amount"] - ch["amount_refunded"])
        body = {"id": "re_123", "object": "refund", "amount": amount, "charge": request.form["charge"],
                "currency": ch["currency"], "status": "succeeded", "reason": request.form.get("reason")}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/v1/refunds", method="POST").respond_with_handler(create)


def test_refund_full(httpserver, env):
    refund_fake(httpserver, charge(5, amount=4999))
    result = run_script("stripe.refund", "--charge", "ch_0005", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == ("Refunded *$49.99 USD* of charge `ch_0005` (user5@example.com) — "
                                     "refund `re_123` is succeeded.")
    (post,) = requests_to(httpserver, "/v1/refunds", "POST")
    assert post.headers["Authorization"] == f"Bearer {KEY}"
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert post.form.to_dict() == {"charge": "ch_0005", "amount": "4999"}
    assert post.headers["Idempotency-Key"].startswith("opsbot-")


def test_refund_partial_in_major_units(httpserver, env):
    refund_fake(httpserver, charge(6, amount=10000, amount_refunded=2000))
    result = run_script("stripe.refund", "--charge", "ch_0006", "--amount", "12.50",
                        "--reason", "requested_by_customer", "--json", env=env)
    assert result.code == 0, result.stderr
    data = result.json()
    assert data["amount_minor"] == 1250 and data["amount"] == "$12.50 USD"
    assert data["left_to_refund_minor"] == 10000 - 2000 - 1250
    (post,) = requests_to(httpserver, "/v1/refunds", "POST")
    assert post.form.to_dict() == {"charge": "ch_0006", "amount": "1250", "reason": "requested_by_customer"}


def test_refund_zero_decimal_currency(httpserver, env):
    refund_fake(httpserver, charge(7, amount=5000, currency="jpy"))
    result = run_script("stripe.refund", "--charge", "ch_0007", "--amount", "500", env=env)
    assert result.code == 0, result.stderr
    assert "Partly refunded *¥500 JPY*" in result.stdout
    assert "¥4,500 JPY of the charge is left to refund." in result.stdout
    assert requests_to(httpserver, "/v1/refunds", "POST")[0].form["amount"] == "500"


@pytest.mark.parametrize("argv, ch, message", [
    (["--amount", "60"], charge(8, amount=5000), "more than the $50.00 USD left"),
    (["--amount", "1.005"], charge(8), "more decimals than USD allows"),
    (["--amount", "-3"], charge(8), "positive"),
    ([], charge(8, amount_refunded=2500, refunded=True), "already fully refunded"),
    ([], charge(8, status="failed"), "cannot be refunded: failed"),
])
def test_refund_refuses_bad_amounts_without_posting(httpserver, env, argv, ch, message):
    refund_fake(httpserver, ch)
    result = run_script("stripe.refund", "--charge", "ch_0008", *argv, env=env)
    assert result.code == 2, result.stderr
    assert message in result.stderr
    assert requests_to(httpserver, "/v1/refunds", "POST") == []


# --- errors, once for every script -----------------------------------------------------------------

STRIPE = Upstream(
    service="stripe", secret=KEY,
    rejections=[Rejection(401, {"error": {"type": "invalid_request_error",
                                          "message": "Invalid API Key provided: sk_test_****bot"}},
                          "Invalid API Key provided")],
    rate_limited={"error": {"type": "rate_limit_error", "message": "Too many requests"}},
    server_error={"error": {"type": "api_error", "message": "An unknown error occurred"}},
    server_error_detail="An unknown error occurred")
EMPTY_LIST = {"object": "list", "data": [], "has_more": False}


def _charge_to_refund(httpserver):
    httpserver.expect_request("/v1/charges/ch_0001", method="GET").respond_with_json(charge(1))


CASES = [
    Case("stripe.balance", [], "GET", "/v1/balance", ok={"object": "balance", "available": [], "pending": []}),
    Case("stripe.mrr", [], "GET", "/v1/subscriptions", ok=EMPTY_LIST),
    Case("stripe.recent-charges", [], "GET", "/v1/charges", ok=EMPTY_LIST),
    Case("stripe.failed-payments", [], "GET", "/v1/charges", ok=EMPTY_LIST),
    Case("stripe.customer", ["--email", "a@b.co"], "GET", "/v1/customers", ok=EMPTY_LIST),
    Case("stripe.subscriptions", [], "GET", "/v1/subscriptions", ok=EMPTY_LIST),
    Case("stripe.payouts", [], "GET", "/v1/payouts", ok=EMPTY_LIST),
    Case("stripe.refund", ["--charge", "ch_0001"], "POST", "/v1/refunds", fake=_charge_to_refund,
         ok={"id": "re_1", "object": "refund", "amount": 2500, "status": "succeeded"}),
]
test_401_credentials_rejected, test_429_is_retried, test_500_names_the_call, test_malformed_json = \
    failure_tests(STRIPE, CASES)
