"""Unit tests of scripts/_lib, the helper every integration script uses, against local servers."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import socket
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.wrappers import Response as WResponse

SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS_DIR) not in sys.path:
    sys.path.insert(0, str(SCRIPTS_DIR))

from _lib import (  # noqa: E402
    ApiClient,
    ApiError,
    MissingConfig,
    Script,
    UpstreamTimeout,
    UsageError,
    ago,
    bullet_list,
    iso,
    money,
    more_line,
    parse_time,
    table,
)
from _lib.http import link_header_next, parse_link_next  # noqa: E402

NOW = dt.datetime(2026, 11, 25, 12, 0, 0, tzinfo=dt.UTC)


def client(httpserver, **kwargs) -> ApiClient:
    c = ApiClient("acme", httpserver.url_for("/"), **{"timeout": 2, "retries": 3, **kwargs})
    c.backoff_base = 0.0
    c.max_wait = 5.0
    return c


def _paths(httpserver) -> list[str]:
    return [req.method + " " + req.path for req, _ in httpserver.log]


# --- retries ----------------------------------------------------------------------------------------


class FakeClock:
    """Stands in for the `time` module inside _lib.http: records the waits instead of sleeping."""

    def __init__(self, now: float = 1_795_597_200.0) -> None:
        self.now, self.slept = now, []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@pytest.fixture
def clock(monkeypatch):
    import _lib.http

    fake = FakeClock()
    monkeypatch.setattr(_lib.http, "time", fake)
    return fake


def test_retry_after_is_honoured_on_429(httpserver, clock):
    httpserver.expect_ordered_request("/v1/things").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "4"})
    httpserver.expect_ordered_request("/v1/things").respond_with_json({"ok": True})
    assert client(httpserver).get("/v1/things") == {"ok": True}
    assert clock.slept == [4.0]
    assert len(httpserver.log) == 2


def test_429_retried_even_for_post_because_nothing_was_applied(httpserver):
    httpserver.expect_ordered_request("/v1/charges", method="POST").respond_with_data(
        "", status=429, headers={"Retry-After": "0"})
    httpserver.expect_ordered_request("/v1/charges", method="POST").respond_with_json({"id": "ch_1"})
    assert client(httpserver).post("/v1/charges", {"amount": 1}) == {"id": "ch_1"}


def test_429_gives_up_after_retries_and_says_so(httpserver):
    httpserver.expect_request("/v1/things").respond_with_json(
        {"message": "too many"}, status=429, headers={"Retry-After": "0"})
    with pytest.raises(ApiError) as err:
        client(httpserver, retries=2).get("/v1/things")
    assert len(httpserver.log) == 3
    assert "rate limited, gave up after 3 attempts" in str(err.value)
    assert err.value.status == 429


def test_retry_after_http_date_form(httpserver, clock):
    httpserver.expect_ordered_request("/d").respond_with_data(
        "", status=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})  # in the past → 0 s
    httpserver.expect_ordered_request("/d").respond_with_json([1])
    assert client(httpserver).get("/d") == [1]
    assert clock.slept == [0.0]
    httpserver.clear()
    in_two_minutes = email.utils.formatdate(clock.now + 120, usegmt=True)  # longer than max_wait (5 s)
    httpserver.expect_request("/d").respond_with_data("", status=429, headers={"Retry-After": in_two_minutes})
    with pytest.raises(ApiError, match="rate limited, asked to wait 120s"):
        client(httpserver).get("/d")
    assert len(httpserver.log) == 1 and clock.slept == [0.0]


def test_5xx_retried_for_get(httpserver):
    httpserver.expect_ordered_request("/r").respond_with_data("oops", status=502)
    httpserver.expect_ordered_request("/r").respond_with_data("oops", status=503, headers={"Retry-After": "0"})
    httpserver.expect_ordered_request("/r").respond_with_json({"n": 3})
    assert client(httpserver).get("/r") == {"n": 3}
    assert len(httpserver.log) == 3


def test_5xx_not_retried_for_post_no_double_writes(httpserver):
    httpserver.expect_request("/v1/refunds", method="POST").respond_with_json(
        {"error": {"message": "internal"}}, status=500)
    with pytest.raises(ApiError) as err:
        client(httpserver).post("/v1/refunds", {"charge": "ch_1"})
    assert _paths(httpserver) == ["POST /v1/refunds"]
    assert str(err.value) == "acme POST /v1/refunds: HTTP 500: internal"


def test_gives_up_after_n_retries_naming_service_method_path_status(httpserver):
    httpserver.expect_request("/api/v2/items").respond_with_json({"message": "backend down"}, status=503)
    with pytest.raises(ApiError) as err:
        client(httpserver, retries=2).get("/api/v2/items", {"secret_query": "x"})
    assert len(httpserver.log) == 3
    message = str(err.value)
    assert message.startswith("acme GET /api/v2/items: HTTP 503:")
    assert "gave up after 3 attempts" in message and "backend down" in message
    assert "secret_query" not in message  # the query string is not part of the call name
    assert (err.value.service, err.value.call, err.value.status) == ("acme", "GET /api/v2/items", 503)


@pytest.mark.parametrize("status", [401, 403])
def test_401_403_say_credentials_rejected(httpserver, status):
    httpserver.expect_request("/me").respond_with_json({"message": "Bad credentials"}, status=status)
    with pytest.raises(ApiError) as err:
        client(httpserver).get("/me")
    assert f"credentials rejected (HTTP {status})" in str(err.value)
    assert len(httpserver.log) == 1  # never retried


def test_ok_statuses_are_returned_not_raised(httpserver):
    httpserver.expect_request("/missing").respond_with_json({"message": "Not Found"}, status=404)
    response = client(httpserver).request("GET", "/missing", ok=(404,))
    assert response.status == 404 and response.json() == {"message": "Not Found"}


def test_malformed_json_is_an_api_error(httpserver):
    httpserver.expect_request("/bad").respond_with_data("{not json", content_type="application/json")
    with pytest.raises(ApiError) as err:
        client(httpserver).get("/bad")
    assert "malformed JSON" in str(err.value)
    assert "acme GET /bad" in str(err.value)


def test_get_json_checks_the_shape_and_names_the_call(httpserver):
    httpserver.expect_request("/base/things").respond_with_json([{"id": 1}])
    api = ApiClient("acme", httpserver.url_for("/base"), timeout=2)
    assert api.get_json("things", expect=list) == [{"id": 1}]
    with pytest.raises(ApiError) as err:
        api.get_json("things")
    assert str(err.value) == "acme GET /base/things: unexpected response: expected a JSON object"
    assert str(api.unexpected("post", "things", "no id")) == "acme POST /base/things: unexpected response: no id"


def test_empty_body_is_none(httpserver):
    httpserver.expect_request("/empty").respond_with_data("", status=204)
    assert client(httpserver).get("/empty") is None


# --- connection failures ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_an_api_error():
    c = ApiClient("acme", f"http://127.0.0.1:{_free_port()}", timeout=2, retries=0)
    with pytest.raises(ApiError) as err:
        c.get("/x")
    assert err.value.status is None
    assert str(err.value).startswith("acme GET /x: could not connect")


def test_slow_server_is_upstream_timeout():
    with socket.socket() as listener:  # accepts connections but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        accepted: list[socket.socket] = []

        def accept() -> None:
            while True:
                try:
                    accepted.append(listener.accept()[0])
                except OSError:
                    return

        threading.Thread(target=accept, daemon=True).start()
        c = ApiClient("acme", f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.3, retries=3)
        with pytest.raises(UpstreamTimeout) as err:
            c.get("/slow")
        for conn in accepted:
            conn.close()
    assert "acme GET /slow: no answer within 0.3s" in str(err.value)
    assert len(accepted) == 1  # a timeout is not retried


class DroppingServer:
    """Reads each request, then closes the connection without answering (a reset mid-call)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(5)
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def dropping():
    server = DroppingServer()
    yield server
    server.close()


