"""twilio.* scripts against a local fake speaking Twilio's 2010-04-01 REST shapes (basic auth,
`next_page_uri` paging, RFC 2822 dates, string prices, `{"code", "message", "status"}` errors)."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import json
import urllib.parse

import pytest
from werkzeug import Request, Response

from tests.scripts.harness import run_script
from tests.scripts.upstream import Case, Rejection, Upstream, failure_tests

SID = "AC" + "0" * 31 + "1"
TOKEN = "twilio-token"
BASE = f"/2010-04-01/Accounts/{SID}"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
BASIC = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


@pytest.fixture(autouse=True)
def _fresh_now():
    """Relative times ("2m ago") are computed by the script against the real clock: anchor the
    fake data to the clock when each test starts, not when the module was imported."""
    global NOW
    NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@pytest.fixture
def env(httpserver):
    return {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_API_URL": httpserver.url_for("/")}


def rfc2822(ago: dt.timedelta) -> str:
    return email.utils.format_datetime(NOW - ago)


def twilio_list(httpserver, path: str, key: str, objects: list[dict]) -> None:
    """A Twilio list resource: PageSize (max 1000), Page + PageToken, next_page_uri keeps the filters."""

    def handler(request: Request) -> Response:
        size = min(int(request.args.get("PageSize", 50)), 1000)
        page = int(request.args.get("Page", 0))
        start = page * size
        data = objects[start:start + size]
        filters = {k: v for k, v in request.args.items() if k not in ("Page", "PageToken", "PageSize")}
        nxt = None
        if start + size < len(objects):
            query = urllib.parse.urlencode({**filters, "PageSize": size, "Page": page + 1, "PageToken": f"PA{start}"})
            nxt = f"{path}?{query}"
        body = {key: data, "first_page_uri": f"{path}?PageSize={size}&Page=0", "next_page_uri": nxt,
                "previous_page_uri": None, "page": page, "page_size": size, "start": start,
                "end": start + len(data) - 1, "uri": request.full_path}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request(path, method="GET").respond_with_handler(handler)


def requests_to(httpserver, path: str, method: str = "GET") -> list[Request]:
    return [req for req, _ in httpserver.log if req.path == path and req.method == method]


def message(i: int, *, ago=dt.timedelta(minutes=5), **extra) -> dict:
    return {"sid": f"SM{i:032d}", "account_sid": SID, "from": "+14155550100", "to": f"+1650555{i % 10000:04d}",
            "body": f"Hello {i}", "status": "delivered", "direction": "outbound-api", "num_segments": "1",
            "date_created": rfc2822(ago), "date_sent": rfc2822(ago), "date_updated": rfc2822(ago),
            "price": "-0.00790", "price_unit": "USD", "error_code": None, "error_message": None, **extra}


def call(i: int, *, ago=dt.timedelta(hours=1), **extra) -> dict:
    return {"sid": f"CA{i:032d}", "account_sid": SID, "from": "+16505550123", "to": "+14155550100",
            "status": "completed", "direction": "inbound", "duration": "60", "price": "-0.0085",
            "price_unit": "USD", "start_time": rfc2822(ago), "end_time": rfc2822(ago - dt.timedelta(minutes=1)),
            "date_created": rfc2822(ago), **extra}


def number(i: int, **extra) -> dict:
    return {"sid": f"PN{i:032d}", "account_sid": SID, "phone_number": f"+1415555{i:04d}",
            "friendly_name": f"(415) 555-{i:04d}", "status": "in-use", "date_created": rfc2822(dt.timedelta(days=90)),
            "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
            "sms_url": "", "voice_url": "", **extra}


# --- twilio.balance ------------------------------------------------------------------------------

def test_balance(httpserver, env):
    httpserver.expect_request(f"{BASE}/Balance.json").respond_with_json(
        {"currency": "USD", "balance": "12.3456", "account_sid": SID})
    result = run_script("twilio.balance", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "*Twilio balance*: $12.35 USD ⚠ below $20.00 USD"
    (req,) = requests_to(httpserver, f"{BASE}/Balance.json")
    assert req.headers["Authorization"] == BASIC

    data = run_script("twilio.balance", "--warn-below", "5", "--json", env=env).json()
    assert data == {"account_sid": SID, "balance": "12.3456", "currency": "USD", "formatted": "$12.35 USD",
                    "low": False, "warn_below": 5.0}


def test_balance_other_currency_and_missing_field(httpserver, env):
    httpserver.expect_oneshot_request(f"{BASE}/Balance.json").respond_with_json(
        {"currency": "EUR", "balance": "250.5", "account_sid": SID})
    assert run_script("twilio.balance", env=env).stdout.strip() == "*Twilio balance*: €250.50 EUR"
    httpserver.expect_request(f"{BASE}/Balance.json").respond_with_json({"account_sid": SID})
    result = run_script("twilio.balance", env=env)
    assert result.code == 4 and "unexpected response" in result.stderr


# --- twilio.recent-messages ----------------------------------------------------------------------

def test_recent_messages(httpserver, env):
    msgs = [message(1, body="Your code is <123456>", ago=dt.timedelta(minutes=2)),
            message(2, status="undelivered", error_code=30003, error_message="Unreachable destination handset",
                    ago=dt.timedelta(hours=3)),
            message(3, direction="inbound", status="received", body="STOP " + "x" * 100, price=None,
                    ago=dt.timedelta(days=1))]
    twilio_list(httpserver, f"{BASE}/Messages.json", "messages", msgs)
    result = run_script("twilio.recent-messages", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*Last 3 Twilio messages*"
    assert lines[1].startswith("• +14155550100 → +16505550001 — delivered — “Your code is &lt;123456&gt;” — "
                               "$0.0079 USD — ")
    assert lines[1].endswith("(2m ago)")
    assert "undelivered (error 30003: Unreachable destination handset)" in lines[2]
    assert "(inbound) — received — “STOP xxx" in lines[3] and "…”" in lines[3]
    (req,) = requests_to(httpserver, f"{BASE}/Messages.json")
    assert req.headers["Authorization"] == BASIC
    assert req.args.to_dict() == {"PageSize": "10"}

    httpserver.clear_log()
    data = run_script("twilio.recent-messages", "--limit", "2", "--to", "+16505550002", "--json", env=env).json()
    assert [m["sid"] for m in data["messages"]] == [msgs[0]["sid"], msgs[1]["sid"]]
    assert data["has_more"] is True
    assert data["messages"][0]["date_sent"] == (NOW - dt.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["messages"][1]["error_code"] == 30003
    (req,) = requests_to(httpserver, f"{BASE}/Messages.json")
    assert req.args.to_dict() == {"PageSize": "2", "To": "+16505550002"}


def test_recent_messages_follow_next_page_uri(httpserver, env):
    twilio_list(httpserver, f"{BASE}/Messages.json", "messages", [message(i) for i in range(1200)])
    data = run_script("twilio.recent-messages", "--limit", "1100", "--from", "+14155550100", "--json",
                      env=env).json()
    assert len(data["messages"]) == 1100 and data["has_more"] is True
    first, second = requests_to(httpserver, f"{BASE}/Messages.json")
    assert first.args.to_dict() == {"PageSize": "1000", "From": "+14155550100"}
    assert second.args["Page"] == "1" and second.args["PageToken"] == "PA0"
    assert second.args["From"] == "+14155550100"


def test_recent_messages_empty(httpserver, env):
    twilio_list(httpserver, f"{BASE}/Messages.json", "messages", [])
    assert run_script("twilio.recent-messages", env=env).stdout.strip() == "No Twilio messages yet."


# --- twilio.call-log -----------------------------------------------------------------------------

def test_call_log_pages_and_summarises(httpserver, env):
    calls = [call(i, ago=dt.timedelta(minutes=10 + i)) for i in range(1050)]
    calls[0] = call(0, status="no-answer", duration="0", price=None, direction="outbound-api",
                    ago=dt.timedelta(minutes=5))
    calls[1] = call(1, status="busy", duration="0", price=None, ago=dt.timedelta(minutes=6))
    calls.append(call(9999, ago=dt.timedelta(days=3, hours=1)))  # same UTC day filter, outside the window
    twilio_list(httpserver, f"{BASE}/Calls.json", "calls", calls)
    result = run_script("twilio.call-log", "--days", "3", "--limit", "3", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*1050 calls* in the last 3 days — 17h 28m talk time — $8.908 USD"
    assert lines[1] == "By status: completed 1048, no-answer 1, busy 1 · inbound 1049, outbound 1"
    assert lines[2].startswith("• +16505550123 → +14155550100 (outbound) — no-answer — ")
    assert lines[4].startswith("• +16505550123 → +14155550100 (inbound) — completed, 1m 00s — ")
    assert lines[5] == "…and 1047 more"

    first, second = requests_to(httpserver, f"{BASE}/Calls.json")
    since = first.args["StartTime>"]  # the day the window starts, as the script saw the clock (NOW or later)
    assert (NOW - dt.timedelta(days=3)).date() <= dt.date.fromisoformat(since) <= \
        (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).date()
    assert first.args.to_dict() == {"StartTime>": since, "PageSize": "1000"}
    assert b"StartTime%3E=" in first.query_string  # the real filter name, `StartTime>=<date>`
    assert second.args["Page"] == "1" and second.args["StartTime>"] == since

    data = run_script("twilio.call-log", "--days", "3", "--json", env=env).json()
    assert data["total"] == 1050 and data["talk_time_s"] == 1048 * 60
    assert data["by_status"] == {"completed": 1048, "no-answer": 1, "busy": 1}
    assert data["cost"] == {"USD": "8.9080"}
    assert data["calls"][0]["status"] == "no-answer"


def test_call_log_empty(httpserver, env):
    twilio_list(httpserver, f"{BASE}/Calls.json", "calls", [])
    assert run_script("twilio.call-log", "--days", "1", env=env).stdout.strip() == "No Twilio calls in the last 1 day."


# --- twilio.phone-numbers ------------------------------------------------------------------------

def test_phone_numbers(httpserver, env):
    numbers = [number(1, friendly_name="Support line", sms_url="https://hooks.example.com/sms"),
               number(2, capabilities={"voice": True, "sms": False, "mms": False, "fax": False}),
               number(3)]
    twilio_list(httpserver, f"{BASE}/IncomingPhoneNumbers.json", "incoming_phone_numbers", numbers)
    result = run_script("twilio.phone-numbers", "--limit", "2", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "*3 Twilio phone numbers*",
        "• `+14155550001` — Support line — voice, SMS — SMS → https://hooks.example.com/sms",
        "• `+14155550002` — (415) 555-0002 — voice",
        "…and 1 more"]
    (req,) = requests_to(httpserver, f"{BASE}/IncomingPhoneNumbers.json")
    assert req.headers["Authorization"] == BASIC and req.args["PageSize"] == "1000"
    data = run_script("twilio.phone-numbers", "--json", env=env).json()
    assert data["total"] == 3
    assert data["numbers"][0]["capabilities"] == ["voice", "SMS"]
    assert data["numbers"][0]["sms_url"] == "https://hooks.example.com/sms"


def test_phone_numbers_paginate(httpserver, env):
    twilio_list(httpserver, f"{BASE}/IncomingPhoneNumbers.json", "incoming_phone_numbers",
                [number(i) for i in range(1005)])
    data = run_script("twilio.phone-numbers", "--json", env=env).json()
    assert data["total"] == 1005 and not data["truncated"]
    assert len(requests_to(httpserver, f"{BASE}/IncomingPhoneNumbers.json")) == 2


def test_phone_numbers_empty(httpserver, env):
    twilio_list(httpserver, f"{BASE}/IncomingPhoneNumbers.json", "incoming_phone_numbers", [])
    assert "no phone numbers" in run_script("twilio.phone-numbers", env=env).stdout


# --- twilio.send-sms (write) ---------------------------------------------------------------------

def sms_fake(httpserver) -> None:
    def create(request: Request) -> Response:
        form = request.form
        body = message(42, to=form["To"], body=form["Body"], status="queued", price=None,
                       **{"from": form.get("From", "+14155550199")}, num_segments="2")
        return Response(json.dumps(body), status=201, content_type="application/json")

    httpserver.expect_request(f"{BASE}/Messages.json", method="POST").respond_with_handler(create)


def test_send_sms(httpserver, env):
    sms_fake(httpserver)
    result = run_script("twilio.send-sms", "--to", "+1 (650) 555-0142", "--body", "Deploy done ✅",
                        env={**env, "TWILIO_FROM_NUMBER": "+14155550100"})
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == (f"Sent SMS to +16505550142 from +14155550100: `SM{42:032d}` "
                                     "(queued, 2 segments).")
    (post,) = requests_to(httpserver, f"{BASE}/Messages.json", "POST")
    assert post.headers["Authorization"] == BASIC
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert post.form.to_dict() == {"To": "+16505550142", "From": "+14155550100", "Body": "Deploy done ✅"}


def test_send_sms_through_a_messaging_service(httpserver, env):
    sms_fake(httpserver)
    service = "MG" + "a" * 32
    data = run_script("twilio.send-sms", "--to", "+447700900123", "--body", "hi", "--json",
                      env={**env, "TWILIO_FROM_NUMBER": service}).json()
    assert data["status"] == "queued" and data["to"] == "+447700900123"
    (post,) = requests_to(httpserver, f"{BASE}/Messages.json", "POST")
    assert post.form.to_dict() == {"To": "+447700900123", "Body": "hi", "MessagingServiceSid": service}


def test_send_sms_needs_a_sender_and_a_valid_number(httpserver, env):
    result = run_script("twilio.send-sms", "--to", "+16505550142", "--body", "hi", env=env)
    assert result.code == 3 and "TWILIO_FROM_NUMBER" in result.stderr
    with_from = {**env, "TWILIO_FROM_NUMBER": "+14155550100"}
    assert run_script("twilio.send-sms", "--to", "555-0142", "--body", "hi", env=with_from).code == 2
    assert run_script("twilio.send-sms", "--to", "+16505550142", "--body", "  ", env=with_from).code == 2
    assert httpserver.log == []


def test_send_sms_rejected_by_twilio(httpserver, env):
    httpserver.expect_request(f"{BASE}/Messages.json", method="POST").respond_with_json(
        {"code": 21610, "message": "Attempt to send to unsubscribed recipient",
         "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}, status=400)
    result = run_script("twilio.send-sms", "--to", "+16505550142", "--body", "hi",
                        env={**env, "TWILIO_FROM_NUMBER": "+14155550100"})
    assert result.code == 4
    assert f"twilio POST {BASE}/Messages.json: HTTP 400" in result.stderr
    assert "unsubscribed recipient" in result.stderr


# --- errors, once for every script -----------------------------------------------------------------

TWILIO = Upstream(
    service="twilio", secret=TOKEN,
    rejections=[Rejection(401, {"code": 20003, "message": "Authenticate",
                                "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401},
                          "Authenticate")],
    rate_limited={"code": 20429, "message": "Too Many Requests", "status": 429},
    server_error={"code": 20500, "message": "Internal Server Error", "status": 500},
    server_error_detail="Internal Server Error")
CASES = [
    Case("twilio.balance", [], "GET", f"{BASE}/Balance.json", ok={"currency": "USD", "balance": "1.00"}),
    Case("twilio.recent-messages", [], "GET", f"{BASE}/Messages.json", ok={"messages": [], "next_page_uri": None}),
    Case("twilio.call-log", [], "GET", f"{BASE}/Calls.json", ok={"calls": [], "next_page_uri": None}),
    Case("twilio.phone-numbers", [], "GET", f"{BASE}/IncomingPhoneNumbers.json",
         ok={"incoming_phone_numbers": [], "next_page_uri": None}),
    Case("twilio.send-sms", ["--to", "+16505550142", "--body", "hi"], "POST", f"{BASE}/Messages.json",
         ok=message(7, status="queued"), env={"TWILIO_FROM_NUMBER": "+14155550100"}),
]
test_401_credentials_rejected, test_429_is_retried, test_500_names_the_call, test_malformed_json = \
    failure_tests(TWILIO, CASES)
