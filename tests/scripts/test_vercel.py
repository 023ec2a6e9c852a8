"""vercel.* scripts against a local fake Vercel REST API (real paths, shapes and `until` paging)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from werkzeug import Response

from tests.scripts.harness import run_script
from tests.scripts.upstream import Case, Rejection, Upstream, failure_tests

TOKEN = "vc-token"
NOW_MS = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
HOUR = 3600 * 1000


@pytest.fixture(autouse=True)
def _fresh_now():
    """The scripts compare the fake's timestamps with the real clock ("expires in 10d", "since 3
    days"): anchor them when each test starts, not when the module was imported."""
    global NOW_MS
    NOW_MS = int(dt.datetime.now(dt.UTC).timestamp() * 1000)


@pytest.fixture
def env(httpserver):
    return {"VERCEL_TOKEN": TOKEN, "VERCEL_API_URL": httpserver.url_for(""), "VERCEL_TEAM_ID": "team_abc"}


def dep(n: int, *, state="READY", target="production", name="web", hours_ago=1.0) -> dict:
    created = NOW_MS - int(hours_ago * HOUR)
    return {"uid": f"dpl_{n}", "name": name, "url": f"{name}-{n}-acme.vercel.app", "created": created,
            "createdAt": created, "buildingAt": created + 1000, "ready": created + 46000, "source": "git",
            "state": state, "readyState": state, "type": "LAMBDAS", "target": target,
            "creator": {"uid": "u1", "email": "dev@acme.io", "username": "alice"},
            "meta": {"githubCommitRef": "main", "githubCommitSha": f"abcdef{n}123456",
                     "githubCommitMessage": f"Fix thing {n}\n\nlong body"},
            "inspectorUrl": f"https://vercel.com/acme/{name}/{n}"}


def page(items, next_ms=None):
    return {"deployments": items, "pagination": {"count": len(items), "next": next_ms, "prev": None}}


def by_until(pages: dict):
    """A handler serving the page whose key is the request's `until` (None for the first page)."""
    def handler(request):
        return Response(json.dumps(pages[request.args.get("until")]), content_type="application/json")
    return handler


def _auth(request):
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.args["teamId"] == "team_abc"


