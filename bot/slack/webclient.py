"""The Slack WebClient the bot uses: SLACK_API_URL honoured, 429s and transient errors retried.

slack_sdk's WebClient only retries connection errors by default. Its RateLimitErrorRetryHandler adds
up to a second of random jitter on top of Retry-After and ServerErrorRetryHandler knows only 500/503,
so the handlers here are our own: Retry-After is honoured (plus at most 100 ms of jitter, so replicas
do not retry in lockstep) unless it asks for longer than `max_wait_s`, and 500/502/503/504 are retried
with a short exponential backoff.
"""

from __future__ import annotations

import logging
import random
import time

from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RetryHandler
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 15
SERVER_ERRORS = frozenset({500, 502, 503, 504})


def _retry_after(response: HttpResponse | None) -> float | None:
    if response is None:
        return None
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(0.0, float(values[0]))
            except ValueError:
                return None
    return None


class RateLimitRetry(RetryHandler):
    """Retry HTTP 429 after the Retry-After the API asked for (default 1 s)."""

    def __init__(self, max_retry_count: int = 3, max_wait_s: float = 30.0, sleep=time.sleep):
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_s = max_wait_s
        self._sleep = sleep

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = _retry_after(response)
        return wait is None or wait <= self.max_wait_s

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        wait = _retry_after(response)
        wait = 1.0 if wait is None else wait
        log.info("Slack API rate limited (%s): retrying in %.1f s", request.url.rsplit("/", 1)[-1], wait)
        self._sleep(wait + random.uniform(0, 0.1))
        state.next_attempt_requested = True
        state.increment_current_attempt()


class _Backoff(RetryIntervalCalculator):
    def __init__(self, base_s: float = 0.2, cap_s: float = 2.0):
        self.base_s, self.cap_s = base_s, cap_s

    def calculate_sleep_duration(self, current_attempt: int) -> float:
        return min(self.cap_s, self.base_s * (2 ** current_attempt)) * random.uniform(0.5, 1.0)


class ServerErrorRetry(RetryHandler):
    """Retry 500/502/503/504 a couple of times with exponential backoff."""

    def __init__(self, max_retry_count: int = 2, base_s: float = 0.2):
        super().__init__(max_retry_count=max_retry_count, interval_calculator=_Backoff(base_s))

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return response is not None and response.status_code in SERVER_ERRORS


def retry_handlers(*, max_wait_s: float = 30.0, server_base_s: float = 0.2) -> list[RetryHandler]:
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitRetry(max_retry_count=3, max_wait_s=max_wait_s),
        ServerErrorRetry(max_retry_count=2, base_s=server_base_s),
    ]


def make_web_client(token: str, base_url: str | None = None, *, timeout: int = DEFAULT_TIMEOUT_S,
                    server_backoff_s: float = 0.2, **kwargs) -> WebClient:
    """The bot's WebClient; `base_url` is SLACK_API_URL (e.g. a proxy or a local fake), ending in /api/.
    `server_backoff_s` is the first wait before retrying a 5xx (tests against a local fake need no 0.2 s)."""
    if base_url and not base_url.endswith("/"):
        base_url += "/"
    return WebClient(token=token, base_url=base_url or WebClient.BASE_URL, timeout=timeout,
                     retry_handlers=retry_handlers(server_base_s=server_backoff_s), **kwargs)
