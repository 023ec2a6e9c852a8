"""github.* scripts against a local fake of the GitHub REST v3 API (real paths, shapes, Link pagination)."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

import pytest
from werkzeug.wrappers import Request, Response

from tests.scripts.harness import run_script
from tests.scripts.upstream import Case, Rejection, Upstream, failure_tests

TOKEN = "ghp_testtoken"
REPO = "acme/web"


@pytest.fixture
def env(httpserver):
    return {"GITHUB_TOKEN": TOKEN, "GITHUB_REPO": REPO, "GITHUB_API_URL": httpserver.url_for("")}


# ---- fake data in GitHub's shapes ---------------------------------------------------------------------------

def user(login):
    return {"login": login, "id": abs(hash(login)) % 10**6, "type": "User"}


def pull(number, title, login, created="2026-01-05T10:00:00Z", draft=False, reviewers=()):
    return {"number": number, "title": title, "state": "open", "draft": draft, "user": user(login),
            "created_at": created, "updated_at": created, "html_url": f"https://github.com/{REPO}/pull/{number}",
            "head": {"ref": f"feature-{number}", "sha": f"{number:040x}"}, "base": {"ref": "main"},
            "labels": [], "requested_reviewers": [user(r) for r in reviewers], "requested_teams": []}


def issue(number, title, login="carol", labels=(), is_pr=False, comments=0):
    item = {"number": number, "title": title, "state": "open", "user": user(login), "comments": comments,
            "labels": [{"name": n, "color": "ededed"} for n in labels], "assignees": [],
            "created_at": "2026-01-04T08:00:00Z", "updated_at": "2026-01-04T09:00:00Z",
            "html_url": f"https://github.com/{REPO}/issues/{number}",
            "repository_url": f"https://api.github.com/repos/{REPO}"}
    if is_pr:
        item["pull_request"] = {"url": f"https://api.github.com/repos/{REPO}/pulls/{number}"}
    return item


def commit(sha, message, login="alice", date="2026-01-05T12:00:00Z"):
    return {"sha": sha, "html_url": f"https://github.com/{REPO}/commit/{sha}", "author": user(login),
            "commit": {"message": message, "author": {"name": login.title(), "date": date},
                       "committer": {"name": "GitHub", "date": date}}}


def workflow_run(run_id, name="CI", branch="main", title="Fix flaky test"):
    return {"id": run_id, "name": name, "run_number": run_id, "display_title": title, "head_branch": branch,
            "head_sha": "f" * 40, "event": "push", "status": "completed", "conclusion": "failure",
            "actor": user("alice"), "triggering_actor": user("alice"),
            "created_at": "2026-01-05T11:00:00Z", "run_started_at": "2026-01-05T11:00:05Z",
            "updated_at": "2026-01-05T11:09:00Z",
            "html_url": f"https://github.com/{REPO}/actions/runs/{run_id}"}


def release(tag, published="2026-01-03T00:00:00Z", prerelease=False):
    return {"tag_name": tag, "name": f"Release {tag}", "draft": False, "prerelease": prerelease,
            "created_at": published, "published_at": published, "author": user("alice"),
            "html_url": f"https://github.com/{REPO}/releases/tag/{tag}"}


REPO_INFO = {
    "full_name": REPO, "description": "The web app", "html_url": f"https://github.com/{REPO}",
    "stargazers_count": 1234, "forks_count": 56, "subscribers_count": 12, "open_issues_count": 10,
    "default_branch": "main", "language": "Python", "license": {"spdx_id": "MIT"}, "visibility": "private",
    "private": True, "archived": False, "fork": False, "topics": ["web"], "size": 2048,
    "pushed_at": "2026-01-05T12:00:00Z", "created_at": "2020-02-01T00:00:00Z",
}


# ---- fake server helpers ------------------------------------------------------------------------------------

def serve_pages(httpserver, path, pages, wrap=None, method="GET"):
    """Serve `pages` (lists of items) on `path`, selected by ?page=N, with GitHub's Link header."""

    def handler(request: Request) -> Response:
        page = int(request.args.get("page", 1))
        items = pages[page - 1] if page <= len(pages) else []
        links = []
        query = {k: v for k, v in request.args.items() if k != "page"}
        if page < len(pages):
            links.append(f'<{httpserver.url_for(path)}?{urlencode({**query, "page": page + 1})}>; rel="next"')
            links.append(f'<{httpserver.url_for(path)}?{urlencode({**query, "page": len(pages)})}>; rel="last"')
        body = wrap(items) if wrap else items
        headers = {"Link": ", ".join(links)} if links else {}
        return Response(json.dumps(body), status=200, headers=headers, content_type="application/json")

    httpserver.expect_request(path, method=method).respond_with_handler(handler)


