"""supabase.* scripts against a local fake PostgREST + GoTrue speaking Supabase's real shapes."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.scripts.harness import run_script
from tests.scripts.upstream import Case, Rejection, Upstream, failure_tests

KEY = "service-role-key"


@pytest.fixture
def env(httpserver):
    return {"SUPABASE_URL": "https://ignored.supabase.co", "SUPABASE_API_URL": httpserver.url_for(""),
            "SUPABASE_SERVICE_KEY": KEY}


def _ts(days_ago: float) -> str:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    return moment.isoformat().replace("+00:00", "Z")


def _user(n: int, days_ago: float, confirmed: bool = True) -> dict:
    return {"id": f"uuid-{n}", "aud": "authenticated", "role": "authenticated", "email": f"user{n}@example.com",
            "email_confirmed_at": _ts(days_ago) if confirmed else None, "created_at": _ts(days_ago),
            "updated_at": _ts(days_ago), "last_sign_in_at": None,
            "app_metadata": {"provider": "email", "providers": ["email"]}, "user_metadata": {}}


def _assert_auth(request):
    assert request.headers["apikey"] == KEY
    assert request.headers["Authorization"] == f"Bearer {KEY}"


def test_table_rows_lists_rows_with_total_and_order(httpserver, env):
    rows = [{"id": 3, "email": "c@example.com", "created_at": "2026-03-03T00:00:00+00:00"},
            {"id": 2, "email": "b@example.com", "created_at": "2026-03-02T00:00:00+00:00"}]
    httpserver.expect_request("/rest/v1/profiles", method="GET").respond_with_json(
        rows, status=206, headers={"Content-Range": "0-1/57"})
    result = run_script("supabase.table-rows", "--table", "profiles", "--limit", "2", "--order", "created_at.desc",
                        env=env)
    assert result.code == 0, result.stderr
    assert "*profiles*: 57 rows, ordered by `created_at.desc`" in result.stdout
    assert "• id=3, email=c@example.com" in result.stdout
    assert "…and 55 more" in result.stdout
    request = httpserver.log[0][0]
    _assert_auth(request)
    assert request.headers["Prefer"] == "count=exact"
    assert request.args.to_dict() == {"select": "*", "limit": "2", "order": "created_at.desc"}

    data = run_script("supabase.table-rows", "--table", "profiles", "--limit", "2", "--json", env=env).json()
    assert data["total"] == 57 and data["rows"] == rows


def test_table_rows_empty_and_bad_names(httpserver, env):
    httpserver.expect_request("/rest/v1/events").respond_with_json([], headers={"Content-Range": "*/0"})
    result = run_script("supabase.table-rows", "--table", "events", env=env)
    assert result.code == 0
    assert "*events*: 0 rows" in result.stdout and "_no rows_" in result.stdout
    for argv in (["--table", "users;drop"], ["--table", "a/b"], ["--table", "t", "--order", "x desc"],
                 ["--table", "t", "--select", "id,(select 1)"]):
        bad = run_script("supabase.table-rows", *argv, env=env)
        assert bad.code == 2, (argv, bad.stderr)
    assert len(httpserver.log) == 1


def test_row_count_uses_head_and_content_range(httpserver, env):
    httpserver.expect_request("/rest/v1/orders", method="HEAD").respond_with_data(
        "", headers={"Content-Range": "*/12345"})
    result = run_script("supabase.row-count", "--table", "orders", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "*orders*: 12,345 rows"
    request = httpserver.log[0][0]
    _assert_auth(request)
    assert request.method == "HEAD" and request.headers["Prefer"] == "count=exact"
    assert run_script("supabase.row-count", "--table", "orders", "--json", env=env).json() == {
        "table": "orders", "count": 12345}


def test_row_count_without_content_range_is_an_upstream_error(httpserver, env):
    httpserver.expect_request("/rest/v1/orders", method="HEAD").respond_with_data("")
    result = run_script("supabase.row-count", "--table", "orders", env=env)
    assert result.code == 4
    assert "HEAD /rest/v1/orders" in result.stderr and "Content-Range" in result.stderr


def test_recent_signups_pages_until_older_than_window(httpserver, env):
    page1 = [_user(i, 0.05 * i, confirmed=i % 2 == 0) for i in range(1, 101)]  # all within 5 days
    page2 = [_user(101, 5.5), _user(102, 8)]  # the second one is older than 7 days → stop
    httpserver.expect_request("/auth/v1/admin/users", query_string={"page": "1", "per_page": "100"}) \
        .respond_with_json({"aud": "authenticated", "users": page1},
                           headers={"X-Total-Count": "102",
                                    "Link": '</admin/users?page=2&per_page=100>; rel="next", '
                                            '</admin/users?page=2&per_page=100>; rel="last"'})
    httpserver.expect_request("/auth/v1/admin/users", query_string={"page": "2", "per_page": "100"}) \
        .respond_with_json({"aud": "authenticated", "users": page2}, headers={"X-Total-Count": "102"})
    result = run_script("supabase.recent-signups", "--days", "7", "--limit", "3", env=env)
    assert result.code == 0, result.stderr
    assert "*101 signups* in the last 7d" in result.stdout
    assert "• user1@example.com (email) — " in result.stdout and "_unconfirmed_" in result.stdout
    assert "…and 98 more" in result.stdout
    assert [r.args["page"] for r, _ in httpserver.log] == ["1", "2"]
    _assert_auth(httpserver.log[0][0])
    data = run_script("supabase.recent-signups", "--days", "7", "--limit", "3", "--json", env=env).json()
    assert data["count"] == 101 and len(data["users"]) == 3
    assert data["users"][0]["email"] == "user1@example.com" and data["users"][0]["confirmed"] is False


def test_recent_signups_empty(httpserver, env):
    httpserver.expect_request("/auth/v1/admin/users").respond_with_json({"aud": "authenticated", "users": []})
    result = run_script("supabase.recent-signups", env=env)
    assert result.code == 0
    assert "*0 signups* in the last 7d" in result.stdout and "_no new users_" in result.stdout


def test_health_reports_both_components(httpserver, env):
    httpserver.expect_request("/rest/v1/").respond_with_json({"swagger": "2.0", "paths": {}})
    httpserver.expect_request("/auth/v1/health").respond_with_json(
        {"version": "v2.170.0", "name": "GoTrue", "description": "GoTrue is a user registration and authentication API"})
    result = run_script("supabase.health", env=env)
    assert result.code == 0, result.stderr
    assert "Supabase: ✅ healthy" in result.stdout
    assert "• rest: up (HTTP 200, " in result.stdout and "v2.170.0" in result.stdout
    for request, _ in httpserver.log:
        _assert_auth(request)
    data = run_script("supabase.health", "--json", env=env).json()
    assert data["healthy"] is True and [c["component"] for c in data["checks"]] == ["rest", "auth"]


def test_health_reports_a_down_component_instead_of_failing(httpserver, env):
    httpserver.expect_request("/rest/v1/").respond_with_json({"message": "upstream down"}, status=503)
    httpserver.expect_request("/auth/v1/health").respond_with_json({"version": "v2"})
    result = run_script("supabase.health", env=env)
    assert result.code == 0
    assert "🔴 *DOWN*" in result.stdout and "• rest: down — supabase GET /rest/v1/: HTTP 503" in result.stdout


# --- error handling, once for every script -------------------------------------------------------

SUPABASE = Upstream(
    service="supabase", secret=KEY,
    rejections=[Rejection(401, {"message": "Invalid API key",
                                "hint": "Double check your Supabase `anon` or `service_role` API key."},
                          "Invalid API key")],
    rate_limited={"message": "slow down"},
    server_error={"message": "boom"}, server_error_detail="boom")


def _rows(httpserver):
    httpserver.expect_request("/rest/v1/profiles").respond_with_json([], headers={"Content-Range": "*/0"})


def _count(httpserver):
    httpserver.expect_request("/rest/v1/orders", method="HEAD").respond_with_data(
        "", headers={"Content-Range": "*/0"})


def _auth_up(httpserver):
    httpserver.expect_request("/auth/v1/health").respond_with_json({"version": "v2"})


CASES = [
    Case("supabase.table-rows", ["--table", "profiles"], "GET", "/rest/v1/profiles", fake=_rows),
    Case("supabase.row-count", ["--table", "orders"], "HEAD", "/rest/v1/orders", fake=_count, has_body=False),
    Case("supabase.recent-signups", [], "GET", "/auth/v1/admin/users", ok={"users": [], "aud": "authenticated"}),
    Case("supabase.health", [], "GET", "/rest/v1/", ok={"swagger": "2.0", "paths": {}}, fake=_auth_up,
         reports_outages=True),
]
test_401_credentials_rejected, test_429_is_retried, test_500_names_the_call, test_malformed_json = \
    failure_tests(SUPABASE, CASES)
