"""jira.* scripts against a local fake Jira Cloud (REST v3 enhanced search, Agile API, real shapes)."""

from __future__ import annotations

import base64
import json

import pytest
from werkzeug import Response

from tests.scripts.harness import run_script
from tests.scripts.upstream import Case, Rejection, Upstream, failure_tests

SITE = "https://acme.atlassian.net"
BASIC = "Basic " + base64.b64encode(b"bot@acme.io:jira-token").decode()


@pytest.fixture
def env(httpserver):
    return {"JIRA_BASE_URL": SITE, "JIRA_API_URL": httpserver.url_for(""), "JIRA_EMAIL": "bot@acme.io",
            "JIRA_API_TOKEN": "jira-token"}


def issue(key: str, summary="Fix login", status=("In Progress", "indeterminate"), priority="High",
          assignee="Ada Lovelace", **extra) -> dict:
    fields = {"summary": summary,
              "status": {"name": status[0], "statusCategory": {"key": status[1], "name": status[0]}},
              "assignee": {"accountId": "5b10", "displayName": assignee} if assignee else None,
              "priority": {"name": priority, "id": "2"}, "issuetype": {"name": "Bug", "id": "10004"},
              "created": "2026-11-20T09:00:00.000+0000", "updated": "2026-11-24T16:30:00.000+0000", **extra}
    return {"id": str(abs(hash(key)) % 100000), "key": key, "self": f"{SITE}/rest/api/3/issue/{key}", "fields": fields}


def search_handler(pages: list[dict]):
    """Serve enhanced-search pages in order, keyed by the nextPageToken the client sends."""
    def handler(request):
        token = request.args.get("nextPageToken")
        index = 0 if token is None else int(token.removeprefix("tok"))
        return Response(json.dumps(pages[index]), content_type="application/json")
    return handler


def _auth(request):
    assert request.headers["Authorization"] == BASIC


