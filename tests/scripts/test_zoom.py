"""zoom.* scripts against a local fake of Zoom's OAuth token endpoint and REST API v2."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from werkzeug import Response

from tests.scripts.harness import run_script
from tests.scripts.upstream import Case, Rejection, Upstream, failure_tests

TOKEN = "eyJzdjoiMDAwMDAxIn0.test-token"
BASIC = "Basic " + base64.b64encode(b"client-id:client-secret").decode()
MEETING = "81234567890"


@pytest.fixture
def env(httpserver):
    httpserver.expect_request("/oauth/token", method="POST").respond_with_json(
        {"access_token": TOKEN, "token_type": "bearer", "expires_in": 3599,
         "scope": "meeting:read:admin cloud_recording:read:admin", "api_url": "https://api.zoom.us"})
    return {"ZOOM_ACCOUNT_ID": "acct-123", "ZOOM_CLIENT_ID": "client-id", "ZOOM_CLIENT_SECRET": "client-secret",
            "ZOOM_OAUTH_URL": httpserver.url_for("/oauth/token"), "ZOOM_API_URL": httpserver.url_for("/v2")}


def pages(by_token):
    """A handler serving next_page_token pages and checking the Bearer token on every API call."""

    def handler(request):
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        return Response(json.dumps(by_token[request.args.get("next_page_token", "")]),
                        content_type="application/json")

    return handler


def api_calls(httpserver):
    return [(req.path, req.args.to_dict()) for req, _ in httpserver.log if req.path != "/oauth/token"]


def meeting(mid, topic, start, duration=30):
    return {"uuid": f"uuid-{mid}==", "id": mid, "host_id": "h1", "topic": topic, "type": 2, "start_time": start,
            "duration": duration, "timezone": "Europe/Berlin", "created_at": "2025-01-01T00:00:00Z",
            "join_url": f"https://us02web.zoom.us/j/{mid}"}


def test_upcoming_meetings_token_exchange_pages_and_order(httpserver, env):
    httpserver.expect_request("/v2/users/me/meetings").respond_with_handler(pages({
        "": {"page_size": 300, "total_records": 3, "next_page_token": "tok2",
             "meetings": [meeting(81111111111, "Retro", "2031-03-02T15:00:00Z", 60),
                          meeting(82222222222, "Standup", "2031-03-01T09:00:00Z", 15)]},
        "tok2": {"page_size": 300, "total_records": 3, "next_page_token": "",
                 "meetings": [meeting(83333333333, "1:1", "2031-03-01T11:00:00Z")]},
    }))
    result = run_script("zoom.upcoming-meetings", "--limit", "2", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*Upcoming Zoom meetings* (3)"
    assert lines[1].startswith("• 2031-03-01T09:00:00Z (in ")
    assert lines[1].endswith(") *Standup* — 15 min (ID `82222222222`) <https://us02web.zoom.us/j/82222222222|join>")
    assert "*1:1* — 30 min (ID `83333333333`)" in lines[2]
    assert lines[3] == "…and 1 more"
    token_req = httpserver.log[0][0]
    assert token_req.path == "/oauth/token" and token_req.method == "POST"
    assert token_req.args.to_dict() == {"grant_type": "account_credentials", "account_id": "acct-123"}
    assert token_req.headers["Authorization"] == BASIC
    assert api_calls(httpserver) == [
        ("/v2/users/me/meetings", {"type": "upcoming", "page_size": "300"}),
        ("/v2/users/me/meetings", {"type": "upcoming", "page_size": "300", "next_page_token": "tok2"}),
    ]
    httpserver.expect_request("/v2/users/ann@acme.com/meetings").respond_with_handler(pages({"": {
        "page_size": 300, "total_records": 3, "next_page_token": "",
        "meetings": [meeting(82222222222, "Standup", "2031-03-01T09:00:00Z", 15)]}}))
    rerun = run_script("zoom.upcoming-meetings", "--json", "--user", "ann@acme.com", env={**env, "ZOOM_USER": "x"})
    assert rerun.code == 0, rerun.stderr
    data = rerun.json()
    assert data["user"] == "ann@acme.com" and data["total"] == 3
    assert data["meetings"][0] == {"id": 82222222222, "uuid": "uuid-82222222222==", "topic": "Standup",
                                   "start_time": "2031-03-01T09:00:00Z", "duration_min": 15,
                                   "timezone": "Europe/Berlin", "type": "scheduled",
                                   "join_url": "https://us02web.zoom.us/j/82222222222"}
    assert api_calls(httpserver)[-1][0] == "/v2/users/ann@acme.com/meetings"


def test_upcoming_meetings_empty(httpserver, env):
    httpserver.expect_request("/v2/users/me/meetings").respond_with_json(
        {"page_size": 300, "total_records": 0, "next_page_token": "", "meetings": []})
    result = run_script("zoom.upcoming-meetings", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == ["*Upcoming Zoom meetings* (0)", "_no upcoming meetings_"]


def recording(mid, topic, start, types, base=""):
    files = [{"id": f"f{i}", "meeting_id": f"uuid-{mid}==", "recording_start": start, "recording_end": start,
              "file_type": t, "file_extension": "VTT" if t in ("TRANSCRIPT", "CC") else t, "file_size": 1000,
              "download_url": f"{base}/rec/download/{mid}-{t.lower()}", "status": "completed",
              "recording_type": "audio_transcript" if t == "TRANSCRIPT" else "shared_screen_with_speaker_view"}
             for i, t in enumerate(types)]
    return {"uuid": f"uuid-{mid}==", "id": mid, "account_id": "acct-123", "host_id": "h1", "topic": topic,
            "type": 2, "start_time": start, "timezone": "UTC", "duration": 45, "total_size": 157286400,
            "recording_count": len(files), "share_url": f"https://zoom.us/rec/share/{mid}",
            "recording_files": files}


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def script_today(httpserver, before: dt.date) -> dt.date:
    """The UTC date the script ran on (the `to` of its first window): the one taken before the run,
    or the next one if midnight passed meanwhile — not a date taken once the run is over."""
    today = dt.date.fromisoformat(api_calls(httpserver)[0][1]["to"])
    assert before <= today <= utc_today()
    return today


def test_recordings_window_pages_and_transcript_flag(httpserver, env):
    httpserver.expect_request("/v2/users/me/recordings").respond_with_handler(pages({
        "": {"from": "x", "to": "y", "page_count": 2, "page_size": 300, "total_records": 2,
             "next_page_token": "p2", "meetings": [recording(81111111111, "Design review", "2026-01-05T10:00:00Z",
                                                             ["MP4", "M4A", "TRANSCRIPT"])]},
        "p2": {"page_size": 300, "total_records": 2, "next_page_token": "",
               "meetings": [recording(82222222222, "All hands", "2026-01-06T16:00:00Z", ["MP4"])]},
    }))
    before = utc_today()
    result = run_script("zoom.recordings", "--days", "7", env=env)
    assert result.code == 0, result.stderr
    today = script_today(httpserver, before)
    lines = result.stdout.splitlines()
    assert lines[0] == "*Zoom recordings, last 7 days* (2)"
    assert lines[1].startswith("• 2026-01-06T16:00:00Z (")
    assert lines[1].endswith("*All hands* — 45 min (ID `82222222222`) [MP4, 150.0 MiB] "
                             "<https://zoom.us/rec/share/82222222222|open>")
    assert "*Design review* — 45 min (ID `81111111111`) [M4A, MP4, TRANSCRIPT, 150.0 MiB] · transcript ✓" in lines[2]
    window = {"from": (today - dt.timedelta(days=7)).isoformat(), "to": today.isoformat(), "page_size": "300"}
    assert api_calls(httpserver) == [("/v2/users/me/recordings", window),
                                     ("/v2/users/me/recordings", {**window, "next_page_token": "p2"})]
    data = run_script("zoom.recordings", "--json", "--limit", "1", env=env).json()
    assert data["total"] == 2
    assert data["recordings"] == [{"id": 82222222222, "uuid": "uuid-82222222222==", "topic": "All hands",
                                   "start_time": "2026-01-06T16:00:00Z", "duration_min": 45,
                                   "total_size": 157286400, "file_types": ["MP4"], "has_transcript": False,
                                   "share_url": "https://zoom.us/rec/share/82222222222"}]


def test_recordings_split_into_month_windows_and_empty(httpserver, env):
    httpserver.expect_request("/v2/users/me/recordings").respond_with_json(
        {"page_size": 300, "total_records": 0, "next_page_token": "", "meetings": []})
    before = utc_today()
    result = run_script("zoom.recordings", "--days", "45", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == ["*Zoom recordings, last 45 days* (0)", "_no recordings_"]
    today = script_today(httpserver, before)
    day = dt.timedelta(days=1)
    assert [(q["from"], q["to"]) for _, q in api_calls(httpserver)] == [
        ((today - 30 * day).isoformat(), today.isoformat()),
        ((today - 45 * day).isoformat(), (today - 31 * day).isoformat()),
    ]


VTT = """WEBVTT

