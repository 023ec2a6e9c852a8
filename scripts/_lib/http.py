"""A small HTTP client for service APIs: base-URL override, auth, retries, pagination, clear errors."""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import os
import random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any

USER_AGENT = "opsbot-scripts/0.1"
RETRY_STATUSES = {429, 500, 502, 503, 504}
IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}


def _float_env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


class ApiError(Exception):
    """The upstream API failed; the message says which service, which call and the status."""

    def __init__(self, service: str, call: str, status: int | None, detail: str):
        self.service, self.call, self.status, self.detail = service, call, status, detail
        where = f"{service} {call}"
        if status in (401, 403):
            super().__init__(f"{where}: credentials rejected (HTTP {status}): {detail}")
        elif status is None:
            super().__init__(f"{where}: {detail}")
        else:
            super().__init__(f"{where}: HTTP {status}: {detail}")


class UpstreamTimeout(Exception):
    """The upstream API did not answer in time (exit 5)."""


class _Dropped(Exception):
    """The connection broke mid-call (reset, closed without a response, truncated body)."""


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes
    call: str
    service: str

    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError(self.service, self.call, self.status, "returned malformed JSON") from None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def link_next(self) -> str | None:
        """The `rel="next"` URL of an RFC 8288 Link header (GitHub, Netlify, Sentry)."""
        return parse_link_next(self.header("Link"))


_LINK_RE = re.compile(r'<([^>]*)>([^<]*)')
_LINK_PARAM_RE = re.compile(r';\s*([\w*-]+)\s*=\s*(?:"([^"]*)"|([^;,\s]*))')


def parse_link_next(header: str | None) -> str | None:
    """The `rel="next"` target of a Link header. Commas inside <…> are part of the URL, `rel` may
    hold several space-separated relations, and Sentry's `results="false"` means there is no next."""
    for match in _LINK_RE.finditer(header or ""):
        params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
                  for m in _LINK_PARAM_RE.finditer(match.group(2))}
        if "next" in (params.get("rel") or "").lower().split() and params.get("results") != "false":
            return match.group(1).strip() or None
    return None


def api_url_var(service: str) -> str:
    """`<SERVICE>_API_URL`, the variable that overrides a service's base URL (dashes → underscores)."""
    return re.sub(r"[^A-Z0-9]", "_", service.upper()) + "_API_URL"


def api_url(service: str, default_url: str) -> str:
    return os.environ.get(api_url_var(service), "").strip() or default_url


