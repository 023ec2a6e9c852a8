"""pagerduty.* scripts against a local fake of the PagerDuty REST API v2 (real paths, shapes, offset paging)."""

from __future__ import annotations

import json

import pytest
from werkzeug.wrappers import Request, Response

from tests.scripts.harness import run_script
from tests.scripts.upstream import Case, Rejection, Upstream, failure_tests

TOKEN = "u+pdtesttoken"
EMAIL = "oncall@example.com"


@pytest.fixture
def env(httpserver):
    return {"PAGERDUTY_TOKEN": TOKEN, "PAGERDUTY_API_URL": httpserver.url_for("")}


# ---- fake data in PagerDuty's shapes -----------------------------------------------------------------------

PLURAL = {"escalation_policy": "escalation_policies"}


def ref(kind, rid, summary):
    plural = PLURAL.get(kind, kind + "s")
    return {"id": rid, "type": f"{kind}_reference", "summary": summary,
            "self": f"https://api.pagerduty.com/{plural}/{rid}", "html_url": f"https://acme.pagerduty.com/{plural}/{rid}"}


def oncall(ep, level, user, schedule=None, end="2026-01-06T09:00:00Z"):
    return {"escalation_policy": ref("escalation_policy", *ep), "escalation_level": level,
            "schedule": ref("schedule", *schedule) if schedule else None, "user": ref("user", *user),
            "start": "2026-01-05T09:00:00Z" if end else None, "end": end}


PLATFORM, WEB = ("PEP1", "Platform"), ("PEP2", "Web <frontend>")
ALICE, BOB, CAROL = ("PU1", "Alice Smith"), ("PU2", "Bob Jones"), ("PU3", "Carol Wu")
ONCALLS = [
    oncall(WEB, 1, CAROL, ("PS2", "Web primary")),
    oncall(PLATFORM, 2, BOB, None, end=None),
    oncall(PLATFORM, 1, ALICE, ("PS1", "Platform primary")),
]


def incident(number, title, status="triggered", urgency="high", service=("PSV1", "Checkout API"),
             created="2026-01-05T10:00:00Z", assignee=ALICE):
    return {"id": f"Q{number}X", "type": "incident", "incident_number": number, "title": title,
            "summary": f"[#{number}] {title}", "status": status, "urgency": urgency,
            "created_at": created, "last_status_change_at": created, "priority": None,
            "service": ref("service", *service), "escalation_policy": ref("escalation_policy", *PLATFORM),
            "assignments": [{"at": created, "assignee": ref("user", *assignee)}] if assignee else [],
            "html_url": f"https://acme.pagerduty.com/incidents/Q{number}X"}


INCIDENTS = [incident(103, "Checkout 5xx rate above 5%"),
             incident(102, "Disk 95% on db-1", "acknowledged", "low", ("PSV2", "Database")),
             incident(101, "Queue backlog", assignee=None)]


def service(sid, name, status, last="2026-01-05T10:00:00Z"):
    return {"id": sid, "type": "service", "name": name, "status": status, "description": f"{name} svc",
            "last_incident_timestamp": last, "escalation_policy": ref("escalation_policy", *PLATFORM),
            "html_url": f"https://acme.pagerduty.com/service-directory/{sid}"}


SERVICES = [service("PSV1", "Checkout API", "critical"), service("PSV2", "Database", "active"),
            service("PSV3", "Billing", "warning"), service("PSV4", "Legacy", "disabled", last=None),
            service("PSV5", "Auth", "active")]


# ---- fake server helpers ------------------------------------------------------------------------------------

def serve_list(httpserver, path, key, records, page_size=2):
    """Classic PagerDuty pagination: limit/offset in, `more` and (with total=true) `total` out."""

    def handler(request: Request) -> Response:
        offset = int(request.args.get("offset", 0))
        limit = min(int(request.args.get("limit", 25)), page_size)
        page = records[offset: offset + limit]
        body = {key: page, "limit": limit, "offset": offset, "more": offset + limit < len(records),
                "total": len(records) if request.args.get("total") == "true" else None}
        return Response(json.dumps(body), status=200, content_type="application/json")

    httpserver.expect_request(path, method="GET").respond_with_handler(handler)


def requests_to(httpserver, path, method=None):
    return [r for r, _ in httpserver.log if r.path == path and (method is None or r.method == method)]


def assert_pd_headers(req):
    assert req.headers["Authorization"] == f"Token token={TOKEN}"
    assert req.headers["Accept"] == "application/vnd.pagerduty+json;version=2"


def fake_oncall(httpserver):
    serve_list(httpserver, "/oncalls", "oncalls", ONCALLS)


def fake_incidents(httpserver):
    serve_list(httpserver, "/incidents", "incidents", INCIDENTS)


def fake_services(httpserver):
    serve_list(httpserver, "/services", "services", SERVICES)


def fake_ack(httpserver, incident_id="Q103X"):
    def handler(request: Request) -> Response:
        acked = {**INCIDENTS[0], "status": "acknowledged"}
        return Response(json.dumps({"incident": acked}), status=200, content_type="application/json")

    httpserver.expect_request(f"/incidents/{incident_id}", method="PUT").respond_with_handler(handler)