def test_dropped_connection_retried_for_get(dropping):
    c = ApiClient("acme", dropping.url, timeout=2, retries=2)
    c.backoff_base = 0.0
    with pytest.raises(ApiError) as err:
        c.get("/x")
    assert "acme GET /x: connection failed" in str(err.value)
    assert dropping.connections == 3


def test_dropped_connection_not_retried_for_post(dropping):
    c = ApiClient("acme", dropping.url, timeout=2, retries=2)
    c.backoff_base = 0.0
    with pytest.raises(ApiError) as err:
        c.post("/x", {"a": 1})
    assert "acme POST /x: connection failed" in str(err.value)
    assert dropping.connections == 1


# --- base URL, auth, params ---------------------------------------------------------------------------


def test_service_api_url_override(httpserver, monkeypatch):
    httpserver.expect_request("/base/ping").respond_with_json({"pong": True})
    monkeypatch.setenv("ACME_API_URL", httpserver.url_for("/base"))
    c = ApiClient.for_service("acme", "https://api.acme.invalid")
    assert c.base_url == httpserver.url_for("/base").rstrip("/")
    assert c.get("/ping") == {"pong": True}


def test_service_api_url_default_when_unset(monkeypatch):
    monkeypatch.delenv("ACME_API_URL", raising=False)
    assert ApiClient.for_service("acme", "https://api.acme.invalid/").base_url == "https://api.acme.invalid"