def test_my_issues_pages_with_next_page_token_and_counts(httpserver, env):
    pages = [{"issues": [issue("ABC-1", summary="Fix <login> & <!here>"), issue("ABC-2", assignee=None)],
              "nextPageToken": "tok1", "isLast": False},
             {"issues": [issue("ABC-3"), issue("ABC-4")], "nextPageToken": "tok2", "isLast": False}]
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_handler(search_handler(pages))
    httpserver.expect_request("/rest/api/3/search/approximate-count", method="POST").respond_with_json({"count": 17})
    result = run_script("jira.my-issues", "--limit", "3", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*17 open issues* assigned to you:"
    # Upstream text is escaped for Slack mrkdwn: no broken links, no <!here> from an issue title.
    assert lines[1] == f"• <{SITE}/browse/ABC-1|ABC-1> Fix &lt;login&gt; &amp; &lt;!here&gt; — _In Progress_ — High — Ada Lovelace"
    assert lines[2].endswith("— unassigned") and lines[-1] == "…and 14 more"
    first = httpserver.log[0][0]
    _auth(first)
    assert first.args["jql"] == "assignee = currentUser() AND statusCategory != Done ORDER BY priority DESC, updated DESC"
    assert first.args["maxResults"] == "4" and "summary" in first.args["fields"].split(",")
    assert httpserver.log[1][0].args["nextPageToken"] == "tok1"
    count_request = httpserver.log[2][0]
    assert json.loads(count_request.data) == {"jql": "assignee = currentUser() AND statusCategory != Done"}
    data = run_script("jira.my-issues", "--limit", "3", "--project", "abc", "--json", env=env).json()
    assert [i["key"] for i in data["issues"]] == ["ABC-1", "ABC-2", "ABC-3"] and data["total"] == 17
    assert data["jql"].startswith('project = "ABC" AND assignee = currentUser()')


def test_my_issues_empty(httpserver, env):
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_json({"issues": [], "isLast": True})
    result = run_script("jira.my-issues", env=env)
    assert result.code == 0 and result.stdout.strip() == "🎉 No open Jira issues assigned to you."
    assert len(httpserver.log) == 1  # no count call when everything fit


def test_search_runs_jql_and_survives_a_failed_count(httpserver, env):
    pages = [{"issues": [issue("OPS-9", summary="Disk full")], "nextPageToken": "tok1", "isLast": False},
             {"issues": [issue("OPS-8")], "isLast": True}]
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_handler(search_handler(pages))
    httpserver.expect_request("/rest/api/3/search/approximate-count", method="POST").respond_with_json(
        {"errorMessages": ["nope"]}, status=400)
    jql = 'project = OPS AND labels = "prod" ORDER BY created DESC'
    result = run_script("jira.search", "--jql", jql, "--limit", "1", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Issues matching `{jql}`:", f"• <{SITE}/browse/OPS-9|OPS-9> Disk full — _In Progress_ — High — Ada Lovelace",
        "…and more"]
    assert httpserver.log[0][0].args["jql"] == jql


def test_search_total_and_empty(httpserver, env):
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_json({"issues": [issue("OPS-1")], "isLast": True})
    data = run_script("jira.search", "--jql", "project = OPS", "--json", env=env).json()
    assert data["total"] == 1 and data["more"] is False and data["issues"][0]["status_category"] == "indeterminate"
    httpserver.clear()
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_json({"issues": [], "isLast": True})
    result = run_script("jira.search", "--jql", "project = NONE", env=env)
    assert result.code == 0 and result.stdout.strip() == "No Jira issues match `project = NONE`."


def test_search_bad_jql_is_an_upstream_error_with_jira_message(httpserver, env):
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_json(
        {"errorMessages": ["Error in the JQL Query: Expecting operator but got 'bogus'."], "errors": {}}, status=400)
    result = run_script("jira.search", "--jql", "project bogus", env=env)
    assert result.code == 4 and "Expecting operator" in result.stderr


def test_issue_details(httpserver, env):
    description = {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Users cannot log in"},
                                          {"type": "hardBreak"}, {"type": "text", "text": "since 09:00."}]},
        {"type": "paragraph", "content": [{"type": "mention", "attrs": {"text": "@Ada"}},
                                          {"type": "text", "text": " please look"}]}]}
    body = issue("ABC-42", reporter={"displayName": "Grace Hopper"}, labels=["auth", "prod"],
                 description=description, parent={"key": "ABC-1"}, duedate="2026-12-01", resolution=None,
                 comment={"comments": [{"id": "1"}], "total": 3, "maxResults": 1, "startAt": 0})
    httpserver.expect_request("/rest/api/3/issue/ABC-42").respond_with_json(body)
    result = run_script("jira.issue", "--key", "abc-42", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"*<{SITE}/browse/ABC-42|ABC-42>* Fix login"
    assert lines[1] == "Bug · _In Progress_ · priority High"
    assert lines[2] == "Assignee: Ada Lovelace · Reporter: Grace Hopper"
    assert lines[3].startswith("Created 2026-11-20T09:00:00Z (") and "due 2026-12-01" in lines[3]
    assert lines[4] == "Parent: ABC-1 · Labels: auth, prod · 3 comments"
    assert lines[5:] == ["> Users cannot log in", "> since 09:00.", ">", "> @Ada please look"]
    request = httpserver.log[0][0]
    _auth(request)
    assert "description" in request.args["fields"].split(",")
    data = run_script("jira.issue", "--key", "ABC-42", "--json", env=env).json()
    assert data["key"] == "ABC-42" and data["labels"] == ["auth", "prod"] and data["reporter"] == "Grace Hopper"


def test_issue_rejects_bad_key(httpserver, env):
    assert run_script("jira.issue", "--key", "../../myself", env=env).code == 2
    assert not httpserver.log


def sprint_issue(key, category, points):
    names = {"done": "Done", "indeterminate": "In Progress", "new": "To Do"}
    return {"key": key, "fields": {"summary": key, "status": {"name": names[category],
                                                                "statusCategory": {"key": category}},
                                   "customfield_10016": points}}


def test_sprint_progress_with_points_across_pages(httpserver, env):
    httpserver.expect_request("/rest/agile/1.0/board/7/sprint").respond_with_json(
        {"maxResults": 50, "startAt": 0, "isLast": True,
         "values": [{"id": 31, "state": "active", "name": "Sprint 31", "startDate": "2026-11-17T09:00:00.000Z",
                     "endDate": "2030-12-01T17:00:00.000Z", "originBoardId": 7, "goal": "Ship SSO"}]})
    httpserver.expect_request("/rest/agile/1.0/board/7/configuration").respond_with_json(
        {"id": 7, "name": "ABC board", "type": "scrum",
         "estimation": {"type": "field", "field": {"fieldId": "customfield_10016", "displayName": "Story point estimate"}}})
    page1 = {"startAt": 0, "maxResults": 2, "total": 5,
             "issues": [sprint_issue("ABC-1", "done", 5), sprint_issue("ABC-2", "done", 3)]}
    page2 = {"startAt": 2, "maxResults": 2, "total": 5,
             "issues": [sprint_issue("ABC-3", "indeterminate", 8), sprint_issue("ABC-4", "new", None)]}
    page3 = {"startAt": 4, "maxResults": 2, "total": 5, "issues": [sprint_issue("ABC-5", "new", 0.5)]}
    pages = {"0": page1, "2": page2, "4": page3}
    httpserver.expect_request("/rest/agile/1.0/board/7/sprint/31/issue").respond_with_handler(
        lambda r: Response(json.dumps(pages[r.args.get("startAt", "0")]), content_type="application/json"))
    result = run_script("jira.sprint", "--board", "7", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("*Sprint 31* (board 7) — ends 2030-12-01T17:00:00Z (in ")
    assert lines[1] == "Goal: Ship SSO"
    assert lines[2] == "• Done: 2 (8 pts) · In progress: 1 (8 pts) · To do: 2 (0.5 pts)"
    assert lines[3] == "40% of 5 issues done, 48% of 16.5 points"
    issue_requests = [r for r, _ in httpserver.log if r.path.endswith("/issue")]
    assert [r.args.get("startAt") for r in issue_requests] == [None, "2", "4"]
    assert issue_requests[0].args["fields"] == "status,summary,customfield_10016"
    _auth(issue_requests[0])
    data = run_script("jira.sprint", "--board", "7", "--json", env=env).json()
    sprint = data["sprints"][0]
    assert sprint["counts"] == {"done": 2, "indeterminate": 1, "new": 2} and sprint["points"]["done"] == 8


def test_sprint_without_estimation_and_without_active_sprint(httpserver, env):
    httpserver.expect_request("/rest/agile/1.0/board/8/sprint").respond_with_json(
        {"isLast": True, "values": [{"id": 5, "name": "S5", "state": "active"}]})
    httpserver.expect_request("/rest/agile/1.0/board/8/configuration").respond_with_json({"id": 8, "name": "b"})
    httpserver.expect_request("/rest/agile/1.0/board/8/sprint/5/issue").respond_with_json(
        {"startAt": 0, "maxResults": 50, "total": 1, "issues": [sprint_issue("X-1", "done", None)]})
    result = run_script("jira.sprint", "--board", "8", env=env)
    assert result.code == 0 and "• Done: 1 · In progress: 0 · To do: 0" in result.stdout
    assert "100% of 1 issues done" in result.stdout and "pts" not in result.stdout
    httpserver.expect_request("/rest/agile/1.0/board/9/sprint").respond_with_json({"isLast": True, "values": []})
    empty = run_script("jira.sprint", "--board", "9", env=env)
    assert empty.code == 0 and empty.stdout.strip() == "No active sprint on board 9."


def _blocker_setup(httpserver, priorities=("Highest", "High", "Medium", "Low", "Lowest", "Blocker"), flagged=True):
    httpserver.expect_request("/rest/api/3/priority/search").respond_with_json(
        {"maxResults": 100, "startAt": 0, "total": len(priorities), "isLast": True,
         "values": [{"id": str(i), "name": n} for i, n in enumerate(priorities, 1)]})
    fields = [{"id": "summary", "name": "Summary", "custom": False},
              {"id": "customfield_10021", "name": "Flagged", "custom": True,
               "schema": {"type": "array", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:multicheckboxes"}}]
    httpserver.expect_request("/rest/api/3/field").respond_with_json(fields if flagged else fields[:1])


def test_blockers_uses_existing_priorities_and_flagged_field(httpserver, env):
    _blocker_setup(httpserver)
    flagged = issue("ABC-7", summary="Payments down", priority="Medium",
                    customfield_10021=[{"value": "Impediment", "id": "10019"}])
    pages = [{"issues": [issue("ABC-5", priority="Blocker"), flagged], "nextPageToken": "tok1"},
             {"issues": [issue("ABC-9", priority="Highest")], "isLast": True}]
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_handler(search_handler(pages))
    httpserver.expect_request("/rest/api/3/search/approximate-count", method="POST").respond_with_json({"count": 3})
    result = run_script("jira.blockers", "--project", "ABC", "--limit", "2", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "🚧 *3 open blockers* in ABC:"
    assert lines[1].startswith(f"• <{SITE}/browse/ABC-5|ABC-5> Fix login — _In Progress_ — Blocker — ")
    assert lines[2].startswith("• 🚩 <") and "opened 2026-11-20T09:00:00Z" in lines[2]
    assert lines[3] == "…and 1 more"
    search = next(r for r, _ in httpserver.log if r.path == "/rest/api/3/search/jql")
    assert search.args["jql"] == ('project = "ABC" AND statusCategory != Done AND (priority in ("Highest", "Blocker") '
                                  'OR cf[10021] is not EMPTY) ORDER BY priority DESC, created ASC')
    assert "customfield_10021" in search.args["fields"].split(",")
    _auth(search)


def test_blockers_without_blocker_priority_or_flag_field(httpserver, env):
    _blocker_setup(httpserver, priorities=("Highest", "Low"), flagged=False)
    httpserver.expect_request("/rest/api/3/search/jql").respond_with_json({"issues": [], "isLast": True})
    result = run_script("jira.blockers", "--project", "ABC", env=env)
    assert result.code == 0 and result.stdout.strip() == "✅ No open blockers in ABC."
    search = next(r for r, _ in httpserver.log if r.path == "/rest/api/3/search/jql")
    assert 'priority in ("Highest")' in search.args["jql"] and "cf[" not in search.args["jql"]


def test_create_issue_posts_adf_once(httpserver, env):
    httpserver.expect_request("/rest/api/3/issue", method="POST").respond_with_json(
        {"id": "10042", "key": "ABC-43", "self": f"{SITE}/rest/api/3/issue/10042"}, status=201)
    result = run_script("jira.create-issue", "--project", "abc", "--summary", "Rotate  the API keys", "--type", "Bug",
                        "--description", "Keys leaked in CI.\nRotate today.\n\nSee runbook.", "--labels", "security,ops",
                        env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == f"✅ Created Bug *<{SITE}/browse/ABC-43|ABC-43>* in ABC: Rotate the API keys"
    posts = [r for r, _ in httpserver.log if r.method == "POST"]
    assert len(posts) == 1
    _auth(posts[0])
    assert json.loads(posts[0].data) == {"fields": {
        "project": {"key": "ABC"}, "summary": "Rotate the API keys", "issuetype": {"name": "Bug"},
        "labels": ["security", "ops"],
        "description": {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "Keys leaked in CI."}, {"type": "hardBreak"},
                                              {"type": "text", "text": "Rotate today."}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "See runbook."}]}]}}}


def test_create_issue_validation_error_is_reported_and_not_retried(httpserver, env):
    httpserver.expect_request("/rest/api/3/issue", method="POST").respond_with_json(
        {"errorMessages": [], "errors": {"issuetype": "Specify a valid issue type"}}, status=400)
    result = run_script("jira.create-issue", "--project", "ABC", "--summary", "x", "--type", "Epicc", env=env)
    assert result.code == 4 and "Specify a valid issue type" in result.stderr
    assert len(httpserver.log) == 1


# --- error handling, once for every script -------------------------------------------------------

JIRA = Upstream(
    service="jira", secret="jira-token",
    rejections=[Rejection(401, "Client must be authenticated to access this resource.", "Client must be authenticated")],
    rate_limited={"errorMessages": ["Rate limit exceeded."]},
    server_error={"errorMessages": ["Internal server error"]}, server_error_detail="Internal server error")


def _no_flagged_field(httpserver):
    httpserver.expect_request("/rest/api/3/field").respond_with_json([])


EMPTY_SEARCH = {"issues": [], "isLast": True}
CASES = [
    Case("jira.my-issues", [], "GET", "/rest/api/3/search/jql", ok=EMPTY_SEARCH),
    Case("jira.search", ["--jql", "project = ABC"], "GET", "/rest/api/3/search/jql", ok=EMPTY_SEARCH),
    Case("jira.issue", ["--key", "ABC-1"], "GET", "/rest/api/3/issue/ABC-1", ok=issue("ABC-1")),
    Case("jira.sprint", ["--board", "7"], "GET", "/rest/agile/1.0/board/7/sprint", ok={"isLast": True, "values": []}),
    Case("jira.blockers", ["--project", "ABC"], "GET", "/rest/api/3/priority/search", ok={"values": []},
         fake=_no_flagged_field),
    Case("jira.create-issue", ["--project", "ABC", "--summary", "x"], "POST", "/rest/api/3/issue",
         ok={"id": "1", "key": "ABC-1"}),
]
test_401_credentials_rejected, test_429_is_retried, test_500_names_the_call, test_malformed_json = \
    failure_tests(JIRA, CASES)
