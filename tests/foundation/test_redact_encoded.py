"""Encoded credentials: an upstream echoing the Authorization header (base64 of user:token), with or
without `Basic `, and URL-encoded secrets, never reach a reply or the ledger."""

from __future__ import annotations

import base64
import json
import os

import pytest
from werkzeug import Response

from bot.config import PROJECT_ROOT, load_settings
from bot.pipeline import OpsBot
from bot.redact import REDACTED, Redactor
from bot.request import Incoming

EMAIL, TOKEN = "bot@acme.io", "ATATT3xFfGF0-jira-token-9"
B64 = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()


def _dump(bot: OpsBot) -> str:
    return json.dumps({t: list(bot.ledger.db[t].rows) for t in ("requests", "decisions", "script_runs")})


@pytest.mark.parametrize("status", [401, 500])
@pytest.mark.parametrize("shape", ["header", "bare", "json"])
def test_jira_echoing_its_authorization_header_leaks_nothing(httpserver, tmp_path, status, shape):
    def echo(request):
        auth = request.headers.get("Authorization", "")
        body = {"header": f"bad request, you sent Authorization: {auth}",
                "bare": f"credentials {auth.removeprefix('Basic ')} rejected",
                "json": json.dumps({"errorMessages": [f"token {auth.removeprefix('Basic ')} is not valid"]})}[shape]
        return Response(body, status=status, content_type="text/plain")

    httpserver.expect_request("/rest/api/3/search/jql").respond_with_handler(echo)
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "JIRA_BASE_URL": "https://acme.atlassian.net",
               "JIRA_API_URL": httpserver.url_for(""), "JIRA_EMAIL": EMAIL, "JIRA_API_TOKEN": TOKEN,
               "OPSBOT_HTTP_RETRIES": "0", "OPSBOT_RETRY_BASE_S": "0.01"}
    settings = load_settings(bot_home=tmp_path / "home", bot_registry=PROJECT_ROOT / "registry")
    bot = OpsBot(settings, environ=environ)
    reply = bot.handle(Incoming("run jira.my-issues", user="U1", source="slack"))
    assert httpserver.log, "the script did call the fake Jira"
    assert reply.outcome == "error" and "Jira API error" in reply.text
    for leaked in (B64, B64.rstrip("="), TOKEN):
        assert leaked not in reply.text and leaked not in " ".join(reply.notes)
        assert leaked not in _dump(bot)
    if shape != "header":
        assert REDACTED in reply.text


@pytest.mark.parametrize(("user", "secret"), [
    ("AC0123456789abcdef0123456789abcdef", "twilio-auth-token-42"),   # TWILIO_ACCOUNT_SID:TWILIO_AUTH_TOKEN
    ("sk_test_abcdefghijklmnop", ""),                                  # Stripe: the key as user, no password
])
def test_every_basic_form_of_a_configured_pair(user, secret):
    redactor = Redactor()
    redactor.add_credentials(user, secret)
    raw = f"{user}:{secret}".encode()
    for form in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
                 base64.b64encode(raw).decode().rstrip("=")):
        assert form not in redactor(f"Authorization: Basic {form}")
        assert redactor(f"echo: {form}!") == f"echo: {REDACTED}!"


def test_url_encoded_secrets():
    redactor = Redactor(["p@ss word/+x"])
    for encoded in ("p%40ss%20word%2F%2Bx", "p%40ss+word%2F%2Bx", "p%40ss%20word/%2Bx"):
        assert redactor(f"GET /login?pw={encoded}&x=1") == f"GET /login?pw={REDACTED}&x=1"
