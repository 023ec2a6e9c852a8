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


_JSON_KIND = {dict: "a JSON object", list: "a JSON array"}


class Response:
    """One answer: status, headers, raw body, and the call it answered ("GET /v1/x", for messages).
    A plain class, not a dataclass: importing dataclasses costs every script run ~7 ms."""

    __slots__ = ("body", "call", "headers", "same_service", "service", "status")

    def __init__(self, status: int, headers: Message, body: bytes, call: str, service: str,
                 same_service: Callable[[str], bool] = lambda _url: True):
        self.status, self.headers, self.body, self.call, self.service = status, headers, body, call, service
        # Whether a URL belongs to the same service (set by ApiClient); next-page links must.
        self.same_service = same_service

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.service} {self.call}, {len(self.body)} bytes)"

    def json(self) -> Any:
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError(self.service, self.call, self.status, "returned malformed JSON") from None

    def json_as(self, kind: type[dict] | type[list], what: str | None = None) -> Any:
        """The JSON body, which must be a `kind` (dict or list); any other shape is an ApiError
        naming the call ("unexpected response: expected a JSON object")."""
        body = self.json()
        if not isinstance(body, kind):
            raise self.unexpected(what or f"expected {_JSON_KIND.get(kind, kind.__name__)}")
        return body

    def unexpected(self, what: str) -> ApiError:
        """An answer of a shape the script cannot use, reported like any upstream error (exit 4)."""
        return ApiError(self.service, self.call, None, f"unexpected response: {what}")

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def link_next(self) -> str | None:
        """The `rel="next"` URL of an RFC 8288 Link header (GitHub, Netlify, Sentry). A link is data
        from the response: one pointing at another host is refused, never followed."""
        following = parse_link_next(self.header("Link"))
        if following and re.match(r"^https?://", following, re.IGNORECASE) and not self.same_service(following):
            raise ApiError(self.service, self.call, None, "refusing to follow a next-page link to another host "
                           f"({urllib.parse.urlsplit(following).netloc})")
        return following


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
                value = value.get("message") or value.get("code") or "; ".join(
                    f"{k}: {v}" for k, v in value.items() if isinstance(v, str | int | float))
            if isinstance(value, list) and value:
                value = "; ".join(str(v.get("message", v)) if isinstance(v, dict) else str(v) for v in value)
            if value:
                return str(value)[:200]
    return text[:200]


# Credentials never leave the service's own origin: not on a redirect, not to a next-page URL
# that points elsewhere (a signed download URL on a storage host needs none and may reject them).
SENSITIVE_HEADERS = ("authorization", "cookie", "apikey", "x-api-key", "private-token")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _same_service(url: str, base_url: str, domains: tuple[str, ...]) -> bool:
    """The base URL's own origin, or a host under one of the service's declared domains."""
    if _origin(url) == _origin(base_url):
        return True
    scheme, host, _ = _origin(url)
    return scheme == "https" and any(host == d or host.endswith("." + d) for d in domains)


def _without_credentials(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in SENSITIVE_HEADERS}