def test_auth_headers_and_params(httpserver):
    httpserver.expect_request(
        "/q", headers={"Authorization": "Bearer tok", "X-Extra": "1"},
        query_string="active=true&n=2&tag=a&tag=b",
    ).respond_with_json({"ok": 1})
    c = client(httpserver, bearer="tok", headers={"X-Extra": "1"})
    assert c.get("/q", {"active": True, "n": 2, "tag": ["a", "b"], "skip": None}) == {"ok": 1}


def test_basic_auth_and_form_post(httpserver):
    httpserver.expect_request("/form", method="POST", headers={"Authorization": "Basic dTpw"},
                              data="a=1&b=x+y").respond_with_json({"ok": 1})
    assert client(httpserver, basic=("u", "p")).request("POST", "/form", form={"a": 1, "b": "x y"}).json()


# --- pagination ---------------------------------------------------------------------------------------


def _link_pages(httpserver, pages: int, per_page: int):
    def handler(request):
        page = int(request.args.get("page", "1"))
        items = [{"id": (page - 1) * per_page + i} for i in range(per_page)]
        headers = {}
        if page < pages:
            # A comma inside the URL must not split the header.
            nxt = httpserver.url_for("/items") + f"?page={page + 1}&fields=id,name"
            headers["Link"] = f'<{nxt}>; rel="next", <{httpserver.url_for("/items")}?page=1>; rel="first"'
        return WResponse(json.dumps(items), headers=headers, content_type="application/json")

    httpserver.expect_request("/items").respond_with_handler(handler)


def test_link_header_pagination_across_pages(httpserver):
    _link_pages(httpserver, pages=3, per_page=2)
    ids = [item["id"] for item in client(httpserver).paginate("/items", next_page=link_header_next)]
    assert ids == [0, 1, 2, 3, 4, 5]
    assert [req.args.get("page") for req, _ in httpserver.log] == [None, "2", "3"]
    assert httpserver.log[1][0].args.get("fields") == "id,name"


def test_limit_stops_early_without_fetching_more_pages(httpserver):
    _link_pages(httpserver, pages=5, per_page=2)
    ids = [item["id"] for item in client(httpserver).paginate("/items", next_page=link_header_next, limit=3)]
    assert ids == [0, 1, 2]
    assert len(httpserver.log) == 2
    assert list(client(httpserver).paginate("/items", next_page=link_header_next, limit=0)) == []