def _param(value: Any) -> Any:
    """Query values as APIs expect them: booleans are `true`/`false`, not Python's `True`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return [_param(v) for v in value]
    return value


def _error_detail(body: bytes) -> str:
    """The most useful line out of an error body, whatever its shape."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:200] or "no details"
    if isinstance(data, dict):
        for key in ("message", "error_description", "error", "detail", "errorMessages", "errors", "msg"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("code") or json.dumps(value)
            if isinstance(value, list) and value:
                value = "; ".join(str(v.get("message", v)) if isinstance(v, dict) else str(v) for v in value)
            if value:
                return str(value)[:200]
    return text[:200]


class ApiClient:
    """HTTP client for one service. Base URL from `<SERVICE>_API_URL` when set (tests, self-hosted)."""

    def __init__(self, service: str, base_url: str, *, bearer: str | None = None,
                 basic: tuple[str, str] | None = None, headers: dict[str, str] | None = None,
                 timeout: float | None = None, retries: int | None = None):
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        if bearer:
            self.headers["Authorization"] = f"Bearer {bearer}"
        if basic:
            token = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.timeout = timeout if timeout is not None else _float_env("OPSBOT_HTTP_TIMEOUT_S", 15.0)
        self.retries = retries if retries is not None else int(_float_env("OPSBOT_HTTP_RETRIES", 3))
        self.backoff_base = _float_env("OPSBOT_RETRY_BASE_S", 0.5)
        self.max_wait = _float_env("OPSBOT_RETRY_MAX_WAIT_S", 30.0)

    @classmethod
    def for_service(cls, service: str, default_url: str, **kwargs: Any) -> ApiClient:
        return cls(service, api_url(service, default_url), **kwargs)

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        url = path if re.match(r"^https?://", path, re.IGNORECASE) else f"{self.base_url}/{path.lstrip('/')}"
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        if clean:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(clean, doseq=True)
        return url

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None,
                form: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                ok: tuple[int, ...] = ()) -> Response:
        """One call with retries. Non-2xx (except those in `ok`) raises ApiError naming the call."""
        url = self.url(path, params)
        call = f"{method} {urllib.parse.urlsplit(url).path}"
        data = None
        all_headers = {**self.headers, **(headers or {})}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode({k: v for k, v in form.items() if v is not None}, doseq=True).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        attempt = 0
        idempotent = method.upper() in IDEMPOTENT
        while True:
            try:
                response = self._send(method, url, data, all_headers, call)
            except _Dropped as exc:
                # The connection broke after the request went out: safe to resend only when the
                # method is idempotent (a POST may already have been applied upstream).
                if idempotent and attempt < self.retries:
                    time.sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                raise ApiError(self.service, call, None, f"connection failed: {exc}") from None
            retryable = response.status == 429 or (response.status in RETRY_STATUSES and idempotent)
            if retryable and attempt < self.retries:
                time.sleep(self._wait(response, attempt))
                attempt += 1
                continue
            if 200 <= response.status < 300 or response.status in ok:
                return response
            detail = _error_detail(response.body)
            if response.status == 429:
                detail = f"rate limited, gave up after {attempt + 1} attempts: {detail}"
            elif retryable:
                detail = f"gave up after {attempt + 1} attempts: {detail}"
            raise ApiError(self.service, call, response.status, detail)

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str], call: str) -> Response:
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        timeout_msg = f"{self.service} {call}: no answer within {self.timeout:g}s"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - http(s) only
                return Response(resp.status, resp.headers, resp.read(), call, self.service)
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read() or b""
            except (OSError, http.client.HTTPException):
                body = b""
            return Response(exc.code, exc.headers, body, call, self.service)
        except TimeoutError:
            raise UpstreamTimeout(timeout_msg) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise UpstreamTimeout(timeout_msg) from None
            raise ApiError(self.service, call, None, f"could not connect: {exc.reason}") from None
        except (ConnectionError, http.client.HTTPException) as exc:
            # Reset / closed without a response / truncated body: urllib lets these through raw.
            raise _Dropped(str(exc) or type(exc).__name__) from None
        except OSError as exc:
            raise ApiError(self.service, call, None, f"connection failed: {exc}") from None

    def _wait(self, response: Response, attempt: int) -> float:
        retry_after = (response.header("Retry-After") or "").strip()
        if retry_after:
            try:
                seconds = float(retry_after)
            except ValueError:
                try:  # the HTTP-date form
                    when = email.utils.parsedate_to_datetime(retry_after)
                    seconds = when.timestamp() - time.time()
                except (TypeError, ValueError, IndexError):
                    seconds = None
            if seconds is not None and seconds == seconds:  # not NaN
                return min(max(seconds, 0.0), self.max_wait)
        return self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_base * (2 ** attempt) * (1 + random.random() / 2), self.max_wait)  # noqa: S311

    def get(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.request("GET", path, params=params, **kwargs).json()

    def post(self, path: str, json_body: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json_body=json_body, **kwargs).json()

    def paginate(self, path: str, params: dict[str, Any] | None = None, *,
                 items: Callable[[Any], list] = lambda body: body,
                 next_page: Callable[[Response, Any], str | dict[str, Any] | None],
                 limit: int | None = None, max_pages: int = 50) -> Iterator[Any]:
        """Yield items across pages. `next_page(response, body)` returns the next URL or path, new
        params for the same path, or None when done. Stops once `limit` items were yielded."""
        count = 0
        if limit is not None and limit <= 0:
            return
        current_path, current_params = path, dict(params or {})
        for _ in range(max_pages):
            response = self.request("GET", current_path, params=current_params)
            body = response.json()
            for item in items(body) or []:
                yield item
                count += 1
                if limit is not None and count >= limit:
                    return
            following = next_page(response, body)
            if not following:
                return
            if isinstance(following, dict):
                current_params = {**current_params, **following}
            else:
                current_path, current_params = following, {}


def link_header_next(response: Response, _body: Any) -> str | None:
    """next_page for APIs that paginate with an RFC 8288 Link header."""
    return response.link_next