def search_wrap(total):
    return lambda items: {"total_count": total, "incomplete_results": False, "items": items}


def runs_wrap(total):
    return lambda items: {"total_count": total, "workflow_runs": items}


def requests_to(httpserver, path):
    return [req for req, _ in httpserver.log if req.path == path]


def assert_github_headers(req):
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert req.headers["Accept"] == "application/vnd.github+json"
    assert req.headers["X-GitHub-Api-Version"] == "2022-11-28"


# ---- happy fakes per script (used by the happy tests and the 429 table) -------------------------------------

def fake_open_prs(httpserver):
    serve_pages(httpserver, f"/repos/{REPO}/pulls", [
        [pull(12, "Add login page", "alice", "2026-01-05T10:00:00Z", reviewers=["bob"]),
         pull(11, "Bump deps", "dependabot[bot]", "2026-01-04T10:00:00Z")],
        [pull(10, "WIP: new <nav>", "alice", "2026-01-03T10:00:00Z", draft=True)],
    ])


PR_NUMBER = 42
PR_SHA = "a" * 40


def fake_pr_status(httpserver):
    pr = pull(PR_NUMBER, "Add billing page", "alice", reviewers=["dave"])
    pr.update({"head": {"ref": "billing", "sha": PR_SHA}, "mergeable": True, "mergeable_state": "blocked",
               "merged": False, "merged_at": None, "requested_teams": [{"slug": "core", "name": "Core"}]})
    httpserver.expect_request(f"/repos/{REPO}/pulls/{PR_NUMBER}").respond_with_json(pr)
    serve_pages(httpserver, f"/repos/{REPO}/pulls/{PR_NUMBER}/reviews", [
        [{"id": 1, "user": user("bob"), "state": "CHANGES_REQUESTED", "submitted_at": "2026-01-05T10:00:00Z"},
         {"id": 2, "user": user("bob"), "state": "APPROVED", "submitted_at": "2026-01-05T11:00:00Z"}],
        [{"id": 3, "user": user("bob"), "state": "COMMENTED", "submitted_at": "2026-01-05T12:00:00Z"},
         {"id": 4, "user": user("carol"), "state": "CHANGES_REQUESTED", "submitted_at": "2026-01-05T12:30:00Z"}],
    ])
    check = {"status": "completed", "conclusion": "success", "html_url": "https://github.com/x/runs/1",
             "details_url": None}
    serve_pages(httpserver, f"/repos/{REPO}/commits/{PR_SHA}/check-runs", [
        [{**check, "id": 1, "name": "lint"}, {**check, "id": 2, "name": "unit tests", "conclusion": "failure"}],
        [{**check, "id": 3, "name": "e2e", "status": "in_progress", "conclusion": None}],
    ], wrap=lambda items: {"total_count": 3, "check_runs": items})
    httpserver.expect_request(f"/repos/{REPO}/commits/{PR_SHA}/status").respond_with_json({
        "state": "success", "sha": PR_SHA, "total_count": 1,
        "statuses": [{"context": "ci/jenkins", "state": "success", "target_url": "https://ci.example/1"}]})