def test_params_dict_pagination(httpserver):
    data = [{"id": f"obj_{i}"} for i in range(5)]

    def handler(request):
        after = request.args.get("starting_after")
        start = 0 if after is None else next(i for i, d in enumerate(data) if d["id"] == after) + 1
        chunk = data[start:start + int(request.args["limit"])]
        return WResponse(json.dumps({"data": chunk, "has_more": start + len(chunk) < len(data)}),
                         content_type="application/json")

    httpserver.expect_request("/v1/customers").respond_with_handler(handler)
    got = client(httpserver).paginate(
        "/v1/customers", {"limit": 2}, items=lambda body: body["data"],
        next_page=lambda resp, body: {"starting_after": body["data"][-1]["id"]} if body["has_more"] else None)
    assert [d["id"] for d in got] == [d["id"] for d in data]
    assert [req.args.get("limit") for req, _ in httpserver.log] == ["2", "2", "2"]


@pytest.mark.parametrize("header,expected", [
    ('<https://a/x?page=2>; rel="next"', "https://a/x?page=2"),
    ('<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel=next', "https://a/x?page=3"),
    ('<https://a/x?q=a,b&page=2>; rel="prev next"', "https://a/x?q=a,b&page=2"),
    ('<https://s/?cursor=0:100:0>; rel="next"; results="false"; cursor="0:100:0"', None),
    ('<https://s/?cursor=0:100:0>; rel="next"; results="true"', "https://s/?cursor=0:100:0"),
    ('<https://a/x?page=9>; rel="last"', None),
    ("", None),
    (None, None),
])
def test_parse_link_next(header, expected):
    assert parse_link_next(header) == expected


# --- formatting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount,currency,expected", [
    (123450, "usd", "$1,234.50 USD"),
    (0, "USD", "$0.00 USD"),
    (5000, "jpy", "¥5,000 JPY"),           # zero-decimal: minor unit is the yen
    (1234567, "KWD", "1,234.567 KWD"),     # three-decimal
    (-2500, "usd", "-$25.00 USD"),
    (-1, "eur", "-€0.01 EUR"),
    (-300, "jpy", "-¥300 JPY"),
    (199, "chf", "1.99 CHF"),
])
def test_money(amount, currency, expected):
    assert money(amount, currency) == expected


EPOCH = 1795597200  # 2026-11-25T09:00:00Z


@pytest.mark.parametrize("value", [
    EPOCH, float(EPOCH), EPOCH * 1000, str(EPOCH),
    "2026-11-25T09:00:00Z", "2026-11-25T09:00:00z", "2026-11-25T09:00:00.123Z",
    "2026-11-25T10:00:00+01:00", "2026-11-25T04:00:00-05:00", "2026-11-25T14:30:00+0530",
    "2026-11-25T09:00:00.123456789Z", "2026-11-25 09:00:00", "Wed, 25 Nov 2026 09:00:00 +0000",
    dt.datetime(2026, 11, 25, 9, 0), dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
])
def test_iso_and_ago_accept_every_time_shape(value):
    assert iso(value) == "2026-11-25T09:00:00Z"
    assert ago(value, now=NOW) == "2026-11-25T09:00:00Z (3h ago)"


def test_ago_units_and_future():
    assert ago("2026-11-25T11:59:15Z", now=NOW).endswith("(45s ago)")
    assert ago("2026-11-25T11:48:00Z", now=NOW).endswith("(12m ago)")
    assert ago("2026-11-20T12:00:00Z", now=NOW).endswith("(5d ago)")
    assert ago("2026-11-27T12:00:00Z", now=NOW) == "2026-11-27T12:00:00Z (in 2d)"