# ---- happy paths ---------------------------------------------------------------------------------------------

def test_oncall_grouped_by_policy_across_pages(httpserver, env):
    fake_oncall(httpserver)
    result = run_script("pagerduty.oncall", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*On call now* (2 escalation policies)"
    assert lines[1].startswith("• *<https://acme.pagerduty.com/escalation_policies/PEP1|Platform>* — "
                               "L1 Alice Smith (Platform primary), until 2026-01-06T09:00:00Z (")
    assert lines[1].endswith(") · L2 Bob Jones, always on call")
    assert lines[2].startswith("• *<https://acme.pagerduty.com/escalation_policies/PEP2|Web &lt;frontend&gt;>* — "
                               "L1 Carol Wu (Web primary), until ")
    reqs = requests_to(httpserver, "/oncalls")
    assert [r.args["offset"] for r in reqs] == ["0", "2"]
    assert reqs[0].args["earliest"] == "true" and reqs[0].args["limit"] == "100"
    assert reqs[0].args["time_zone"] == "UTC"
    assert_pd_headers(reqs[0])

    data = run_script("pagerduty.oncall", "--level", "1", "--json", env=env).json()
    assert [g["name"] for g in data["escalation_policies"]] == ["Platform", "Web <frontend>"]
    assert [e["user"] for e in data["escalation_policies"][0]["oncall"]] == ["Alice Smith"]
    assert data["escalation_policies"][0]["oncall"][0]["end"] == "2026-01-06T09:00:00Z"


def test_oncall_filters_go_to_the_api(httpserver, env):
    fake_oncall(httpserver)
    result = run_script("pagerduty.oncall", "--schedule", "PS1", "--limit", "1",
                        env={**env, "PAGERDUTY_ESCALATION_POLICY_IDS": "PEP1, PEP2"})
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "…and 1 more"
    req = requests_to(httpserver, "/oncalls")[0]
    assert req.args.getlist("escalation_policy_ids[]") == ["PEP1", "PEP2"]
    assert req.args.getlist("schedule_ids[]") == ["PS1"]


def test_incidents_open_newest_first(httpserver, env):
    fake_incidents(httpserver)
    result = run_script("pagerduty.incidents", "--limit", "2", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*3 open incidents* (2 triggered, 1 acknowledged)"
    assert lines[1].startswith("• 🔴 <https://acme.pagerduty.com/incidents/Q103X|#103> [high] Checkout 5xx rate above 5% "
                               "— Checkout API, triggered, opened 2026-01-05T10:00:00Z (")
    assert lines[1].endswith("· assigned to Alice Smith")
    assert lines[2].startswith("• 🟡 <https://acme.pagerduty.com/incidents/Q102X|#102> [low] Disk 95% on db-1")
    assert lines[-1] == "…and 1 more"
    reqs = requests_to(httpserver, "/incidents")
    assert len(reqs) == 2 and reqs[1].args["offset"] == "2"
    assert reqs[0].args.getlist("statuses[]") == ["triggered", "acknowledged"]
    assert reqs[0].args["date_range"] == "all" and reqs[0].args["sort_by"] == "created_at:desc"
    assert reqs[0].args["total"] == "true"
    assert_pd_headers(reqs[0])

    data = run_script("pagerduty.incidents", "--json", env=env).json()
    assert data["total"] == 3 and data["counts"] == {"triggered": 2, "acknowledged": 1}
    assert data["incidents"][0] == {
        "id": "Q103X", "number": 103, "title": "Checkout 5xx rate above 5%", "status": "triggered",
        "urgency": "high", "priority": None, "service": "Checkout API", "service_id": "PSV1",
        "assignees": ["Alice Smith"], "created_at": "2026-01-05T10:00:00Z",
        "last_status_change_at": "2026-01-05T10:00:00Z", "url": "https://acme.pagerduty.com/incidents/Q103X"}


def test_incidents_filters(httpserver, env):
    fake_incidents(httpserver)
    result = run_script("pagerduty.incidents", "--status", "triggered", "--urgency", "high", "--service",
                        "PSV1,PSV2", env={**env, "PAGERDUTY_TEAM_IDS": "PT1"})
    assert result.code == 0, result.stderr
    req = requests_to(httpserver, "/incidents")[0]
    assert req.args.getlist("statuses[]") == ["triggered"]
    assert req.args.getlist("urgencies[]") == ["high"]
    assert req.args.getlist("service_ids[]") == ["PSV1", "PSV2"]
    assert req.args.getlist("team_ids[]") == ["PT1"]
    assert result.stdout.startswith("*3 triggered incidents*\n")  # the fake ignores filters; no breakdown


def test_services_problems_first(httpserver, env):
    fake_services(httpserver)
    result = run_script("pagerduty.services", "--limit", "3", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*5 PagerDuty services*; 1 critical, 1 warning, 1 disabled"
    assert lines[1].startswith("• 🔴 <https://acme.pagerduty.com/service-directory/PSV1|Checkout API> critical — "
                               "last incident 2026-01-05T10:00:00Z (")
    assert lines[1].endswith("· EP: Platform")
    assert lines[2].startswith("• 🟠 <https://acme.pagerduty.com/service-directory/PSV3|Billing> warning")
    assert lines[3].startswith("• 🟢 <https://acme.pagerduty.com/service-directory/PSV5|Auth> active")
    assert lines[-1] == "…and 2 more"
    reqs = requests_to(httpserver, "/services")
    assert [r.args["offset"] for r in reqs] == ["0", "2", "4"]
    assert_pd_headers(reqs[0])

    data = run_script("pagerduty.services", "--query", "Leg", "--json", env=env).json()
    assert requests_to(httpserver, "/services")[-1].args["query"] == "Leg"
    assert data["total"] == 5 and data["counts"]["active"] == 2
    legacy = data["services"][-1]
    assert legacy["name"] == "Legacy" and legacy["status"] == "disabled" and legacy["last_incident_at"] is None


def test_ack_by_id_sends_from_header_and_body(httpserver, env):
    fake_ack(httpserver)
    result = run_script("pagerduty.ack", "--incident", "Q103X", env={**env, "PAGERDUTY_FROM_EMAIL": EMAIL})
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == ("Acknowledged <https://acme.pagerduty.com/incidents/Q103X|#103> Checkout 5xx "
                                     f"rate above 5% on Checkout API as {EMAIL} (status now: acknowledged).")
    (req,) = [r for r, _ in httpserver.log]
    assert req.method == "PUT" and req.path == "/incidents/Q103X"
    assert req.headers["From"] == EMAIL
    assert json.loads(req.get_data()) == {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    assert req.headers["Content-Type"] == "application/json"
    assert_pd_headers(req)


def test_ack_by_number_looks_up_the_id_first(httpserver, env):
    httpserver.expect_request("/incidents/103", method="GET").respond_with_json({"incident": INCIDENTS[0]})
    fake_ack(httpserver)
    result = run_script("pagerduty.ack", "--incident", "#103", "--json", env={**env, "PAGERDUTY_FROM_EMAIL": EMAIL})
    assert result.code == 0, result.stderr
    assert result.json() == {"id": "Q103X", "number": 103, "title": "Checkout 5xx rate above 5%",
                             "status": "acknowledged", "service": "Checkout API",
                             "url": "https://acme.pagerduty.com/incidents/Q103X", "acknowledged_by": EMAIL}
    assert [(r.method, r.path) for r, _ in httpserver.log] == [("GET", "/incidents/103"), ("PUT", "/incidents/Q103X")]


def test_ack_without_from_email_exits_3_before_any_call(httpserver, env):
    result = run_script("pagerduty.ack", "--incident", "Q103X", env=env)
    assert result.code == 3
    assert "PAGERDUTY_FROM_EMAIL" in result.stderr
    assert httpserver.log == []


def test_bad_arguments_exit_2(env):
    assert run_script("pagerduty.ack", "--incident", "../x", env={**env, "PAGERDUTY_FROM_EMAIL": EMAIL}).code == 2
    assert run_script("pagerduty.incidents", "--status", "resolved", env=env).code == 2
    assert run_script("pagerduty.services", "--limit", "0", env=env).code == 2


# ---- empty results ------------------------------------------------------------------------------------------

EMPTY = [
    ("pagerduty.oncall", "/oncalls", "oncalls", "Nobody is on call."),
    ("pagerduty.incidents", "/incidents", "incidents", "No open incidents. ✅"),
    ("pagerduty.services", "/services", "services", "No PagerDuty services."),
]


@pytest.mark.parametrize(("name", "path", "key", "expected"), EMPTY, ids=[e[0] for e in EMPTY])
def test_empty_results(httpserver, env, name, path, key, expected):
    serve_list(httpserver, path, key, [])
    result = run_script(name, env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == expected
    assert run_script(name, "--json", env=env).json()["total" if key != "oncalls" else "total_policies"] == 0


# ---- upstream failures, once per script ---------------------------------------------------------------------

PAGERDUTY = Upstream(
    service="pagerduty", secret=TOKEN,
    rejections=[Rejection(401, {"error": {"message": "Unauthorized", "code": 2006, "errors": ["Invalid token"]}},
                          "Unauthorized")],
    rate_limited={"error": {"message": "Rate Limit Exceeded", "code": 2020}},
    server_error={"error": {"message": "Internal Server Error", "code": 2001}},
    server_error_detail="Internal Server Error")
CASES = [
    Case("pagerduty.oncall", [], "GET", "/oncalls", fake=fake_oncall),
    Case("pagerduty.incidents", [], "GET", "/incidents", fake=fake_incidents),
    Case("pagerduty.services", [], "GET", "/services", fake=fake_services),
    Case("pagerduty.ack", ["--incident", "Q103X"], "PUT", "/incidents/Q103X", fake=fake_ack,
         env={"PAGERDUTY_FROM_EMAIL": EMAIL}),
]
test_401_credentials_rejected, test_429_is_retried, test_500_names_the_call, test_malformed_json = \
    failure_tests(PAGERDUTY, CASES)