def fake_review_requests(httpserver):
    items = [issue(5, "Refactor auth", "alice", is_pr=True), issue(6, "Add cache", "bob", is_pr=True),
             issue(7, "Docs", "carol", is_pr=True)]
    serve_pages(httpserver, "/search/issues", [items[:2], items[2:]], wrap=search_wrap(4))


def fake_open_issues(httpserver):
    serve_pages(httpserver, f"/repos/{REPO}/issues", [
        [issue(30, "Checkout is slow", labels=["bug", "perf"], comments=3), issue(29, "A PR", is_pr=True)],
        [issue(28, "Typo on <home> page", labels=["bug"]), issue(27, "Another PR", is_pr=True)],
    ])


def fake_recent_commits(httpserver):
    serve_pages(httpserver, f"/repos/{REPO}/commits", [
        [commit("1" * 40, "Fix login redirect\n\nLong body"), commit("2" * 40, "Add metrics", "bob")],
        [commit("3" * 40, "Initial import", "carol", "2026-01-01T00:00:00Z")],
    ])


def fake_failing_runs(httpserver):
    serve_pages(httpserver, f"/repos/{REPO}/actions/runs",
                [[workflow_run(101), workflow_run(100, "Deploy", "release")], [workflow_run(99)]],
                wrap=runs_wrap(7))


def fake_releases(httpserver):
    serve_pages(httpserver, f"/repos/{REPO}/releases", [
        [release("v2.1.0"), release("v2.1.0-rc1", "2026-01-01T00:00:00Z", prerelease=True)],
        [release("v2.0.0", "2025-12-01T00:00:00Z")], [release("v1.9.0", "2025-11-01T00:00:00Z")],
    ])


def fake_repo_stats(httpserver):
    httpserver.expect_request(f"/repos/{REPO}").respond_with_json(REPO_INFO)
    httpserver.expect_request("/search/issues").respond_with_json(
        {"total_count": 3, "incomplete_results": False, "items": []})


CREATED = {"number": 77, "title": "Flaky test", "state": "open", "html_url": f"https://github.com/{REPO}/issues/77",
           "labels": [{"name": "ci"}], "user": user("opsbot")}


def fake_create_issue(httpserver):
    httpserver.expect_request(f"/repos/{REPO}/issues", method="POST").respond_with_json(CREATED, status=201)


# ---- happy paths ---------------------------------------------------------------------------------------------