def test_missing_and_unreadable_times_do_not_crash():
    assert iso(None) == ago(None) == iso("") == "—"
    assert iso("not a date") == ago("not a date", now=NOW) == "not a date"
    with pytest.raises(ValueError):
        parse_time("not a date")
    assert parse_time(0) == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def test_bullet_list_and_more():
    assert bullet_list(["a", "b"], total=5) == ["• a", "• b", "…and 3 more"]
    assert bullet_list(["a", "b"], total=2) == ["• a", "• b"]
    assert bullet_list(["a"]) == ["• a"]
    assert bullet_list([]) == ["_none_"]
    assert bullet_list([], empty="no open PRs") == ["_no open PRs_"]
    assert bullet_list([], total=4) == ["…and 4 more"]
    assert more_line(10, 12) == "…and 2 more" and more_line(10, None) is None


def test_table_aligns_columns():
    assert table([["a", 1], ["bbb", 22]], ["name", "n"]) == "```\nname  n\na     1\nbbb   22\n```"


# --- Script: exit codes and output ------------------------------------------------------------------


def make_script(env=()):
    script = Script("acme.demo", "A demo script.", env=list(env))
    script.arg("--limit", type=int, default=3, help="how many")
    script.arg("--repo", env_default="ACME_REPO", required=True, help="owner/name")
    return script


def run(script, fn, argv, capsys):
    try:
        code = script.run(fn, argv)
    except SystemExit as exc:  # argparse exits itself
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_script_json_prints_the_data(capsys):
    def fn(args, out):
        out.text(f"*{args.repo}*: {args.limit}")
        out.data({"repo": args.repo, "limit": args.limit})

    code, out, _ = run(make_script(), fn, ["--repo", "a/b", "--json"], capsys)
    assert code == 0 and json.loads(out) == {"repo": "a/b", "limit": 3}
    code, out, _ = run(make_script(), fn, ["--repo", "a/b", "--limit", "7"], capsys)
    assert code == 0 and out == "*a/b*: 7\n"


def test_script_json_without_data_wraps_the_text(capsys):
    code, out, _ = run(make_script(), lambda a, o: o.text("hi", "there"), ["--repo=x", "--json"], capsys)
    assert code == 0 and json.loads(out) == {"text": "hi\nthere"}


@pytest.mark.parametrize("argv", [["--repo", "a/b", "--limit", "many"], ["--repo", "a/b", "--no-such-flag", "x"]],
                         ids=["bad-value", "unknown-flag"])
def test_script_argparse_error_exits_2_with_usage(capsys, argv):
    code, _, err = run(make_script(), lambda a, o: None, argv, capsys)
    assert code == 2
    assert err.startswith("usage: acme.demo ") and "--limit" in err


def test_script_required_after_env_fallback(capsys, monkeypatch):
    monkeypatch.delenv("ACME_REPO", raising=False)
    code, _, err = run(make_script(), lambda a, o: None, [], capsys)
    assert code == 2 and "--repo is required (or set $ACME_REPO)" in err
    monkeypatch.setenv("ACME_REPO", "env/repo")
    code, out, _ = run(make_script(), lambda a, o: o.text(a.repo), [], capsys)
    assert code == 0 and out == "env/repo\n"


def test_script_env_default_goes_through_the_flag_type(capsys, monkeypatch):
    script = Script("acme.demo", "demo")
    script.arg("--limit", type=int, env_default="ACME_LIMIT")
    monkeypatch.setenv("ACME_LIMIT", "12")
    code, out, _ = run(script, lambda a, o: o.text(repr(a.limit)), [], capsys)
    assert code == 0 and out == "12\n"
    monkeypatch.setenv("ACME_LIMIT", "lots")
    code, _, err = run(script, lambda a, o: None, [], capsys)
    assert code == 2 and "$ACME_LIMIT='lots' is not valid for --limit" in err


