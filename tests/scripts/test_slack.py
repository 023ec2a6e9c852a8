"""slack.* scripts against a local fake of the Slack Web API (real method paths and payload shapes)."""

from __future__ import annotations

import json

import pytest
from werkzeug import Response

from tests.scripts.harness import run_script
from tests.scripts.upstream import Case, Rejection, Upstream, failure_tests

TOKEN = "xoxb-test-token"


@pytest.fixture
def env(httpserver):
    return {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": httpserver.url_for("")}


def ok(**fields):
    return {"ok": True, **fields}


def paged(pages):
    """A handler serving `pages` (cursor → body) and checking the Bearer token on every call."""

    def handler(request):
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        return Response(json.dumps(pages[request.args.get("cursor", "")]), content_type="application/json")

    return handler


def channel(cid, name, members, private=False, topic=""):
    return {"id": cid, "name": name, "is_channel": True, "is_private": private, "is_archived": False,
            "is_member": True, "num_members": members, "created": 1700000000,
            "topic": {"value": topic, "creator": "U1", "last_set": 0}, "purpose": {"value": "", "creator": "",
                                                                                   "last_set": 0}}


CHANNEL_PAGES = {
    "": ok(channels=[channel("C01GENRL1", "general", 120, topic="Company-wide"), channel("C02DEPLY2", "deploys", 15)],
           response_metadata={"next_cursor": "dGVhbTpDMDM="}),
    "dGVhbTpDMDM=": ok(channels=[channel("G03INCDT3", "incidents", 40, private=True)],
                       response_metadata={"next_cursor": ""}),
}


def test_channels_follows_cursor_and_sorts_by_members(httpserver, env):
    httpserver.expect_request("/conversations.list", method="GET").respond_with_handler(paged(CHANNEL_PAGES))
    result = run_script("slack.channels", "--limit", "2", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*3 Slack channels*"
    assert lines[1] == "• #general (`C01GENRL1`) — 120 members · Company-wide"
    assert lines[2] == "• 🔒 #incidents (`G03INCDT3`) — 40 members"
    assert lines[3] == "…and 1 more"
    queries = [req.args.to_dict() for req, _ in httpserver.log]
    assert queries == [
        {"types": "public_channel,private_channel", "exclude_archived": "true", "limit": "200"},
        {"types": "public_channel,private_channel", "exclude_archived": "true", "limit": "200",
         "cursor": "dGVhbTpDMDM="},
    ]
    data = run_script("slack.channels", "--json", "--query", "#dep", env=env).json()
    assert data["total"] == 1
    assert data["channels"] == [{"id": "C02DEPLY2", "name": "deploys", "private": False, "archived": False,
                                 "members": 15, "is_member": True, "topic": "", "purpose": ""}]


def test_channels_empty(httpserver, env):
    httpserver.expect_request("/conversations.list").respond_with_json(
        ok(channels=[], response_metadata={"next_cursor": ""}))
    result = run_script("slack.channels", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == ["*0 Slack channels*", "_no channels_"]


def message(ts, text, user="U1", **extra):
    return {"type": "message", "user": user, "text": text, "ts": ts, **extra}


def test_channel_history_resolves_name_and_pages(httpserver, env):
    httpserver.expect_request("/conversations.list").respond_with_handler(paged(CHANNEL_PAGES))
    history = {
        "": ok(messages=[message("1767225600.000200", "<!here> deploy 42 done\nall green, thanks <@U2>",
                                 reply_count=2, user_profile={"display_name": "ada", "real_name": "Ada L"}),
                         {"type": "message", "subtype": "bot_message", "bot_id": "B1", "username": "CI",
                          "text": "build passed", "ts": "1767225500.000100"}],
               has_more=True, response_metadata={"next_cursor": "bmV4dA=="}),
        "bmV4dA==": ok(messages=[message("1767225400.000050", "starting deploy 42", user="U2")],
                       has_more=True, response_metadata={"next_cursor": "bW9yZQ=="}),
    }
    httpserver.expect_request("/conversations.history").respond_with_handler(paged(history))
    httpserver.expect_request("/users.info", query_string={"user": "U2"}).respond_with_json(
        ok(user={"id": "U2", "name": "grace", "profile": {"display_name": "", "real_name": "Grace H"}}))
    result = run_script("slack.channel-history", "--channel", "#Incidents", "--limit", "3", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "*Latest 3 messages in #incidents*"
    assert lines[1].startswith("• 2026-01-01T00:00:00Z (")
    # Shown again by the bot, nobody is notified again: no <!here>, no <@U…> mentions.
    assert lines[1].endswith(" @ada: @here deploy 42 done all green, thanks @Grace H (↳ 2 replies)")
    assert lines[2].endswith(" CI: build passed")
    assert lines[3].endswith(" @Grace H: starting deploy 42")
    assert lines[4] == "_older messages not shown_"
    assert "<@" not in result.stdout and "<!" not in result.stdout
    calls = [(req.path, req.args.to_dict()) for req, _ in httpserver.log]
    # The name was found on the second conversations.list page; history asked for what was still missing;
    # only the author without a user_profile was looked up.
    assert [c[0] for c in calls] == ["/conversations.list", "/conversations.list",
                                     "/conversations.history", "/conversations.history", "/users.info"]
    assert calls[2][1] == {"channel": "G03INCDT3", "limit": "3"}
    assert calls[3][1] == {"channel": "G03INCDT3", "limit": "1", "cursor": "bmV4dA=="}

    httpserver.clear_log()
    data = run_script("slack.channel-history", "--channel", "G03INCDT3", "--limit", "2", "--json", env=env).json()
    assert [req.path for req, _ in httpserver.log] == ["/conversations.history"]
    assert data["channel"] == {"id": "G03INCDT3", "name": None}
    assert data["has_more"] is True
    assert data["messages"][0] == {"ts": "1767225600.000200", "time": "2026-01-01T00:00:00Z", "user": "U1",
                                   "author": "@ada", "text": "<!here> deploy 42 done\nall green, thanks <@U2>",
                                   "subtype": None, "reply_count": 2}


def test_channel_history_author_that_cannot_be_looked_up_keeps_its_id(httpserver, env):
    httpserver.expect_request("/conversations.history").respond_with_json(
        ok(messages=[message("1767225600.000200", "hi <!subteam^S1|@oncall> and <!channel>", user="U9")],
           has_more=False))
    httpserver.expect_request("/users.info").respond_with_json({"ok": False, "error": "missing_scope",
                                                                "needed": "users:read"})
    result = run_script("slack.channel-history", "--channel", "C01GENRL1", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[1].endswith(" @U9: hi @oncall and @channel")


def test_channel_history_empty_unknown_and_not_in_channel(httpserver, env):
    httpserver.expect_request("/conversations.list").respond_with_handler(paged(CHANNEL_PAGES))
    httpserver.expect_request("/conversations.history", query_string={"channel": "C01GENRL1", "limit": "10"}
                              ).respond_with_json(ok(messages=[], has_more=False))
    httpserver.expect_request("/conversations.history", query_string={"channel": "C02DEPLY2", "limit": "10"}
                              ).respond_with_json({"ok": False, "error": "not_in_channel"})
    result = run_script("slack.channel-history", "--channel", "general", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == ["*Latest 0 messages in #general*", "_no messages_"]

    missing = run_script("slack.channel-history", "--channel", "#nope", env=env)
    assert missing.code == 2
    assert "no channel named '#nope'" in missing.stderr

    outside = run_script("slack.channel-history", "--channel", "deploys", env=env)
    assert outside.code == 4
    assert "GET /conversations.history: not_in_channel" in outside.stderr
    assert "/invite" in outside.stderr


USER = {"id": "U07ABC", "team_id": "T1", "name": "jane", "deleted": False, "real_name": "Jane Doe",
        "tz": "Europe/Berlin", "is_admin": True, "is_bot": False,
        "profile": {"real_name": "Jane Doe", "display_name": "janed", "title": "SRE", "email": "jane@acme.com",
                    "status_text": "on call", "status_emoji": ":pager:"}}


def test_user_lookup_found_and_not_found(httpserver, env):
    httpserver.expect_request("/users.lookupByEmail", query_string={"email": "jane@acme.com"},
                              headers={"Authorization": f"Bearer {TOKEN}"}).respond_with_json(ok(user=USER))
    httpserver.expect_request("/users.lookupByEmail", query_string={"email": "ghost@acme.com"}
                              ).respond_with_json({"ok": False, "error": "users_not_found"})
    result = run_script("slack.user-lookup", "--email", "<mailto:jane@acme.com|jane@acme.com>", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "*Jane Doe* (@janed) — `U07ABC`", "• title: SRE", "• email: jane@acme.com",
        "• time zone: Europe/Berlin", "• status: :pager: on call", "• admin"]
    data = run_script("slack.user-lookup", "--email", "jane@acme.com", "--json", env=env).json()
    assert data["found"] is True
    assert data["user"]["id"] == "U07ABC" and data["user"]["tz"] == "Europe/Berlin"

    none = run_script("slack.user-lookup", "--email", "ghost@acme.com", env=env)
    assert none.code == 0, none.stderr
    assert none.stdout.strip() == "No Slack user with email ghost@acme.com."
    assert run_script("slack.user-lookup", "--email", "not-an-email", env=env).code == 2


def test_post_message_sends_one_json_post(httpserver, env):
    httpserver.expect_request("/chat.postMessage", method="POST").respond_with_json(
        ok(channel="C02DEPLY2", ts="1767225600.000300",
           message={"type": "message", "text": "deploy 43 done :rocket:", "ts": "1767225600.000300"}))
    result = run_script("slack.post-message", "--channel", "#deploys", "--text", "deploy 43 done :rocket:",
                        env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Posted to <#C02DEPLY2> at 2026-01-01T00:00:00Z (ts `1767225600.000300`):", "> deploy 43 done :rocket:"]
    (request, _), = httpserver.log
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.get_json() == {"channel": "#deploys", "text": "deploy 43 done :rocket:"}

    data = run_script("slack.post-message", "--channel", "C02DEPLY2", "--text", "hi", "--thread", "1767225600.000100",
                      "--json", env=env).json()
    assert httpserver.log[-1][0].get_json() == {"channel": "C02DEPLY2", "text": "hi", "thread_ts": "1767225600.000100"}
    assert data["posted"]["channel"] == "C02DEPLY2" and data["posted"]["ts"] == "1767225600.000300"


def test_post_message_echo_does_not_ping_twice(httpserver, env):
    httpserver.expect_request("/chat.postMessage", method="POST").respond_with_json(
        ok(channel="C02DEPLY2", ts="1767225600.000300", message={"text": "<!channel> deploy by <@U07ABC|jane>"}))
    result = run_script("slack.post-message", "--channel", "C02DEPLY2", "--text", "<!channel> deploy by <@U07ABC|jane>",
                        env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[1] == "> @channel deploy by @jane"


def test_post_message_channel_not_found(httpserver, env):
    httpserver.expect_request("/chat.postMessage").respond_with_json({"ok": False, "error": "channel_not_found"})
    result = run_script("slack.post-message", "--channel", "#nope", "--text", "hi", env=env)
    assert result.code == 4
    assert "POST /chat.postMessage: channel_not_found" in result.stderr
    assert len(httpserver.log) == 1  # a write is never retried


# --- error handling, once for every script -------------------------------------------------------

SLACK = Upstream(
    service="slack", secret=TOKEN,
    # Slack says it with HTTP 200 and ok: false; a 401 is rarer but must read the same.
    rejections=[Rejection(200, {"ok": False, "error": "invalid_auth"}, "invalid_auth", id="invalid_auth"),
                Rejection(200, {"ok": False, "error": "token_revoked"}, "token_revoked", id="token_revoked"),
                Rejection(401, {"ok": False, "error": "not_authed"}, "not_authed", id="http401")],
    rate_limited={"ok": False, "error": "ratelimited"},
    server_error="upstream broke", server_error_detail="upstream broke")
CASES = [
    Case("slack.channels", [], "GET", "/conversations.list",
         ok=ok(channels=[], response_metadata={"next_cursor": ""})),
    Case("slack.channel-history", ["--channel", "C01GENRL1"], "GET", "/conversations.history",
         ok=ok(messages=[], has_more=False)),
    Case("slack.user-lookup", ["--email", "jane@acme.com"], "GET", "/users.lookupByEmail", ok=ok(user=USER)),
    Case("slack.post-message", ["--channel", "C01GENRL1", "--text", "hi"], "POST", "/chat.postMessage",
         ok=ok(channel="C01GENRL1", ts="1767225600.000300", message={"text": "hi"})),
]
test_401_credentials_rejected, test_429_is_retried, test_500_names_the_call, test_malformed_json = \
    failure_tests(SLACK, CASES)