def test_deployments_pages_with_until_and_cuts_at_limit(httpserver, env):
    httpserver.expect_request("/v6/deployments", query_string={"projectId": "web", "limit": "4", "teamId": "team_abc"}
                              ).respond_with_json(page([dep(1), dep(2, state="ERROR")], next_ms=1700000000000))
    httpserver.expect_request("/v6/deployments", query_string={"projectId": "web", "limit": "4", "teamId": "team_abc",
                                                               "until": "1700000000000"}
                              ).respond_with_json(page([dep(3, target=None), dep(4), dep(5)], next_ms=1600000000000))
    result = run_script("vercel.deployments", "--project", "web", "--limit", "3", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Latest 3 Vercel deployments of *web*:"
    assert lines[1].startswith("• ✅ `READY` *web* (production) — main@abcdef1 — “Fix thing 1” — by alice — ")
    assert "https://web-1-acme.vercel.app" in lines[1]
    assert "❌ `ERROR`" in lines[2] and "(preview)" in lines[3]
    assert lines[-1] == "…and more (older deployments not shown)"
    assert len(httpserver.log) == 2
    _auth(httpserver.log[0][0])
    data = run_script("vercel.deployments", "--project", "web", "--limit", "3", "--json", env=env).json()
    assert [d["id"] for d in data["deployments"]] == ["dpl_1", "dpl_2", "dpl_3"] and data["more"] is True
    assert data["deployments"][0]["build_seconds"] == 45


def test_deployments_empty(httpserver, env):
    httpserver.expect_request("/v6/deployments").respond_with_json(page([]))
    result = run_script("vercel.deployments", env=env)
    assert result.code == 0 and result.stdout.strip() == "No Vercel deployments."
    assert "projectId" not in httpserver.log[0][0].args


def test_latest_deploy(httpserver, env):
    httpserver.expect_request("/v6/deployments").respond_with_json(page([dep(9)], next_ms=1))
    result = run_script("vercel.latest-deploy", "--project", "web", "--target", "production", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("Latest deploy of *web*:\n✅ `READY` *web* (production)")
    assert "Build took 45s." in result.stdout and "Inspect: https://vercel.com/acme/web/9" in result.stdout
    request = httpserver.log[0][0]
    _auth(request)
    assert request.args["projectId"] == "web" and request.args["limit"] == "1"
    assert request.args["target"] == "production"
    data = run_script("vercel.latest-deploy", "--project", "web", "--json", env=env).json()
    assert data["deployment"]["id"] == "dpl_9" and data["deployment"]["state"] == "READY"


def test_latest_deploy_none(httpserver, env):
    httpserver.expect_request("/v6/deployments").respond_with_json(page([]))
    result = run_script("vercel.latest-deploy", "--project", "web", env=env)
    assert result.code == 0 and "No deployments for *web*." in result.stdout


def test_failed_deploys_filters_error_state_since_days(httpserver, env):
    pages = {None: page([dep(1, state="ERROR"), dep(2, state="ERROR", name="api")], next_ms=NOW_MS - 30 * HOUR),
             str(NOW_MS - 30 * HOUR): page([dep(3, state="ERROR", hours_ago=40)])}
    httpserver.expect_request("/v6/deployments").respond_with_handler(by_until(pages))
    result = run_script("vercel.failed-deploys", "--days", "3", "--limit", "2", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("❌ *3 failed deployments* in the last 3d (web 2, api 1):")
    assert "…and 1 more" in result.stdout
    request = httpserver.log[0][0]
    _auth(request)
    assert request.args["state"] == "ERROR"
    since = int(request.args["since"])
    assert abs(since - (dt.datetime.now(dt.UTC).timestamp() * 1000 - 72 * HOUR)) < 60_000
    assert httpserver.log[1][0].args["until"] == str(NOW_MS - 30 * HOUR)
    data = run_script("vercel.failed-deploys", "--days", "3", "--json", env=env).json()
    assert data["count"] == 3 and data["by_project"] == {"web": 2, "api": 1}


def test_failed_deploys_none(httpserver, env):
    httpserver.expect_request("/v6/deployments").respond_with_json(page([]))
    result = run_script("vercel.failed-deploys", "--project", "web", env=env)
    assert result.code == 0
    assert result.stdout.strip() == "✅ No failed Vercel deployments of *web* in the last 7d."


def test_domains_flags_expiring_and_unverified(httpserver, env):
    soon, later = NOW_MS + 10 * 24 * HOUR, NOW_MS + 200 * 24 * HOUR
    first = {"domains": [{"name": "acme.com", "verified": True, "serviceType": "zeit.world", "expiresAt": later,
                          "renew": True, "createdAt": NOW_MS - HOUR, "boughtAt": NOW_MS - HOUR},
                         {"name": "acme.dev", "verified": True, "serviceType": "zeit.world", "expiresAt": soon,
                          "renew": False, "createdAt": NOW_MS - HOUR}],
             "pagination": {"count": 2, "next": 1555, "prev": None}}
    second = {"domains": [{"name": "old.io", "verified": False, "serviceType": "external", "expiresAt": None,
                           "createdAt": NOW_MS - HOUR}], "pagination": {"count": 1, "next": None, "prev": None}}
    httpserver.expect_request("/v5/domains").respond_with_handler(by_until({None: first, "1555": second}))
    result = run_script("vercel.domains", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*3 Vercel domains*, 2 need attention:"
    assert lines[1].startswith("• `acme.dev` — verified — ⚠ expires ") and "auto-renew off" in lines[1]
    assert lines[2] == "• `old.io` — ⚠ *not verified* — external registrar"
    assert lines[3].startswith("• `acme.com` — verified — expires ")
    _auth(httpserver.log[0][0])
    data = run_script("vercel.domains", "--json", env=env).json()
    assert data["count"] == 3 and data["needs_attention"] == 2


def test_domains_empty(httpserver, env):
    httpserver.expect_request("/v5/domains").respond_with_json({"domains": [], "pagination": {"next": None}})
    result = run_script("vercel.domains", env=env)
    assert result.code == 0 and result.stdout.strip() == "No domains on this Vercel account."


def test_redeploy_posts_deployment_id_name_and_target(httpserver, env):
    original = {**dep(7), "id": "dpl_7", "projectId": "prj_123", "target": "production"}
    httpserver.expect_request("/v13/deployments/dpl_7", method="GET").respond_with_json(original)
    httpserver.expect_request("/v13/deployments", method="POST").respond_with_json(
        {"id": "dpl_8", "name": "web", "url": "web-8-acme.vercel.app", "readyState": "QUEUED",
         "target": "production", "inspectorUrl": "https://vercel.com/acme/web/8"})
    result = run_script("vercel.redeploy", "--deployment", "dpl_7", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("🚀 Redeploying *web* (production) from `dpl_7`: new deployment `dpl_8` is QUEUED.")
    assert "URL: https://web-8-acme.vercel.app" in result.stdout
    post = httpserver.log[1][0]
    _auth(post)
    assert post.method == "POST" and post.args["forceNew"] == "1"
    assert json.loads(post.data) == {"name": "web", "deploymentId": "dpl_7", "project": "prj_123",
                                     "target": "production"}
    assert len([r for r, _ in httpserver.log if r.method == "POST"]) == 1


def test_redeploy_rejects_a_bad_reference(httpserver, env):
    result = run_script("vercel.redeploy", "--deployment", "../../v2/user", env=env)
    assert result.code == 2 and not httpserver.log


# --- error handling, once for every script -------------------------------------------------------

VERCEL = Upstream(
    service="vercel", secret=TOKEN,
    rejections=[Rejection(403, {"error": {"code": "forbidden", "message": "Not authorized", "invalidToken": True}},
                          "Not authorized", id="403-invalidToken"),  # what Vercel answers a bad token
                Rejection(401, {"error": {"code": "unauthorized", "message": "Missing or invalid token"}},
                          "Missing or invalid token", id="401")],
    rate_limited={"error": {"code": "rate_limited", "message": "Rate limit exceeded"}},
    server_error={"error": {"code": "internal_server_error", "message": "boom"}}, server_error_detail="boom")


def _deployment_to_redeploy(httpserver):
    httpserver.expect_request("/v13/deployments/dpl_7", method="GET").respond_with_json(
        {"id": "dpl_7", "name": "web", "target": "production"})


CASES = [
    Case("vercel.deployments", [], "GET", "/v6/deployments", ok=page([])),
    Case("vercel.latest-deploy", ["--project", "web"], "GET", "/v6/deployments", ok=page([])),
    Case("vercel.failed-deploys", [], "GET", "/v6/deployments", ok=page([])),
    Case("vercel.domains", [], "GET", "/v5/domains", ok={"domains": [], "pagination": {}}),
    Case("vercel.redeploy", ["--deployment", "dpl_7"], "POST", "/v13/deployments", fake=_deployment_to_redeploy,
         ok={"id": "dpl_9", "url": "web-9-acme.vercel.app", "readyState": "QUEUED"}),
]
test_401_credentials_rejected, test_429_is_retried, test_500_names_the_call, test_malformed_json = \
    failure_tests(VERCEL, CASES)