class _SameOriginCredentials(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        domains = getattr(req, "credential_domains", ())
        if new is not None and not _same_service(newurl, req.full_url, domains):
            for name in list(new.headers):
                if name.lower() in SENSITIVE_HEADERS:
                    del new.headers[name]
            for name in list(new.unredirected_hdrs):
                if name.lower() in SENSITIVE_HEADERS:
                    del new.unredirected_hdrs[name]
        return new


_OPENER = urllib.request.build_opener(_SameOriginCredentials)


def _retry_after(response: Response) -> float | None:
    """Retry-After (seconds or an HTTP date), else X-RateLimit-Reset (epoch seconds, GitHub)."""
    retry_after = (response.header("Retry-After") or "").strip()
    if retry_after:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            try:
                return max(email.utils.parsedate_to_datetime(retry_after).timestamp() - time.time(), 0.0)
            except (TypeError, ValueError, IndexError):
                return None
    reset = (response.header("X-RateLimit-Reset") or "").strip()
    if reset.isdigit() and response.header("X-RateLimit-Remaining") == "0":
        return max(int(reset) - time.time(), 0.0)
    return None


def _rate_limited(response: Response) -> bool:
    """429, or a 403 that is really a rate limit (GitHub's primary and secondary limits)."""
    if response.status == 429:
        return True
    return response.status == 403 and (
        response.header("Retry-After") is not None or response.header("X-RateLimit-Remaining") == "0")


class ApiClient:
    """HTTP client for one service. Base URL from `<SERVICE>_API_URL` when set (tests, self-hosted)."""

    def __init__(self, service: str, base_url: str, *, bearer: str | None = None,
                 basic: tuple[str, str] | None = None, headers: dict[str, str] | None = None,
                 timeout: float | None = None, retries: int | None = None,
                 credential_domains: tuple[str, ...] = ()):
        """`credential_domains`: other hosts of the same service that must get the credentials too
        (e.g. Zoom's recording downloads on zoom.us while the API is api.zoom.us)."""
        self.service = service
        self.credential_domains = credential_domains
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
        given_type = next((all_headers.pop(k) for k in list(all_headers) if k.lower() == "content-type"), None)
        if json_body is not None:
            data = json.dumps(json_body).encode()
            all_headers["Content-Type"] = given_type or "application/json"
        elif form is not None:
            data = urllib.parse.urlencode({k: v for k, v in form.items() if v is not None}, doseq=True).encode()
            all_headers["Content-Type"] = given_type or "application/x-www-form-urlencoded"
        elif given_type:
            all_headers["Content-Type"] = given_type
        if not self._same_service(url):
            all_headers = _without_credentials(all_headers)
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
            limited = _rate_limited(response)
            retryable = limited or (response.status in RETRY_STATUSES and idempotent)
            wait = self._wait(response, attempt) if retryable and attempt < self.retries else None
            if wait is not None:
                time.sleep(wait)
                attempt += 1
                continue
            if 200 <= response.status < 300 or response.status in ok:
                return response
            detail = _error_detail(response.body)
            if limited:
                later = _retry_after(response)
                when = f"asked to wait {later:.0f}s" if later and later > self.max_wait else \
                    f"gave up after {attempt + 1} attempts"
                detail = f"rate limited, {when}: {detail}"
                if response.status == 403:  # a rate limit, not a credentials problem: say which
                    raise ApiError(self.service, call, None, f"HTTP 403: {detail}")
            elif retryable:
                detail = f"gave up after {attempt + 1} attempts: {detail}"
            raise ApiError(self.service, call, response.status, detail)

    def _send(self, method: str, url: str, data: bytes | None, headers: dict[str, str], call: str) -> Response:
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        req.credential_domains = self.credential_domains  # read by the redirect handler
        timeout_msg = f"{self.service} {call}: no answer within {self.timeout:g}s"
        try:
            with _OPENER.open(req, timeout=self.timeout) as resp:
                return Response(resp.status, resp.headers, resp.read(), call, self.service, self._same_service)
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read() or b""
            except (OSError, http.client.HTTPException):
                body = b""
            return Response(exc.code, exc.headers, body, call, self.service, self._same_service)
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

    def _same_service(self, url: str) -> bool:
        return _same_service(url, self.base_url, self.credential_domains)

    def _wait(self, response: Response, attempt: int) -> float | None:
        """Seconds to wait before retrying; None when the service asks for longer than max_wait
        (retrying sooner would only be refused again)."""
        seconds = _retry_after(response)
        if seconds is None:
            return self._backoff(attempt)
        return seconds if seconds <= self.max_wait else None

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_base * (2 ** attempt) * (1 + random.random() / 2), self.max_wait)  # noqa: S311

    def get(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.request("GET", path, params=params, **kwargs).json()

    def get_json(self, path: str, params: dict[str, Any] | None = None, *, expect: type[dict] | type[list] = dict,
                 **kwargs: Any) -> Any:
        """GET → the JSON body, checked to be a dict (default) or a list; another shape is an ApiError."""
        return self.request("GET", path, params=params, **kwargs).json_as(expect)

    def unexpected(self, method: str, path: str, what: str) -> ApiError:
        """An ApiError for an answer of the wrong shape, naming the call as the client does."""
        return ApiError(self.service, f"{method.upper()} {urllib.parse.urlsplit(self.url(path)).path}", None,
                        f"unexpected response: {what}")

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
