"""Scripts against the vendors' own example payloads (issue 11, item 10), kept verbatim in
tests/scripts/official/*.json: Atlassian's Jira Cloud v3 'Get issue' example (where `fields.comment` is a
list, `updated` a number and summary/status are absent), Zoom's Meetings API examples (whose single page
still carries a next_page_token) and PostgREST/Supabase Auth examples (a 206 with Content-Range)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
from werkzeug import Response

from tests.scripts.harness import run_script

OFFICIAL = Path(__file__).parent / "official"


def load(name: str) -> dict:
    data = json.loads((OFFICIAL / name).read_text())
    data.pop("_source")
    return data


# -- Jira Cloud REST v3 -----------------------------------------------------------------------------

@pytest.fixture
def jira_env(httpserver):
    return {"JIRA_BASE_URL": "https://your-domain.atlassian.net", "JIRA_API_URL": httpserver.url_for(""),
            "JIRA_EMAIL": "bot@acme.io", "JIRA_API_TOKEN": "jira-token"}


def test_jira_issue_reads_atlassians_get_issue_example(httpserver, jira_env):
    httpserver.expect_request("/rest/api/3/issue/ED-1").respond_with_json(load("jira_get_issue.json"))
    result = run_script("jira.issue", "--key", "ED-1", env=jira_env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*<https://your-domain.atlassian.net/browse/ED-1|ED-1>* (no summary)"
    assert lines[1] == "Issue · _?_ · priority —"
    assert lines[2] == "Assignee: unassigned · Reporter: —"
    assert lines[3].startswith("Created — · updated ")
    assert "1 comments" in lines[4] and lines[-1] == "> Main order flow broken"
    data = run_script("jira.issue", "--key", "ED-1", "--json", env=jira_env).json()
    assert data["comments"] == 1 and data["description"] == "Main order flow broken"
    assert data["labels"] == [] and data["status"] is None


@pytest.mark.parametrize("comment", [{"comments": [], "total": 3, "maxResults": 0, "startAt": 0}, None, [], "x"])
def test_jira_issue_comment_field_in_every_shape(httpserver, jira_env, comment):
    issue = load("jira_get_issue.json")
    issue["fields"].update(comment=comment, summary="Fix login", labels=None, reporter=None, resolution=None)
    httpserver.expect_request("/rest/api/3/issue/ED-1").respond_with_json(issue)
    data = run_script("jira.issue", "--key", "ED-1", "--json", env=jira_env).json()
    assert data["comments"] == (3 if isinstance(comment, dict) else 0) and data["labels"] == []


# -- Zoom -------------------------------------------------------------------------------------------

ZOOM = load("zoom.json")
TOKEN = "zoom-oauth-token"


@pytest.fixture
def zoom_env(httpserver):
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json(
        {"access_token": TOKEN, "token_type": "bearer", "expires_in": 3599, "scope": "meeting:read:admin"})
    return {"ZOOM_ACCOUNT_ID": "acct", "ZOOM_CLIENT_ID": "id", "ZOOM_CLIENT_SECRET": "secret",
            "ZOOM_OAUTH_URL": httpserver.url_for("/oauth/token"), "ZOOM_API_URL": httpserver.url_for("/v2")}


def zoom_pages(first: dict, key: str):
    """The example is the first page; its next_page_token then gets Zoom's last page (token "")."""
    last = {**{k: v for k, v in first.items() if k != key}, key: [], "next_page_token": ""}

    def handler(request):
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        page = last if request.args.get("next_page_token") == first["next_page_token"] else first
        return Response(json.dumps(page), content_type="application/json")
    return handler


