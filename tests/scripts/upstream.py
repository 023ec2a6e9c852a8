"""The upstream-failure tests every integration script gets, written once.

Each service's test file lists its scripts as `Case`s (the call that fails, what else the script
needs) and describes how its API really answers a bad credential, a rate limit and a server error
(`Upstream`); `failure_tests()` returns four tests, parametrised by script, to bind at module level:

    test_401_credentials_rejected, test_429_is_retried, test_500_names_the_call, test_malformed_json = \
        failure_tests(STRIPE, CASES)

What they check, for every script:
- a rejected credential exits 4 saying "credentials rejected", naming the call, never retried,
  never echoing the secret;
- a 429 with Retry-After is retried and the script then succeeds;
- a 500 exits 4 naming the service, method and path with the API's own message; an idempotent call
  was retried, a non-idempotent one (a POST that may have been applied) was sent exactly once;
- a malformed JSON body exits 4 saying so, without a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug import Response

from tests.scripts.harness import RETRIES, run_script

NOT_RETRIED_ON_5XX = {"POST", "PATCH"}


@dataclass(frozen=True)
class Case:
    """One script and the call of it that the fake makes fail."""

    script: str
    argv: Sequence[str]
    method: str
    path: str
    ok: Any = None                     # JSON the failing call answers once the 429 has passed (or use `fake`)
    fake: Callable[[Any], None] | None = None  # serves the script's other calls (and may serve `path` too)
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment for this script
    reports_outages: bool = False      # a health check: a 500 or a bad body is its answer, not its failure
    has_body: bool = True              # False for HEAD calls: no body to be malformed or to quote


@dataclass(frozen=True)
class Rejection:
    """How the API answers a bad credential: HTTP status, body (JSON, or text), and the part of it
    the message must carry."""

    status: int
    body: Any
    detail: str
    id: str = ""


@dataclass(frozen=True)
class Upstream:
    """A service's real answers to the failures."""

    service: str                        # as it appears in the messages: "stripe GET /v1/balance: …"
    secret: str                         # the credential; never printed
    rejections: Sequence[Rejection]
    rate_limited: Any                   # 429 body
    server_error: Any                   # 500 body (JSON, or text)
    server_error_detail: str | None = None
    malformed: str = '{"data": [{"id": '


def _respond(handler, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
    if isinstance(body, str):
        handler.respond_with_response(Response(body, status=status, headers=dict(headers or {}),
                                               content_type="text/html"))
    else:
        handler.respond_with_json(body, status=status, headers=dict(headers or {}))


def _prepare(httpserver, case: Case) -> None:
    if case.ok is not None:
        httpserver.expect_request(case.path, method=case.method).respond_with_json(case.ok)
    if case.fake is not None:
        case.fake(httpserver)


def _calls(httpserver, case: Case) -> list[int]:
    """Statuses the fake answered to the failing call, in order."""
    return [resp.status_code for req, resp in httpserver.log if req.path == case.path and req.method == case.method]


def _run(case: Case, env: Mapping[str, str]):
    return run_script(case.script, *case.argv, env={**env, **case.env})


def failure_tests(upstream: Upstream, cases: Sequence[Case]) -> tuple[Callable[..., None], ...]:
    ids = [c.script for c in cases]
    rejections = [pytest.param(r, id=r.id or str(r.status)) for r in upstream.rejections]
    with_500 = [c for c in cases if not c.reports_outages]
    with_body = [c for c in cases if c.has_body and not c.reports_outages]

    @pytest.mark.parametrize("case", cases, ids=ids)
    @pytest.mark.parametrize("rejection", rejections)
    def test_401_credentials_rejected(httpserver, env, case, rejection):
        _respond(httpserver.expect_request(case.path, method=case.method), rejection.status, rejection.body)
        _prepare(httpserver, case)
        result = _run(case, env)
        assert result.code == 4, (result.code, result.stdout, result.stderr)
        assert "credentials rejected" in result.stderr
        if case.has_body:
            assert rejection.detail in result.stderr
        assert f"{upstream.service} {case.method} {case.path}" in result.stderr
        assert upstream.secret not in result.stderr and "Traceback" not in result.stderr
        assert len(_calls(httpserver, case)) == 1  # a rejected credential is not retried

    @pytest.mark.parametrize("case", cases, ids=ids)
    def test_429_is_retried(httpserver, env, case):
        httpserver.expect_oneshot_request(case.path, method=case.method).respond_with_json(
            upstream.rate_limited, status=429, headers={"Retry-After": "0"})
        _prepare(httpserver, case)
        result = _run(case, env)
        assert result.code == 0, result.stderr
        statuses = _calls(httpserver, case)
        assert statuses[0] == 429 and 200 <= statuses[1] < 300, statuses

    @pytest.mark.parametrize("case", with_500, ids=[c.script for c in with_500])
    def test_500_names_the_call(httpserver, env, case):
        _respond(httpserver.expect_request(case.path, method=case.method), 500, upstream.server_error)
        _prepare(httpserver, case)
        result = _run(case, env)
        assert result.code == 4, (result.code, result.stdout, result.stderr)
        assert f"{upstream.service} {case.method} {case.path}: HTTP 500" in result.stderr
        if upstream.server_error_detail and case.has_body:
            assert upstream.server_error_detail in result.stderr
        # A POST may already have been applied (an SMS sent, a refund made): sent exactly once.
        expected = 1 if case.method in NOT_RETRIED_ON_5XX else 1 + RETRIES
        assert len(_calls(httpserver, case)) == expected

    @pytest.mark.parametrize("case", with_body, ids=[c.script for c in with_body])
    def test_malformed_json(httpserver, env, case):
        httpserver.expect_request(case.path, method=case.method).respond_with_data(
            upstream.malformed, content_type="application/json")
        _prepare(httpserver, case)
        result = _run(case, env)
        assert result.code == 4, (result.code, result.stdout, result.stderr)
        assert "malformed JSON" in result.stderr and "Traceback" not in result.stderr
        assert f"{upstream.service} {case.method} {case.path}" in result.stderr

    return test_401_credentials_rejected, test_429_is_retried, test_500_names_the_call, test_malformed_json