1
00:00:01.290 --> 00:00:04.230
Ann Lee: Good morning everyone.

2
00:00:04.500 --> 00:00:07.000
Ann Lee: Let's start with the deploy.

3
00:00:07.500 --> 00:00:11.000
Bo Chen: It went out at nine,
no errors so far.
"""


def serve_recording(httpserver, types, status="completed", path=f"/v2/meetings/{MEETING}/recordings"):
    body = recording(int(MEETING), "Weekly sync", "2026-01-05T10:00:00Z", types, base=httpserver.url_for(""))
    for f in body["recording_files"]:
        f["status"] = status
    httpserver.expect_request(path).respond_with_handler(pages({"": body}))


def test_download_transcript_fetches_vtt_with_token(httpserver, env):
    serve_recording(httpserver, ["MP4", "TRANSCRIPT", "CHAT"])
    # Like Zoom: the download URL (authorised with the OAuth token) redirects to a signed file URL.
    httpserver.expect_request(f"/rec/download/{MEETING}-transcript", headers={"Authorization": f"Bearer {TOKEN}"}
                              ).respond_with_data("", status=302, headers={"Location": "/ssrweb/f.vtt?sig=abc"})
    httpserver.expect_request("/ssrweb/f.vtt", query_string="sig=abc").respond_with_data(VTT, content_type="text/vtt")
    result = run_script("zoom.download-transcript", "--meeting", "812 3456 7890", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("*Weekly sync* (2026-01-05T10:00:00Z (")
    assert lines[0].endswith(", ID `81234567890`) — speakers: Ann Lee, Bo Chen")
    assert lines[1:] == ["```", "Ann Lee: Good morning everyone. Let's start with the deploy.",
                         "Bo Chen: It went out at nine, no errors so far.", "```"]
    assert [p for p, _ in api_calls(httpserver)] == [f"/v2/meetings/{MEETING}/recordings",
                                                    f"/rec/download/{MEETING}-transcript", "/ssrweb/f.vtt"]

    data = run_script("zoom.download-transcript", "--meeting", MEETING, "--max-chars", "100", "--json",
                      env=env).json()
    assert data["found"] is True and data["kind"] == "TRANSCRIPT" and data["truncated"] is True
    assert data["chars"] == len("Ann Lee: Good morning everyone. Let's start with the deploy.\n"
                                "Bo Chen: It went out at nine, no errors so far.")
    assert data["text"].startswith("Ann Lee: Good morning everyone. Let's start with the deploy.\nBo Chen: It")
    assert data["text"].endswith(" …") and len(data["text"]) <= 102


def test_download_transcript_none_or_processing(httpserver, env):
    serve_recording(httpserver, ["MP4", "M4A"])
    result = run_script("zoom.download-transcript", "--meeting", MEETING, env=env)
    assert result.code == 0, result.stderr
    assert "No transcript for this recording (files: M4A, MP4)" in result.stdout
    httpserver.clear_all_handlers()
    httpserver.expect_request("/oauth/token").respond_with_json({"access_token": TOKEN})
    serve_recording(httpserver, ["TRANSCRIPT"], status="processing")
    data = run_script("zoom.download-transcript", "--meeting", MEETING, "--json", env=env).json()
    assert data["found"] is False and data["status"] == "processing"


def test_download_transcript_double_encodes_uuid(httpserver, env):
    # Zoom: a UUID starting with "/" or containing "//" must be URL-encoded twice.
    serve_recording(httpserver, ["MP4"], path="/v2/meetings/%2Fab%2F%2Fcd%3D%3D/recordings")
    result = run_script("zoom.download-transcript", "--meeting", "/ab//cd==", env=env)
    assert result.code == 0, result.stderr
    assert run_script("zoom.download-transcript", "--meeting", "not a meeting!", env=env).code == 2


def participant(pid, name, email, join, seconds):
    return {"id": pid, "name": name, "user_email": email, "join_time": join, "leave_time": join,
            "duration": seconds, "registrant_id": "", "failover": False, "status": "in_meeting"}


PAST = {"uuid": "uuid-81234567890==", "id": int(MEETING), "host_id": "h1", "type": 2, "topic": "Incident review",
        "user_name": "Ann Lee", "user_email": "ann@acme.com", "start_time": "2026-01-05T10:00:00Z",
        "end_time": "2026-01-05T10:50:00Z", "duration": 50, "total_minutes": 120, "participants_count": 4}


def test_participants_pages_and_merges_rejoins(httpserver, env):
    httpserver.expect_request(f"/v2/past_meetings/{MEETING}").respond_with_handler(pages({"": PAST}))
    httpserver.expect_request(f"/v2/past_meetings/{MEETING}/participants").respond_with_handler(pages({
        "": {"page_count": 2, "page_size": 300, "total_records": 4, "next_page_token": "n2",
             "participants": [participant("a", "Ann Lee", "ann@acme.com", "2026-01-05T10:00:00Z", 1800),
                              participant("b", "Bo Chen", "bo@acme.com", "2026-01-05T10:01:00Z", 2940)]},
        "n2": {"page_size": 300, "total_records": 4, "next_page_token": "",
               "participants": [participant("a", "Ann Lee", "ANN@acme.com", "2026-01-05T10:35:00Z", 900),
                                participant("", "iPhone", "", "2026-01-05T10:05:00Z", 600)]},
    }))
    result = run_script("zoom.participants", "--meeting", MEETING, "--limit", "2", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("*Incident review* (2026-01-05T10:00:00Z (")
    assert lines[0].endswith(", 50 min) — 3 people")
    assert lines[1:] == ["• Bo Chen (bo@acme.com) — 49 min", "• Ann Lee (ann@acme.com) — 45 min (joined 2×)",
                         "…and 1 more"]
    assert api_calls(httpserver) == [
        (f"/v2/past_meetings/{MEETING}", {}),
        (f"/v2/past_meetings/{MEETING}/participants", {"page_size": "300"}),
        (f"/v2/past_meetings/{MEETING}/participants", {"page_size": "300", "next_page_token": "n2"}),
    ]
    data = run_script("zoom.participants", "--meeting", MEETING, "--json", env=env).json()
    assert data["total"] == 3 and data["meeting"]["topic"] == "Incident review"
    assert data["participants"][1] == {"name": "Ann Lee", "email": "ann@acme.com", "seconds": 2700, "joins": 2,
                                       "first_join": "2026-01-05T10:00:00Z"}


def test_participants_empty(httpserver, env):
    httpserver.expect_request(f"/v2/past_meetings/{MEETING}").respond_with_json(PAST)
    httpserver.expect_request(f"/v2/past_meetings/{MEETING}/participants").respond_with_json(
        {"page_size": 300, "total_records": 0, "next_page_token": "", "participants": []})
    result = run_script("zoom.participants", "--meeting", MEETING, env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["_no participants_"]


@pytest.mark.parametrize(("status", "body"), [
    (400, {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}),
    (401, {"reason": "Bad credentials", "error": "invalid_client"}),
], ids=["400-invalid_client", "401"])
def test_token_exchange_rejected(httpserver, status, body):
    httpserver.expect_request("/oauth/token").respond_with_json(body, status=status)
    env = {"ZOOM_ACCOUNT_ID": "a", "ZOOM_CLIENT_ID": "b", "ZOOM_CLIENT_SECRET": "c",
           "ZOOM_OAUTH_URL": httpserver.url_for("/oauth/token"), "ZOOM_API_URL": httpserver.url_for("/v2")}
    result = run_script("zoom.upcoming-meetings", env=env)
    assert result.code == 4
    assert "POST /oauth/token: credentials rejected" in result.stderr
    assert len(httpserver.log) == 1


# --- error handling, once for every script (the token exchange works; the API call fails) ---------

ZOOM = Upstream(
    service="zoom", secret=TOKEN,
    rejections=[Rejection(401, {"code": 124, "message": "Invalid access token."}, "Invalid access token.")],
    rate_limited={"code": 429, "message": "You have reached the maximum per-second rate limit for this API."},
    server_error={"code": 500, "message": "Internal error"}, server_error_detail="Internal error")
EMPTY_PAGE = {"page_size": 300, "total_records": 0, "next_page_token": "", "meetings": []}


def _no_participants(httpserver):
    httpserver.expect_request(f"/v2/past_meetings/{MEETING}/participants").respond_with_json(
        {"page_size": 300, "total_records": 0, "next_page_token": "", "participants": []})


CASES = [
    Case("zoom.upcoming-meetings", [], "GET", "/v2/users/me/meetings", ok=EMPTY_PAGE),
    Case("zoom.recordings", [], "GET", "/v2/users/me/recordings", ok=EMPTY_PAGE),
    Case("zoom.download-transcript", ["--meeting", MEETING], "GET", f"/v2/meetings/{MEETING}/recordings",
         ok=recording(int(MEETING), "Sync", "2026-01-05T10:00:00Z", ["MP4"])),
    Case("zoom.participants", ["--meeting", MEETING], "GET", f"/v2/past_meetings/{MEETING}", ok=PAST,
         fake=_no_participants),
]
test_401_credentials_rejected, test_429_is_retried, test_500_names_the_call, test_malformed_json = \
    failure_tests(ZOOM, CASES)