def test_zoom_upcoming_meetings_on_the_list_meetings_example(httpserver, zoom_env):
    httpserver.expect_request("/v2/users/me/meetings").respond_with_handler(zoom_pages(ZOOM["list_meetings"],
                                                                                        "meetings"))
    result = run_script("zoom.upcoming-meetings", env=zoom_env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*Upcoming Zoom meetings* (20)"
    assert "*My Meeting* — 60 min (ID `97763643886`) <https://example.com/j/11111|join>" in lines[1]
    assert len(lines) == 3 and "more" in lines[2]       # total_records 20, one shown


def test_zoom_participants_on_the_past_meeting_examples(httpserver, zoom_env):
    mid = ZOOM["past_meeting"]["id"]
    httpserver.expect_request(f"/v2/past_meetings/{mid}").respond_with_json(ZOOM["past_meeting"])
    httpserver.expect_request(f"/v2/past_meetings/{mid}/participants").respond_with_handler(
        zoom_pages(ZOOM["past_participants"], "participants"))
    result = run_script("zoom.participants", "--meeting", str(mid), env=zoom_env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("*My Meeting* (2022-03-01T09:04:00Z (") and lines[0].endswith(", 2 min) — 1 people")
    assert lines[1] == "• Jill Chill (jchill@example.com) — 4 min"


def test_zoom_download_transcript_on_the_recordings_example(httpserver, zoom_env):
    rec = ZOOM["meeting_recordings"]
    httpserver.expect_request(f"/v2/meetings/{rec['id']}/recordings").respond_with_json(rec)
    result = run_script("zoom.download-transcript", "--meeting", str(rec["id"]), env=zoom_env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith("No transcript for this recording (files: MP4).")
    with_transcript = copy.deepcopy(rec)
    with_transcript["recording_files"].append({**rec["recording_files"][0], "file_type": "TRANSCRIPT",
                                               "file_extension": "VTT", "recording_type": "audio_transcript",
                                               "download_url": httpserver.url_for("/rec/download/t.vtt")})
    httpserver.clear()
    zoom_env = {**zoom_env}
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json({"access_token": TOKEN})
    httpserver.expect_request(f"/v2/meetings/{rec['id']}/recordings").respond_with_json(with_transcript)
    httpserver.expect_request("/rec/download/t.vtt").respond_with_data(
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:03.000\nJill Chill: Hello there.\n", content_type="text/vtt")
    result = run_script("zoom.download-transcript", "--meeting", str(rec["id"]), env=zoom_env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["```", "Jill Chill: Hello there.", "```"]


def test_zoom_recordings_on_the_list_recordings_example(httpserver, zoom_env):
    httpserver.expect_request("/v2/users/me/recordings").respond_with_handler(
        zoom_pages(ZOOM["list_recordings"], "meetings"))
    data = run_script("zoom.recordings", "--days", "1", "--json", env=zoom_env).json()
    [row] = data["recordings"]
    assert (row["id"], row["topic"], row["file_types"], row["has_transcript"]) == (
        6840331990, "My Personal Meeting", ["MP4"], False)
    result = run_script("zoom.recordings", "--days", "1", env=zoom_env)
    assert result.code == 0 and "*My Personal Meeting* — 20 min (ID `6840331990`) [MP4, 22 B]" in result.stdout


# -- Supabase: PostgREST and Auth -------------------------------------------------------------------

SUPABASE = load("supabase.json")
TODOS = [{"id": 1, "done": False, "task": "finish tutorial 0", "due": None},   # PostgREST tutorial 0
         {"id": 2, "done": False, "task": "pat self on back", "due": None}]


@pytest.fixture
def sb_env(httpserver):
    return {"SUPABASE_URL": "https://ignored.supabase.co", "SUPABASE_API_URL": httpserver.url_for(""),
            "SUPABASE_SERVICE_KEY": "service-role-key"}


def test_row_count_on_postgrest_exact_count_206(httpserver, sb_env):
    httpserver.expect_request("/rest/v1/bigtable", method="HEAD").respond_with_data(
        "", status=206, headers=SUPABASE["exact_count_headers"])
    result = run_script("supabase.row-count", "--table", "bigtable", env=sb_env)
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "*bigtable*: 3,573 rows"
    httpserver.clear()
    httpserver.expect_request("/rest/v1/bigtable", method="HEAD").respond_with_data(
        "", headers=SUPABASE["empty_count_headers"])
    assert run_script("supabase.row-count", "--table", "bigtable", env=sb_env).stdout.strip() == "*bigtable*: 0 rows"


def test_table_rows_on_the_postgrest_tutorial_rows(httpserver, sb_env):
    httpserver.expect_request("/rest/v1/todos").respond_with_json(
        TODOS, status=206, headers={"Content-Range": "0-1/2", "Range-Unit": "items"})
    result = run_script("supabase.table-rows", "--table", "todos", env=sb_env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*todos*: 2 rows"
    assert lines[1].startswith("• id=1, done=") and "task=finish tutorial 0" in lines[1]


def test_health_on_the_auth_health_example(httpserver, sb_env):
    httpserver.expect_request("/rest/v1/").respond_with_json({"swagger": "2.0", "info": {"title": "PostgREST API"}})
    httpserver.expect_request("/auth/v1/health").respond_with_json(SUPABASE["auth_health"])
    result = run_script("supabase.health", env=sb_env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "Supabase: ✅ healthy" and "v2.151.0" in result.stdout


def test_recent_signups_on_the_list_users_example(httpserver, sb_env):
    body = copy.deepcopy(SUPABASE["list_users"])
    recent = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)).isoformat().replace("+00:00", "Z")
    for user in body["users"]:
        user["created_at"] = recent          # the example's 2024 dates, moved into the window
    httpserver.expect_request("/auth/v1/admin/users").respond_with_json(body)
    result = run_script("supabase.recent-signups", "--days", "7", env=sb_env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("*3 signups* in the last 7d") and lines[0].endswith("— 2 confirmed")
    assert lines[1].startswith("• example@email.com (email) — ")
    assert lines[2].startswith("• 15555550100 (phone) — ")
    assert lines[3].startswith("• 44444444-4444-4444-4444-444444444444 (unknown) — ") and "_unconfirmed_" in lines[3]
