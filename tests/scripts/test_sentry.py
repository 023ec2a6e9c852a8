"""sentry.* scripts against a local fake of the Sentry API (/api/0, Link-header cursor pagination)."""

from __future__ import annotations

import json

import pytest
from werkzeug import Response

from tests.scripts.harness import run_script
from tests.scripts.upstream import Case, Rejection, Upstream, failure_tests

TOKEN = "sntrys_test_token"
ORG = "acme"


@pytest.fixture
def env(httpserver):
    return {"SENTRY_TOKEN": TOKEN, "SENTRY_ORG": ORG, "SENTRY_API_URL": httpserver.url_for("/api/0")}


def link(httpserver, path, cursor_next, more):
    """Sentry's Link header: always both rels; `results` says whether that page has anything."""
    base = httpserver.url_for(path)
    return (f'<{base}?cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", '
            f'<{base}?cursor={cursor_next}>; rel="next"; results="{"true" if more else "false"}"; '
            f'cursor="{cursor_next}"')


def cursor_pages(httpserver, path, by_cursor, hits=None):
    """Serve `by_cursor` (cursor → items) on `path`, checking the Bearer token on every call."""
    cursors = list(by_cursor)

    def handler(request):
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        cursor = request.args.get("cursor", "")
        index = cursors.index(cursor)
        following = cursors[index + 1] if index + 1 < len(cursors) else f"0:{(index + 1) * 100}:0"
        headers = {"Link": link(httpserver, path, following, index + 1 < len(cursors))}
        if hits is not None:
            headers["X-Hits"] = str(hits)
        return Response(json.dumps(by_cursor[cursor]), content_type="application/json", headers=headers)

    httpserver.expect_request(path).respond_with_handler(handler)


def issue(gid, short, title, count, users, **extra):
    return {"id": str(gid), "shortId": short, "title": title, "culprit": "app/cart.js in render",
            "permalink": f"https://acme.sentry.io/issues/{gid}/", "level": "error", "status": "unresolved",
            "substatus": "ongoing", "priority": "high", "isUnhandled": True, "count": str(count), "userCount": users,
            "firstSeen": "2026-01-01T08:00:00.123456Z", "lastSeen": "2026-01-05T09:30:00Z",
            "project": {"id": "4505", "name": "web", "slug": "web", "platform": "javascript"},
            "metadata": {"type": title.split(":")[0], "value": title}, **extra}