def test_open_prs_lists_across_pages_with_total(httpserver, env):
    fake_open_prs(httpserver)
    result = run_script("github.open-prs", "--limit", "2", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"*3 open pull requests in {REPO}*"
    assert lines[1].startswith(f"• <https://github.com/{REPO}/pull/12|#12> Add login page — @alice, opened "
                               "2026-01-05T10:00:00Z (")
    assert "review: @bob" in lines[1]
    assert lines[-1] == "…and 1 more"
    reqs = requests_to(httpserver, f"/repos/{REPO}/pulls")
    assert len(reqs) == 2
    assert reqs[0].args["state"] == "open" and reqs[0].args["per_page"] == "100"
    assert reqs[0].args["sort"] == "created" and reqs[0].args["direction"] == "desc"
    assert reqs[1].args["page"] == "2"
    assert_github_headers(reqs[0])

    data = run_script("github.open-prs", "--json", env=env).json()
    assert data["total"] == 3 and [p["number"] for p in data["pull_requests"]] == [12, 11, 10]
    assert data["pull_requests"][2]["draft"] is True
    assert data["pull_requests"][0]["requested_reviewers"] == ["bob"]


def test_open_prs_by_author_and_me(httpserver, env):
    fake_open_prs(httpserver)
    httpserver.expect_request("/user").respond_with_json(user("alice"))
    result = run_script("github.open-prs", "--author", "me", "--repo", "https://github.com/acme/web.git", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith(f"*2 open pull requests in {REPO} by @alice*")
    assert "#11" not in result.stdout
    assert "&lt;nav&gt;" in result.stdout  # Slack control characters escaped
    data = run_script("github.open-prs", "--author", "dependabot[bot]", "--json", env=env).json()
    assert data["total"] == 1 and data["pull_requests"][0]["number"] == 11


def test_pr_status_checks_reviews_mergeability(httpserver, env):
    fake_pr_status(httpserver)
    result = run_script("github.pr-status", "--number", str(PR_NUMBER), env=env)
    assert result.code == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"*<https://github.com/{REPO}/pull/42|{REPO}#42>* Add billing page — @alice · "
                          "`billing` → `main` · open")
    assert "*Checks:* 2 passed, 1 failing, 1 pending" in out
    assert "✗ <https://github.com/x/runs/1|unit tests> (failure)" in out
    assert "⏳ <https://github.com/x/runs/1|e2e> (in_progress)" in out
    # bob's comment after approving does not undo the approval
    assert "*Reviews:* ✅ approved by @bob · ✋ changes requested by @carol · waiting on @dave, team core" in out
    assert "*Merge:* ⛔ blocked" in out
    assert len(requests_to(httpserver, f"/repos/{REPO}/commits/{PR_SHA}/check-runs")) == 2
    assert_github_headers(requests_to(httpserver, f"/repos/{REPO}/pulls/{PR_NUMBER}")[0])

    data = run_script("github.pr-status", "--number", "42", "--json", env=env).json()
    assert data["checks"]["failing"] == 1 and data["checks"]["passed"] == 2 and data["checks"]["total"] == 4
    assert data["reviews"] == {"bob": "APPROVED", "carol": "CHANGES_REQUESTED"}
    assert data["mergeable_state"] == "blocked" and data["head_sha"] == PR_SHA
    assert data["requested_reviewers"] == ["dave"] and data["requested_teams"] == ["core"]


def test_pr_status_merged_and_conflicts(httpserver, env):
    merged = {**pull(7, "Old", "bob"), "state": "closed", "merged": True, "merged_at": "2026-01-02T00:00:00Z",
              "merged_by": user("carol"), "mergeable": None, "mergeable_state": "unknown"}
    conflict = {**pull(8, "Clash", "bob"), "mergeable": False, "mergeable_state": "dirty", "merged": False}
    for pr in (merged, conflict):
        httpserver.expect_request(f"/repos/{REPO}/pulls/{pr['number']}").respond_with_json(pr)
        httpserver.expect_request(f"/repos/{REPO}/pulls/{pr['number']}/reviews").respond_with_json([])
        sha = pr["head"]["sha"]
        httpserver.expect_request(f"/repos/{REPO}/commits/{sha}/check-runs").respond_with_json(
            {"total_count": 0, "check_runs": []})
        httpserver.expect_request(f"/repos/{REPO}/commits/{sha}/status").respond_with_json(
            {"state": "pending", "statuses": [], "total_count": 0})
    result = run_script("github.pr-status", "--number", "7", env=env)
    assert result.code == 0, result.stderr
    assert "*Merge:* merged 2026-01-02T00:00:00Z (" in result.stdout and "by @carol" in result.stdout
    assert "*Checks:* none reported" in result.stdout and "*Reviews:* none yet" in result.stdout
    result = run_script("github.pr-status", "--number", "8", env=env)
    assert "*Merge:* ❌ has merge conflicts" in result.stdout


def test_review_requests_search_query_and_pages(httpserver, env):
    fake_review_requests(httpserver)
    result = run_script("github.review-requests", "--limit", "3", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*4 pull requests waiting for your review*"
    assert lines[1].startswith(f"• <https://github.com/{REPO}/issues/5|{REPO}#5> Refactor auth — @alice, updated ")
    assert len([line for line in lines if line.startswith("• ")]) == 3
    assert lines[-1] == "…and 1 more"
    reqs = requests_to(httpserver, "/search/issues")
    assert len(reqs) == 2
    assert reqs[0].args["q"] == "is:pr is:open review-requested:@me archived:false"
    assert reqs[0].args["sort"] == "updated" and reqs[0].args["per_page"] == "3"
    assert_github_headers(reqs[0])

    data = run_script("github.review-requests", "--repo", "acme/web", "--json", env=env).json()
    assert data["query"].endswith(" repo:acme/web") and data["total"] == 4
    assert data["pull_requests"][0] == {"repo": REPO, "number": 5, "title": "Refactor auth", "author": "alice",
                                        "draft": False, "created_at": "2026-01-04T08:00:00Z",
                                        "updated_at": "2026-01-04T09:00:00Z",
                                        "url": f"https://github.com/{REPO}/issues/5"}


def test_open_issues_excludes_pull_requests(httpserver, env):
    fake_open_issues(httpserver)
    result = run_script("github.open-issues", "--label", "bug", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"*2 open issues in {REPO} labelled bug*"
    assert lines[1].startswith(f"• <https://github.com/{REPO}/issues/30|#30> Checkout is slow [bug, perf] — @carol, "
                               "opened 2026-01-04T08:00:00Z (")
    assert lines[1].endswith("· 3 comments")
    assert "PR" not in result.stdout
    reqs = requests_to(httpserver, f"/repos/{REPO}/issues")
    assert reqs[0].args["labels"] == "bug" and reqs[0].args["state"] == "open"
    assert reqs[1].args["page"] == "2"

    data = run_script("github.open-issues", "--limit", "1", "--json", env=env).json()
    assert data["total"] == 2 and [i["number"] for i in data["issues"]] == [30]
    assert data["issues"][0]["labels"] == ["bug", "perf"]
    assert run_script("github.open-issues", "--limit", "1", env=env).stdout.splitlines()[-1] == "…and 1 more"


def test_recent_commits_since_and_branch(httpserver, env):
    fake_recent_commits(httpserver)
    result = run_script("github.recent-commits", "--branch", "release", "--days", "3", "--limit", "2", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"*3 commits on {REPO} (release) in the last 3 days*"
    assert lines[1].startswith(f"• <https://github.com/{REPO}/commit/{'1' * 40}|`1111111`> Fix login redirect — "
                               "@alice, 2026-01-05T12:00:00Z (")
    assert lines[-1] == "…and 1 more"
    req = requests_to(httpserver, f"/repos/{REPO}/commits")[0]
    assert req.args["sha"] == "release"
    since = dt.datetime.fromisoformat(req.args["since"].replace("Z", "+00:00"))
    expected = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    assert abs((since - expected).total_seconds()) < 60

    data = run_script("github.recent-commits", "--json", env=env).json()
    assert data["total"] == 3 and data["commits"][0]["message"] == "Fix login redirect"
    assert data["commits"][1]["author"] == "bob" and data["branch"] is None


def test_failing_runs(httpserver, env):
    fake_failing_runs(httpserver)
    result = run_script("github.failing-runs", "--limit", "3", "--branch", "main", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"*7 failed workflow runs in {REPO} on `main`*"
    assert lines[1].startswith(f"• <https://github.com/{REPO}/actions/runs/101|CI #101> Fix flaky test — `main`, "
                               "push by @alice, 2026-01-05T11:00:05Z (")
    assert lines[-1] == "…and 4 more"
    reqs = requests_to(httpserver, f"/repos/{REPO}/actions/runs")
    assert len(reqs) == 2 and reqs[0].args["status"] == "failure" and reqs[0].args["branch"] == "main"

    data = run_script("github.failing-runs", "--limit", "2", "--json", env=env).json()
    assert data["total"] == 7 and [r["id"] for r in data["runs"]] == [101, 100]
    assert data["runs"][1]["workflow"] == "Deploy" and data["runs"][1]["branch"] == "release"


def test_failing_runs_of_one_workflow(httpserver, env):
    serve_pages(httpserver, f"/repos/{REPO}/actions/workflows/ci.yml/runs", [[workflow_run(5)]], wrap=runs_wrap(1))
    result = run_script("github.failing-runs", "--workflow", "ci.yml", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith(f"*1 failed workflow run in {REPO} of ci.yml*")


def test_releases(httpserver, env):
    fake_releases(httpserver)
    result = run_script("github.releases", "--limit", "3", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"*Releases of {REPO}*"
    assert lines[1].startswith(f"• <https://github.com/{REPO}/releases/tag/v2.1.0|`v2.1.0`> Release v2.1.0 — "
                               "2026-01-03T00:00:00Z (")
    assert lines[2].endswith("· pre-release")
    assert lines[-1] == f"…and more: <https://github.com/{REPO}/releases|all releases>"
    reqs = requests_to(httpserver, f"/repos/{REPO}/releases")
    assert len(reqs) == 2 and reqs[0].args["per_page"] == "3"

    data = run_script("github.releases", "--limit", "10", "--json", env=env).json()
    assert [r["tag"] for r in data["releases"]] == ["v2.1.0", "v2.1.0-rc1", "v2.0.0", "v1.9.0"]
    assert data["more"] is False


def test_repo_stats(httpserver, env):
    fake_repo_stats(httpserver)
    result = run_script("github.repo-stats", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[:3] == [
        f"*<https://github.com/{REPO}|{REPO}>* — The web app",
        "⭐ 1,234 stars · 🍴 56 forks · 👀 12 watchers",
        "Open: 7 issues, 3 pull requests",
    ]
    assert "default branch `main` · Python · MIT · private · 2.0 MiB" in result.stdout
    assert "Last push 2026-01-05T12:00:00Z (" in result.stdout
    search = requests_to(httpserver, "/search/issues")[0]
    assert search.args["q"] == f"repo:{REPO} is:pr is:open"
    data = run_script("github.repo-stats", "--json", env=env).json()
    assert data["open_issues"] == 7 and data["open_pull_requests"] == 3 and data["stars"] == 1234


def test_repo_stats_degrades_when_search_is_rate_limited(httpserver, env):
    httpserver.expect_request(f"/repos/{REPO}").respond_with_json(REPO_INFO)
    httpserver.expect_request("/search/issues").respond_with_json(
        {"message": "API rate limit exceeded for user ID 1."}, status=403, headers={"X-RateLimit-Remaining": "0"})
    result = run_script("github.repo-stats", env=env)
    assert result.code == 0, result.stderr
    assert "Open: 10 issues and pull requests" in result.stdout
    assert "rate limited" in result.stderr and "credentials rejected" not in result.stderr


def test_create_issue_posts_exactly_one_issue(httpserver, env):
    fake_create_issue(httpserver)
    result = run_script("github.create-issue", "--title", "Flaky test", "--body", "It *flakes*.", "--label",
                        "ci, flaky", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == f"Created issue <https://github.com/{REPO}/issues/77|{REPO}#77>: Flaky test [ci]"
    (req,) = [r for r, _ in httpserver.log]
    assert req.method == "POST" and req.path == f"/repos/{REPO}/issues"
    assert json.loads(req.get_data()) == {"title": "Flaky test", "body": "It *flakes*.", "labels": ["ci", "flaky"]}
    assert req.headers["Content-Type"] == "application/json"
    assert_github_headers(req)
    data = run_script("github.create-issue", "--title", "Flaky test", "--json", env=env).json()
    assert data["number"] == 77 and data["url"].endswith("/issues/77")
    assert json.loads(httpserver.log[-1][0].get_data()) == {"title": "Flaky test"}


def test_bad_arguments_exit_2(env):
    assert run_script("github.open-prs", "--repo", "not a repo", env=env).code == 2
    assert run_script("github.create-issue", "--title", "  ", env=env).code == 2
    assert run_script("github.open-issues", "--limit", "0", env=env).code == 2
    result = run_script("github.open-prs", env={k: v for k, v in env.items() if k != "GITHUB_REPO"})
    assert result.code == 2 and "GITHUB_REPO" in result.stderr


# ---- empty results ------------------------------------------------------------------------------------------

EMPTY = [
    ("github.open-prs", [], f"/repos/{REPO}/pulls", [], f"No open pull requests in {REPO}."),
    ("github.review-requests", [], "/search/issues", search_wrap(0)([]), "No pull requests are waiting for your"),
    ("github.open-issues", [], f"/repos/{REPO}/issues", [issue(1, "only a PR", is_pr=True)],
     f"No open issues in {REPO}."),
    ("github.recent-commits", [], f"/repos/{REPO}/commits", [], f"No commits on {REPO} (default branch) in the last"),
    ("github.failing-runs", [], f"/repos/{REPO}/actions/runs", runs_wrap(0)([]), f"No failed workflow runs in {REPO}"),
    ("github.releases", [], f"/repos/{REPO}/releases", [], f"No releases in {REPO}."),
]


@pytest.mark.parametrize(("name", "argv", "path", "body", "expected"), EMPTY, ids=[e[0] for e in EMPTY])
def test_empty_results(httpserver, env, name, argv, path, body, expected):
    httpserver.expect_request(path).respond_with_json(body)
    result = run_script(name, *argv, env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith(expected)


# ---- upstream failures, once per script ---------------------------------------------------------------------

GITHUB = Upstream(
    service="github", secret=TOKEN,
    rejections=[Rejection(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
                          "Bad credentials")],
    rate_limited={"message": "You have exceeded a secondary rate limit."},
    server_error={"message": "Server Error"}, server_error_detail="Server Error")
CASES = [
    Case("github.open-prs", [], "GET", f"/repos/{REPO}/pulls", fake=fake_open_prs),
    Case("github.pr-status", ["--number", str(PR_NUMBER)], "GET", f"/repos/{REPO}/pulls/{PR_NUMBER}",
         fake=fake_pr_status),
    Case("github.review-requests", [], "GET", "/search/issues", fake=fake_review_requests),
    Case("github.open-issues", [], "GET", f"/repos/{REPO}/issues", fake=fake_open_issues),
    Case("github.recent-commits", [], "GET", f"/repos/{REPO}/commits", fake=fake_recent_commits),
    Case("github.failing-runs", [], "GET", f"/repos/{REPO}/actions/runs", fake=fake_failing_runs),
    Case("github.releases", [], "GET", f"/repos/{REPO}/releases", fake=fake_releases),
    Case("github.repo-stats", [], "GET", f"/repos/{REPO}", fake=fake_repo_stats),
    Case("github.create-issue", ["--title", "x"], "POST", f"/repos/{REPO}/issues", fake=fake_create_issue),
]
test_401_credentials_rejected, test_429_is_retried, test_500_names_the_call, test_malformed_json = \
    failure_tests(GITHUB, CASES)


def test_rate_limit_403_is_not_called_a_credentials_problem(httpserver, env):
    httpserver.expect_request(f"/repos/{REPO}/pulls").respond_with_json(
        {"message": "API rate limit exceeded for user ID 1."}, status=403, headers={"X-RateLimit-Remaining": "0"})
    result = run_script("github.open-prs", env=env)
    assert result.code == 4
    assert "rate limited" in result.stderr and "credentials rejected" not in result.stderr


def test_unknown_repo_hint(httpserver, env):
    httpserver.expect_request("/repos/acme/nope/pulls").respond_with_json({"message": "Not Found"}, status=404)
    result = run_script("github.open-prs", "--repo", "acme/nope", env=env)
    assert result.code == 4
    assert "HTTP 404" in result.stderr and "GITHUB_TOKEN" in result.stderr


def test_link_to_another_host_is_not_followed_with_the_token(httpserver, env):
    httpserver.expect_request(f"/repos/{REPO}/pulls").respond_with_json(
        [pull(1, "x", "alice")], headers={"Link": '<https://evil.example/steal?page=2>; rel="next"'})
    result = run_script("github.open-prs", env=env)
    assert result.code == 4
    assert "refusing to follow a next-page link to another host (evil.example)" in result.stderr
