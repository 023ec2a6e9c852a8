"""netlify.* scripts against a local fake Netlify API (api/v1 paths, Link-header paging, real shapes)."""

from __future__ import annotations

import pytest

from tests.scripts.harness import run_script
from tests.scripts.upstream import Case, Rejection, Upstream, failure_tests

TOKEN = "nf-token"
SITE_ID = "3970e0fe-8564-4903-9a55-c5f8de49fb8b"


@pytest.fixture
def env(httpserver):
    return {"NETLIFY_TOKEN": TOKEN, "NETLIFY_API_URL": httpserver.url_for("/api/v1")}


def site(name: str, updated: str, published: dict | None = None) -> dict:
    return {"id": f"id-{name}", "site_id": f"id-{name}", "name": name, "url": f"http://{name}.netlify.app",
            "ssl_url": f"https://{name}.netlify.app", "admin_url": f"https://app.netlify.com/sites/{name}",
            "custom_domain": None, "state": "current", "created_at": "2026-01-01T10:00:00.000Z",
            "updated_at": updated, "published_deploy": published,
            "build_settings": {"repo_url": f"https://github.com/acme/{name}", "repo_branch": "main"}}


def deploy(n: int, state="ready", context="production", published=True, error=None) -> dict:
    return {"id": f"dep{n}", "site_id": SITE_ID, "name": "docs", "state": state, "context": context,
            "branch": "main", "commit_ref": f"{n}abcdef0123456789", "title": f"Update page {n}\n\nbody",
            "created_at": f"2026-11-2{n}T10:00:00.000Z", "updated_at": f"2026-11-2{n}T10:01:00.000Z",
            "published_at": f"2026-11-2{n}T10:01:00.000Z" if published else None, "deploy_time": 42,
            "error_message": error, "deploy_ssl_url": f"https://dep{n}--docs.netlify.app",
            "admin_url": "https://app.netlify.com/sites/docs"}