def test_top_issues_resolves_project_and_follows_link(httpserver, env):
    httpserver.expect_request("/api/0/projects/acme/web/").respond_with_json(
        {"id": "4505", "slug": "web", "name": "web", "platform": "javascript"})
    cursor_pages(httpserver, "/api/0/organizations/acme/issues/", {
        "": [issue(101, "WEB-1A3", "TypeError: x is undefined at <anonymous>", 1234, 56),
             issue(102, "WEB-1A4", "ChunkLoadError: Loading chunk 7 failed", 900, 300, level="warning")],
        "0:100:0": [issue(103, "WEB-1A5", "Error: timeout", 12, 3)],
    }, hits=5)
    result = run_script("sentry.top-issues", "--project", "web", "--limit", "3", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Top Sentry issues in *web* (is:unresolved, last 24h, most events)"
    assert lines[1].startswith("• `WEB-1A3` *TypeError: x is undefined at &lt;anonymous&gt;* _app/cart.js in render_ "
                               "— 1,234 events, 56 users, last seen 2026-01-05T09:30:00Z (")
    assert lines[1].endswith(" <https://acme.sentry.io/issues/101/|open>")
    assert lines[2].startswith("• `WEB-1A4` [warning] *ChunkLoadError")
    assert lines[3].startswith("• `WEB-1A5` *Error: timeout*")
    assert lines[4] == "…and 2 more"
    calls = [(req.path, req.args.to_dict()) for req, _ in httpserver.log]
    assert calls == [
        ("/api/0/projects/acme/web/", {}),
        ("/api/0/organizations/acme/issues/", {"project": "4505", "query": "is:unresolved", "sort": "freq",
                                               "statsPeriod": "24h", "limit": "3", "shortIdLookup": "0"}),
        ("/api/0/organizations/acme/issues/", {"cursor": "0:100:0"}),
    ]
    assert all(req.headers["Authorization"] == f"Bearer {TOKEN}" for req, _ in httpserver.log)

    data = run_script("sentry.top-issues", "--project", "web", "--json", "--limit", "2", "--sort", "user",
                      "--period", "7d", "--environment", "production", env=env).json()
    assert httpserver.log[-1][0].args.to_dict() == {
        "project": "4505", "query": "is:unresolved", "sort": "user", "statsPeriod": "7d",
        "environment": "production", "limit": "2", "shortIdLookup": "0"}
    assert data["total"] == 5
    assert data["issues"][0] == {"id": "101", "short_id": "WEB-1A3", "title": "TypeError: x is undefined at <anonymous>",
                                 "culprit": "app/cart.js in render", "level": "error", "status": "unresolved",
                                 "events": 1234, "users": 56, "first_seen": "2026-01-01T08:00:00.123456Z",
                                 "last_seen": "2026-01-05T09:30:00Z", "project": "web",
                                 "permalink": "https://acme.sentry.io/issues/101/"}


def test_top_issues_all_projects_empty(httpserver, env):
    cursor_pages(httpserver, "/api/0/organizations/acme/issues/", {"": []}, hits=0)
    result = run_script("sentry.top-issues", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Top Sentry issues in all projects in *acme* (is:unresolved, last 24h, most events)", "_no matching issues_"]
    assert httpserver.log[0][0].args["project"] == "-1"
    assert run_script("sentry.top-issues", "--period", "yesterday", env=env).code == 2


EVENT = {
    "eventID": "9fac2ceed9344f2bbfdd1fdacb0ed9b1", "dateCreated": "2026-01-05T09:30:00Z",
    "entries": [{"type": "exception", "data": {"values": [{
        "type": "TypeError", "value": "Cannot read properties of undefined (reading 'id')",
        "stacktrace": {"frames": [
            {"filename": "node_modules/react-dom.js", "function": "commit", "lineNo": 900, "inApp": False},
            {"filename": "app/store.js", "function": "load", "lineNo": 12, "inApp": True},
            {"filename": "app/cart.js", "function": "render", "lineNo": 42, "inApp": True},
        ]}}]}},
        {"type": "breadcrumbs", "data": {"values": []}}],
}


def test_issue_by_short_id_with_latest_event(httpserver, env):
    detail = issue(101, "WEB-1A3", "TypeError: x is undefined", 1234, 56,
                   firstRelease={"version": "web@1.2.0+abc", "shortVersion": "1.2.0"},
                   lastRelease={"version": "web@1.4.1+def", "shortVersion": "1.4.1"},
                   assignedTo={"type": "user", "id": "7", "name": "Jane Doe", "email": "jane@acme.com"})
    httpserver.expect_request("/api/0/organizations/acme/shortids/WEB-1A3/").respond_with_json(
        {"organizationSlug": "acme", "projectSlug": "web", "groupId": "101", "shortId": "WEB-1A3", "group": detail})
    httpserver.expect_request("/api/0/organizations/acme/issues/101/events/latest/").respond_with_json(EVENT)
    result = run_script("sentry.issue", "--id", "web-1a3", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*`WEB-1A3` TypeError: x is undefined* (unresolved, ongoing, error, high)"
    assert lines[1] == "• where: app/cart.js in render"
    assert lines[2] == "• 1,234 events, 56 users — project web"
    assert lines[3].startswith("• first seen 2026-01-01T08:00:00Z (") and "last seen 2026-01-05T09:30:00Z (" in lines[3]
    assert lines[4:] == ["• releases: first `1.2.0`, last `1.4.1`", "• assigned to: Jane Doe",
                         "• latest event: TypeError: Cannot read properties of undefined (reading 'id')",
                         "```", "app/cart.js:42 in render", "app/store.js:12 in load", "```",
                         "<https://acme.sentry.io/issues/101/|open in Sentry>"]
    assert [req.path for req, _ in httpserver.log] == ["/api/0/organizations/acme/shortids/WEB-1A3/",
                                                      "/api/0/organizations/acme/issues/101/events/latest/"]
    data = run_script("sentry.issue", "--id", "WEB-1A3", "--json", env=env).json()
    assert data["events"] == 1234 and data["first_release"] == "1.2.0" and data["assigned_to"] == "Jane Doe"
    assert data["latest_event"]["frames"] == ["app/cart.js:42 in render", "app/store.js:12 in load"]


def test_issue_by_url_without_events(httpserver, env):
    httpserver.expect_request("/api/0/organizations/acme/issues/4567890123/").respond_with_json(
        issue(4567890123, "API-7F", "Error: boom", 1, 0, culprit=""))
    httpserver.expect_request("/api/0/organizations/acme/issues/4567890123/events/latest/").respond_with_json(
        {"detail": "The requested resource does not exist"}, status=404)
    result = run_script("sentry.issue", "--id", "<https://acme.sentry.io/issues/4567890123/?project=1>", env=env)
    assert result.code == 0, result.stderr
    assert "• assigned to: _nobody_" in result.stdout
    assert "latest event" not in result.stdout
    assert run_script("sentry.issue", "--id", "what?", env=env).code == 2


def release(version, short, new_groups, commits=0, deploy=None, released="2026-01-04T12:00:00Z"):
    return {"version": version, "shortVersion": short, "ref": None, "url": None, "dateCreated": "2026-01-04T11:00:00Z",
            "dateReleased": released, "newGroups": new_groups, "commitCount": commits, "deployCount": 1 if deploy else 0,
            "lastDeploy": deploy, "lastEvent": "2026-01-05T09:00:00Z", "firstEvent": "2026-01-04T12:05:00Z",
            "authors": [], "projects": [{"id": 4505, "slug": "web", "name": "web", "newGroups": new_groups}]}


def test_releases_of_project_across_pages(httpserver, env):
    deploy = {"id": "1", "environment": "production", "dateStarted": None, "dateFinished": "2026-01-04T12:10:00Z",
              "name": None}
    cursor_pages(httpserver, "/api/0/projects/acme/web/releases/", {
        "": [release("web@1.4.1+def", "1.4.1", 3, commits=12, deploy=deploy),
             release("web@1.4.0+abc", "1.4.0", 0, released=None)],
        "100:1:0": [release("web@1.3.9", "1.3.9", 1)],
        "100:2:0": [release("web@1.3.8", "1.3.8", 0)],
    })
    result = run_script("sentry.releases", "--project", "web", "--limit", "3", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Recent Sentry releases of *web*"
    assert lines[1].startswith("• `1.4.1` — released 2026-01-04T12:00:00Z (")
    assert lines[1].endswith(" · 3 new issues · 12 commits · deployed to production 2026-01-04T12:10:00Z ("
                             + lines[1].rsplit("(", 1)[1])
    assert lines[2].startswith("• `1.4.0` — created 2026-01-04T11:00:00Z (") and lines[2].endswith(" · 0 new issues")
    assert lines[3].startswith("• `1.3.9` — released")
    assert lines[4] == "_…older releases not shown_"
    calls = [(req.path, req.args.to_dict()) for req, _ in httpserver.log]
    assert calls == [("/api/0/projects/acme/web/releases/", {"per_page": "3"}),
                     ("/api/0/projects/acme/web/releases/", {"cursor": "100:1:0"})]
    data = run_script("sentry.releases", "--json", env={**env, "SENTRY_PROJECT": "web"}).json()
    assert [r["version"] for r in data["releases"]] == ["1.4.1", "1.4.0", "1.3.9", "1.3.8"]
    assert data["more"] is False
    assert data["releases"][0]["last_deploy"] == {"environment": "production", "finished": "2026-01-04T12:10:00Z"}


def test_releases_of_org_empty(httpserver, env):
    cursor_pages(httpserver, "/api/0/organizations/acme/releases/", {"": []})
    result = run_script("sentry.releases", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == ["Recent Sentry releases of *acme*", "_no releases_"]


# --- error handling, once for every script -------------------------------------------------------

SENTRY = Upstream(
    service="sentry", secret=TOKEN,
    rejections=[Rejection(401, {"detail": "Invalid token"}, "Invalid token")],
    rate_limited={"detail": "You are attempting to use this endpoint too frequently. Limit is 40 requests in 1 seconds"},
    server_error="<h1>Server Error (500)</h1>", server_error_detail="Server Error (500)")


def _latest_event(httpserver):
    httpserver.expect_request(f"/api/0/organizations/{ORG}/issues/101/events/latest/").respond_with_json(EVENT)


CASES = [
    Case("sentry.top-issues", ["--project", "4505"], "GET", f"/api/0/organizations/{ORG}/issues/", ok=[]),
    Case("sentry.issue", ["--id", "101"], "GET", f"/api/0/organizations/{ORG}/issues/101/",
         ok=issue(101, "WEB-1A3", "Error: x", 1, 1), fake=_latest_event),
    Case("sentry.releases", ["--project", "web"], "GET", f"/api/0/projects/{ORG}/web/releases/", ok=[]),
]
test_401_credentials_rejected, test_429_is_retried, test_500_names_the_call, test_malformed_json = \
    failure_tests(SENTRY, CASES)
