"""HTTP mode hardening: a signed body that is neither JSON nor form data gets 400 (not 500), on the
built-in server and the WSGI app; the server listens on BOT_HTTP_HOST / --host, 127.0.0.1 by default."""

from __future__ import annotations

import io
import json
import socket
import threading
import urllib.parse
import urllib.request
from wsgiref.util import setup_testing_defaults

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli import build_parser
from bot.slack.server import serve_slack, wsgi_app
from tests.fakes.slack_server import FORM_CONTENT_TYPE, JSON_CONTENT_TYPE, FakeSlack, slash_command_body
from tests.slack.helpers import demo_settings
from tests.slack.test_http_mode import _signed, events_url, post  # noqa: F401 - the events_url fixture

BAD_BODIES = [
    (b"not json at all {", JSON_CONTENT_TYPE),
    (b"{\"type\": \"event_callback\", ", JSON_CONTENT_TYPE),
    (b"[1, 2, 3]", JSON_CONTENT_TYPE),
    (b"\xff\xfe\x00binary", "application/octet-stream"),
    (b"payload=%7Bnot-json", FORM_CONTENT_TYPE),
    (b"payload=%5B1%5D", FORM_CONTENT_TYPE),
    (b"hello there", "text/plain"),
    (b"\xc3(", FORM_CONTENT_TYPE),
    (b'{"type": "event_callback", "event": null}', JSON_CONTENT_TYPE),     # found by the property test below
]


@pytest.mark.parametrize(("body", "content_type"), BAD_BODIES)
def test_signed_body_that_is_neither_json_nor_form_gets_400(slackbot, events_url, fake_slack: FakeSlack,  # noqa: F811
                                                           body, content_type):
    status, content, _ = post(events_url, body, _signed(fake_slack, body, content_type=content_type))
    assert status == 400, content
    good = slash_command_body("/ops", "help", user_id="U0ALICE001")
    assert post(events_url, good, _signed(fake_slack, good, content_type=FORM_CONTENT_TYPE))[0] == 200


@pytest.mark.parametrize(("body", "content_type"), BAD_BODIES[:3] + BAD_BODIES[4:5] + BAD_BODIES[-1:])
def test_wsgi_app_gives_400_too(slackbot, fake_slack: FakeSlack, body, content_type):
    app = wsgi_app(slackbot)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events", "CONTENT_LENGTH": str(len(body)),
               "CONTENT_TYPE": content_type, "wsgi.input": io.BytesIO(body)}
    for name, value in _signed(fake_slack, body, content_type=content_type).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    setup_testing_defaults(environ)
    seen = []
    chunks = app(environ, lambda status, headers: seen.append(status))
    assert seen[0].startswith("400"), (seen, b"".join(chunks))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _other_address() -> str | None:
    """An address of this machine that is not loopback (None when there is none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))             # no packet is sent: this only picks a route
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _reachable(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.parametrize("host", [None, "0.0.0.0"])
def test_serve_http_listens_on_loopback_unless_told(root, fake_slack: FakeSlack, monkeypatch, host):
    monkeypatch.setenv("HOME", str(root / "home"))
    settings = demo_settings(root, slack_bot_token=fake_slack.bot_token, slack_signing_secret=fake_slack.signing_secret,
                             slack_api_url=fake_slack.api_url, bot_scheduler=False)
    assert settings.bot_http_host == "127.0.0.1"
    port, stop = _free_port(), threading.Event()
    server = threading.Thread(target=serve_slack, args=(settings,),
                              kwargs={"http": True, "port": port, "host": host, "stop": stop}, daemon=True)
    server.start()
    try:
        for _ in range(100):
            if _reachable("127.0.0.1", port):
                break
            threading.Event().wait(0.05)
        assert _reachable("127.0.0.1", port)
        other = _other_address()
        if other is not None:
            assert _reachable(other, port) is (host == "0.0.0.0")
    finally:
        stop.set()
        server.join(10)


def test_host_flag_and_setting(monkeypatch):
    args = build_parser().parse_args(["serve", "--http", "--host", "10.1.2.3", "--port", "8080"])
    assert (args.http, args.host, args.port) == (True, "10.1.2.3", 8080)
    monkeypatch.setenv("BOT_HTTP_HOST", "0.0.0.0")
    from bot.config import load_settings

    assert load_settings().bot_http_host == "0.0.0.0"


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=12)
SLACK_SHAPED = st.fixed_dictionaries({"type": st.sampled_from(["event_callback", "block_actions", "url_verification",
                                                               "shortcut", "view_submission"])},
                                     optional={"event": JSON, "actions": JSON, "user": JSON, "challenge": JSON,
                                               "event_id": st.text(max_size=12), "trigger_id": st.text(max_size=12)})
BODIES = (st.binary(max_size=200).map(lambda b: (b, "application/octet-stream"))
          | JSON.map(lambda v: (json.dumps(v).encode(), JSON_CONTENT_TYPE))
          | SLACK_SHAPED.map(lambda v: (json.dumps(v).encode(), JSON_CONTENT_TYPE))
          | SLACK_SHAPED.map(lambda v: (b"payload=" + urllib.parse.quote(json.dumps(v)).encode(), FORM_CONTENT_TYPE))
          | st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=5).map(
              lambda d: (urllib.parse.urlencode(d).encode(), FORM_CONTENT_TYPE)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_any_signed_body_gets_an_answer_below_500(slackbot, events_url, fake_slack: FakeSlack, body):  # noqa: F811
    raw, content_type = body
    status, content, _ = post(events_url, raw, _signed(fake_slack, raw, content_type=content_type))
    assert status < 500, (status, content)