def _auth(request):
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_sites_follows_link_header_and_sorts_by_update(httpserver, env):
    next_url = httpserver.url_for("/api/v1/sites") + "?filter=all&page=2&per_page=100"
    httpserver.expect_request("/api/v1/sites", query_string={"filter": "all", "page": "1", "per_page": "100"}) \
        .respond_with_json([site("blog", "2026-11-01T00:00:00Z", {"state": "ready", "published_at": "2026-11-01T00:00:00Z"}),
                            site("docs", "2026-11-20T00:00:00Z", {"state": "ready", "published_at": "2026-11-20T00:00:00Z"})],
                           headers={"Link": f'<{next_url}>; rel="next", <{next_url}>; rel="last"'})
    httpserver.expect_request("/api/v1/sites", query_string={"filter": "all", "page": "2", "per_page": "100"}) \
        .respond_with_json([site("shop", "2026-10-01T00:00:00Z")])
    result = run_script("netlify.sites", "--limit", "2", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*3 Netlify sites*:"
    assert lines[1].startswith("• *docs* https://docs.netlify.app — ✅ published 2026-11-20T00:00:00Z (")
    assert lines[1].endswith(" — https://github.com/acme/docs")
    assert lines[2].startswith("• *blog* ") and lines[3] == "…and 1 more"
    assert len(httpserver.log) == 2
    _auth(httpserver.log[0][0])
    data = run_script("netlify.sites", "--json", env=env).json()
    assert data["count"] == 3 and [s["name"] for s in data["sites"]] == ["docs", "blog", "shop"]
    assert data["sites"][2]["published_state"] is None


def test_sites_empty_with_name_filter(httpserver, env):
    httpserver.expect_request("/api/v1/sites").respond_with_json([])
    result = run_script("netlify.sites", "--name", "zzz", env=env)
    assert result.code == 0 and result.stdout.strip() == "No Netlify sites matching “zzz”."
    assert httpserver.log[0][0].args["name"] == "zzz"


def test_deploys_pages_and_cuts_at_limit(httpserver, env):
    base = httpserver.url_for(f"/api/v1/sites/{SITE_ID}/deploys")
    httpserver.expect_request(f"/api/v1/sites/{SITE_ID}/deploys", query_string={"page": "1", "per_page": "4"}) \
        .respond_with_json([deploy(5), deploy(4, state="error", published=False, error="Build script returned non-zero exit code: 2")],
                           headers={"Link": f'<{base}?page=2&per_page=4>; rel="next"'})
    httpserver.expect_request(f"/api/v1/sites/{SITE_ID}/deploys", query_string={"page": "2", "per_page": "4"}) \
        .respond_with_json([deploy(3, context="deploy-preview"), deploy(2), deploy(1)],
                           headers={"Link": f'<{base}?page=3&per_page=4>; rel="next"'})
    result = run_script("netlify.deploys", "--site", SITE_ID, "--limit", "3", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Latest 3 deploys of *docs*:"
    assert lines[1] == ("• ✅ `ready` (production) — main@5abcdef — “Update page 5” — "
                        + lines[1].split(" — ")[3] + " — built in 42s")
    assert "❌ `error`" in lines[2] and "error: Build script returned non-zero exit code: 2" in lines[2]
    assert "(deploy-preview)" in lines[3] and lines[4] == "…and more (older deploys not shown)"
    assert len(httpserver.log) == 2
    _auth(httpserver.log[0][0])
    data = run_script("netlify.deploys", "--site", SITE_ID, "--limit", "3", "--json", env=env).json()
    assert [d["id"] for d in data["deploys"]] == ["dep5", "dep4", "dep3"] and data["more"] is True


def test_deploys_by_site_name_and_empty(httpserver, env):
    httpserver.expect_request("/api/v1/sites/docs.netlify.app/deploys").respond_with_json([])
    result = run_script("netlify.deploys", "--site", "docs", "--production", env=env)
    assert result.code == 0 and result.stdout.strip() == "No deploys for *docs*."
    assert httpserver.log[0][0].args["production"] == "true"
    bad = run_script("netlify.deploys", "--site", "../accounts", env=env)
    assert bad.code == 2


def test_deploy_status_latest_is_live(httpserver, env):
    httpserver.expect_request("/api/v1/sites/docs.netlify.app").respond_with_json(
        site("docs", "2026-11-25T00:00:00Z", deploy(5)))
    httpserver.expect_request("/api/v1/sites/docs.netlify.app/deploys").respond_with_json([deploy(5)])
    result = run_script("netlify.deploy-status", "--site", "docs.netlify.app", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("*docs* (https://docs.netlify.app) — latest deploy:\n✅ `ready` (production)")
    assert "It is the live (published) deploy." in result.stdout
    assert httpserver.log[1][0].args.to_dict() == {"page": "1", "per_page": "1"}
    _auth(httpserver.log[0][0])
    data = run_script("netlify.deploy-status", "--site", "docs", "--json", env=env).json()
    assert data["latest_is_live"] is True and data["latest"]["id"] == "dep5"


def test_deploy_status_failed_latest_with_older_live(httpserver, env):
    httpserver.expect_request(f"/api/v1/sites/{SITE_ID}").respond_with_json(
        site("docs", "2026-11-25T00:00:00Z", deploy(4)))
    httpserver.expect_request(f"/api/v1/sites/{SITE_ID}/deploys").respond_with_json(
        [deploy(5, state="error", published=False, error="Failed during stage 'building site'")])
    result = run_script("netlify.deploy-status", "--site", SITE_ID, env=env)
    assert result.code == 0
    assert "❌ `error`" in result.stdout and "Failed during stage 'building site'" in result.stdout
    assert "Live deploy is older: `dep4` published 2026-11-24T10:01:00Z" in result.stdout


def test_deploy_status_no_deploys(httpserver, env):
    httpserver.expect_request(f"/api/v1/sites/{SITE_ID}").respond_with_json(site("docs", "2026-11-25T00:00:00Z"))
    httpserver.expect_request(f"/api/v1/sites/{SITE_ID}/deploys").respond_with_json([])
    result = run_script("netlify.deploy-status", "--site", SITE_ID, env=env)
    assert result.code == 0 and result.stdout.strip() == "*docs* has no deploys yet."


# --- error handling, once for every script -------------------------------------------------------

NETLIFY = Upstream(
    service="netlify", secret=TOKEN,
    rejections=[Rejection(401, {"code": 401, "message": "Access Denied: bad token"}, "Access Denied")],
    rate_limited={"code": 429, "message": "Rate limit"},
    server_error={"code": 500, "message": "Internal Server Error"}, server_error_detail="Internal Server Error")


def _no_deploys(httpserver):
    httpserver.expect_request(f"/api/v1/sites/{SITE_ID}/deploys").respond_with_json([])


CASES = [
    Case("netlify.sites", [], "GET", "/api/v1/sites", ok=[]),
    Case("netlify.deploys", ["--site", SITE_ID], "GET", f"/api/v1/sites/{SITE_ID}/deploys", ok=[]),
    Case("netlify.deploy-status", ["--site", SITE_ID], "GET", f"/api/v1/sites/{SITE_ID}", ok={"name": "docs"},
         fake=_no_deploys),
]
test_401_credentials_rejected, test_429_is_retried, test_500_names_the_call, test_malformed_json = \
    failure_tests(NETLIFY, CASES)