@pytest.mark.parametrize("argv, env, message", [
    (["--limit", "0"], {}, "argument --limit: must be between 1 and 100 (got 0)"),
    (["--limit", "101"], {}, "argument --limit: must be between 1 and 100 (got 101)"),
    (["--limit", "many"], {}, "argument --limit: invalid int value: 'many'"),
    (["--days", "-1"], {}, "argument --days: must be 0 or more (got -1)"),
    ([], {"ACME_LIMIT": "500"}, "$ACME_LIMIT='500' is not valid for --limit: must be between 1 and 100"),
])
def test_script_bounded_flags(capsys, monkeypatch, argv, env, message):
    script = Script("acme.demo", "demo")
    script.arg("--limit", type=int, minimum=1, maximum=100, env_default="ACME_LIMIT")
    script.arg("--days", type=int, default=7, minimum=0)
    monkeypatch.delenv("ACME_LIMIT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, err = run(script, lambda a, o: None, argv, capsys)
    assert code == 2 and message in err
    code, out, _ = run(script, lambda a, o: o.text(f"{a.limit} {a.days}"), ["--limit", "100", "--days", "0"], capsys)
    assert code == 0 and out == "100 0\n"


def test_script_usage_error_exits_2(capsys):
    def fn(args, out):
        raise UsageError("--repo must look like owner/name")

    code, _, err = run(make_script(), fn, ["--repo", "nope"], capsys)
    assert code == 2
    assert "usage:" in err and "acme.demo: --repo must look like owner/name" in err


def test_script_missing_env_exits_3_naming_the_variable(capsys, monkeypatch):
    monkeypatch.delenv("ACME_TOKEN", raising=False)
    ran = []
    code, out, err = run(make_script(env=["ACME_TOKEN"]), lambda a, o: ran.append(1), ["--repo", "a/b"], capsys)
    assert code == 3 and ran == [] and out == ""
    assert "missing credentials: set ACME_TOKEN" in err


def test_script_env_raises_missing_config():
    with pytest.raises(MissingConfig, match="set ACME_OTHER"):
        Script.env("ACME_OTHER")


def test_script_api_error_exits_4(capsys):
    def fn(args, out):
        raise ApiError("acme", "GET /v1/x", 500, "boom")

    code, out, err = run(make_script(), fn, ["--repo", "a/b"], capsys)
    assert code == 4 and out == ""
    assert "acme.demo: acme GET /v1/x: HTTP 500: boom" in err


def test_script_timeout_exits_5(capsys):
    def fn(args, out):
        raise UpstreamTimeout("acme GET /v1/x: no answer within 3s")

    code, _, err = run(make_script(), fn, ["--repo", "a/b"], capsys)
    assert code == 5 and "no answer within 3s" in err


def test_script_end_to_end_against_a_server(httpserver, capsys, monkeypatch):
    httpserver.expect_request("/v1/x").respond_with_json({"message": "nope"}, status=403)
    monkeypatch.setenv("ACME_API_URL", httpserver.url_for("/"))
    monkeypatch.setenv("ACME_TOKEN", "t")

    def fn(args, out):
        ApiClient.for_service("acme", "https://example.invalid", bearer=Script.env("ACME_TOKEN")).get("/v1/x")

    code, _, err = run(make_script(env=["ACME_TOKEN"]), fn, ["--repo", "a/b"], capsys)
    assert code == 4 and "acme GET /v1/x: credentials rejected (HTTP 403): nope" in err


def test_script_missing_credentials_reported_before_missing_env_fallback_flag(capsys, monkeypatch):
    monkeypatch.delenv("ACME_TOKEN", raising=False)
    monkeypatch.delenv("ACME_REPO", raising=False)
    code, _, err = run(make_script(env=["ACME_TOKEN"]), lambda a, o: None, [], capsys)
    assert code == 3 and "set ACME_TOKEN" in err
    monkeypatch.setenv("ACME_TOKEN", "t")
    code, _, err = run(make_script(env=["ACME_TOKEN"]), lambda a, o: None, [], capsys)
    assert code == 2 and "--repo is required" in err


# --- credentials stay with their origin --------------------------------------------------------------


@pytest.fixture
def other_server():
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_credentials_are_not_sent_across_a_redirect_to_another_origin(httpserver, other_server):
    other_server.expect_request("/signed/file.vtt").respond_with_data("WEBVTT")
    httpserver.expect_request("/v1/download").respond_with_data(
        "", status=302, headers={"Location": other_server.url_for("/signed/file.vtt")})
    api = client(httpserver, bearer="s3cr3t-token", headers={"apikey": "k3y-value"})
    response = api.request("GET", "/v1/download")
    assert response.body == b"WEBVTT"
    sent = other_server.log[0][0].headers
    assert "Authorization" not in sent and "apikey" not in sent
    assert httpserver.log[0][0].headers["Authorization"] == "Bearer s3cr3t-token"


def test_same_origin_redirect_keeps_credentials(httpserver):
    httpserver.expect_request("/v1/old").respond_with_data("", status=301, headers={"Location": "/v1/new"})
    httpserver.expect_request("/v1/new").respond_with_json({"ok": True})
    assert client(httpserver, bearer="s3cr3t-token").get("/v1/old") == {"ok": True}
    assert httpserver.log[1][0].headers["Authorization"] == "Bearer s3cr3t-token"


def test_a_next_page_link_to_another_host_is_refused(httpserver, other_server):
    httpserver.expect_request("/v1/items").respond_with_json(
        [1, 2], headers={"Link": f'<{other_server.url_for("/page2")}>; rel="next"'})
    api = client(httpserver, bearer="s3cr3t-token")
    with pytest.raises(ApiError, match="refusing to follow a next-page link to another host"):
        list(api.paginate("/v1/items", next_page=link_header_next))
    assert other_server.log == []


def test_a_rate_limit_longer_than_max_wait_gives_up_at_once(httpserver):
    httpserver.expect_request("/v1/things").respond_with_json(
        {"message": "slow down"}, status=429, headers={"Retry-After": "3600"})
    with pytest.raises(ApiError, match="rate limited, asked to wait 3600s"):
        client(httpserver).get("/v1/things")
    assert len(httpserver.log) == 1


def test_a_403_rate_limit_is_retried_and_not_called_a_credentials_problem(httpserver):
    httpserver.expect_ordered_request("/v1/things").respond_with_json(
        {"message": "API rate limit exceeded"}, status=403, headers={"X-RateLimit-Remaining": "0",
                                                                      "Retry-After": "0"})
    httpserver.expect_ordered_request("/v1/things").respond_with_json({"ok": True})
    assert client(httpserver).get("/v1/things") == {"ok": True}
    httpserver.clear()
    httpserver.expect_request("/v1/things").respond_with_json(
        {"message": "API rate limit exceeded"}, status=403, headers={"X-RateLimit-Remaining": "0"})
    with pytest.raises(ApiError) as err:
        client(httpserver, retries=1).get("/v1/things")
    assert "rate limited" in str(err.value) and "credentials" not in str(err.value)


def test_jira_style_field_errors_read_as_text(httpserver):
    httpserver.expect_request("/v1/issue", method="POST").respond_with_json(
        {"errorMessages": [], "errors": {"issuetype": "Specify a valid issue type"}}, status=400)
    with pytest.raises(ApiError) as err:
        client(httpserver).post("/v1/issue", {})
    assert "issuetype: Specify a valid issue type" in str(err.value)


def test_an_unexpected_exception_exits_1_without_a_traceback(capsys, monkeypatch):
    monkeypatch.delenv("OPSBOT_DEBUG", raising=False)
    script = Script("demo.shape", "demo")

    def run(args, out):
        return {}["missing"]

    assert script.run(run, []) == 1
    err = capsys.readouterr().err
    assert "demo.shape: internal error: KeyError: 'missing'" in err
    assert "Traceback" not in err
