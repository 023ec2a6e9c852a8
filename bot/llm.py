"""The one place that talks to Anthropic (official `anthropic` SDK, 2.x).

- Models are configuration (BOT_MODEL_MID, BOT_MODEL_PREMIUM); a deprecated or unknown id is logged
  at start-up (the SDK also warns on every call with a deprecated id).
- Our own retry loop (the SDK client runs with max_retries=0): 429, 529/5xx and connection errors are
  retried with jittered exponential backoff, honouring `retry-after-ms` / `retry-after` — but never
  waiting longer than `max_retry_wait_s` (SDK 2.x would obey `retry-after: 3600` literally). A longer
  retry-after fails at once so the caller can degrade. Read timeouts are not retried: the per-call
  timeout (BOT_LLM_TIMEOUT_S) is the latency bound.
- ANTHROPIC_BASE_URL is honoured (settings, else the SDK's own lookup of the same variable).
- Every attempt, failed or not, is a row in `llm_calls`: tokens (input, output, cache read, cache
  write), cost from the pricing table, latency, stop reason, error.
- Every prompt passes the redactor before it leaves the process (thinking blocks excepted: they
  must go back to the API unmodified).
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, get_args

import anthropic
from anthropic.types import Message, Model

from bot.ledger import Ledger
from bot.pricing import PriceTable
from bot.redact import Redactor, secret_values_from_env

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}


def known_models() -> list[str]:
    """Model ids the installed SDK knows (anthropic.types.Model), newest first."""
    return [m for arg in get_args(Model) for m in get_args(arg)]


def deprecated_models() -> dict[str, str]:
    """id → end-of-life date, from the table the SDK itself warns with."""
    try:
        from anthropic.resources.messages.messages import DEPRECATED_MODELS
    except ImportError:  # pragma: no cover - layout of a future SDK
        return {}
    return dict(DEPRECATED_MODELS)


def check_model(model: str, setting: str, current: str | None = None) -> str | None:
    """A warning for a deprecated or unknown model id (None when fine); `current` is the id to suggest."""
    instead = f"; set a current id such as {current}" if current and current != model else ""
    eol = deprecated_models().get(model)
    if eol:
        return f"{setting}={model} is deprecated (end of life {eol}){instead or '; pick a current id'}"
    if model not in known_models():
        return f"{setting}={model} is not a model id anthropic {anthropic.__version__} knows{instead}"
    return None


@dataclass
class Usage:
    input_tokens: int = 0          # uncached input
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_input(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total(self) -> int:
        return self.total_input + self.output_tokens

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cost_usd += other.cost_usd


@dataclass
class LLMResponse:
    message: Message
    model: str
    usage: Usage
    latency_ms: float
    attempts: int = 1

    @property
    def stop_reason(self) -> str | None:
        return self.message.stop_reason

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.message.content if b.type == "text").strip()

    @property
    def tool_uses(self) -> list[Any]:
        return [b for b in self.message.content if b.type == "tool_use"]


class LLMError(Exception):
    """A model call that failed for good (after retries). `kind` says why, for a person."""

    UNAVAILABLE = {"rate_limited", "overloaded", "server", "timeout", "connection"}

    def __init__(self, kind: str, message: str, *, model: str, status: int | None = None, attempts: int = 1):
        super().__init__(message)
        self.kind = kind
        self.model = model
        self.status = status
        self.attempts = attempts

    @property
    def unavailable(self) -> bool:
        """The model is (temporarily) not answering — worth a fallback, not a bug in the request."""
        return self.kind in self.UNAVAILABLE

    def describe(self) -> str:
        what = {"rate_limited": "is rate-limited", "overloaded": "is overloaded", "server": "had a server error",
                "timeout": "did not answer in time", "connection": "could not be reached",
                "auth": "rejected our API key", "bad_request": "rejected the request"}.get(self.kind, "failed")
        status = f" ({self.status})" if self.status else ""
        return f"{self.model} {what}{status}"


def _classify(exc: Exception) -> tuple[str, int | None]:
    if isinstance(exc, anthropic.APITimeoutError):
        return "timeout", None
    if isinstance(exc, anthropic.APIConnectionError):
        return "connection", None
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        if status == 429:
            return "rate_limited", status
        if status == 529 or getattr(exc, "type", None) == "overloaded_error":
            return "overloaded", status
        if status in (401, 403):
            return "auth", status
        if status >= 500 or status in (408, 409):
            return "server", status
        return "bad_request", status
    return "other", None


def retry_after_s(exc: Exception) -> float | None:
    """Seconds the server asked us to wait (`retry-after-ms`, `retry-after` seconds or HTTP date)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - time.time())


@dataclass
class RetryPolicy:
    max_retries: int = 3
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0
    max_retry_wait_s: float = 20.0    # a longer retry-after gives up at once (the caller degrades)

    def wait_s(self, attempt: int, exc: Exception) -> float | None:
        """How long to sleep before retry number `attempt` (1-based), or None: do not retry."""
        if attempt > self.max_retries:
            return None
        headers = getattr(getattr(exc, "response", None), "headers", None)
        if headers is not None and headers.get("x-should-retry") == "false":
            return None
        if headers is not None and headers.get("x-should-retry") != "true":
            status = _classify(exc)[1]
            if status is not None and status not in RETRYABLE_STATUS:
                return None
        asked = retry_after_s(exc)
        if asked is not None and asked > 0:
            return asked if asked <= self.max_retry_wait_s else None
        return min(self.backoff_base_s * 2 ** (attempt - 1), self.backoff_max_s) * random.uniform(0.75, 1.0)


@dataclass
class LLM:
    """Calls the Messages API with retries, redaction and accounting. Thread-safe."""

    client: anthropic.Anthropic
    pricing: PriceTable
    ledger: Ledger | None = None
    redactor: Redactor | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_settings(cls, settings: Any, *, ledger: Ledger | None = None, redactor: Redactor | None = None,
                      pricing: PriceTable | None = None, **kw: Any) -> LLM:
        client = anthropic.Anthropic(
            api_key=settings.secret("anthropic_api_key"),
            base_url=settings.anthropic_base_url or None,   # None: the SDK reads ANTHROPIC_BASE_URL itself
            max_retries=0, timeout=settings.bot_llm_timeout_s)
        for field_name in ("bot_model_mid", "bot_model_premium", "bot_model_cheap"):
            warning = check_model(getattr(settings, field_name), field_name.upper(),
                                  current=type(settings).model_fields[field_name].default)
            if warning:
                log.warning(warning)
        if redactor is None:  # a prompt never leaves unredacted, whoever builds the client
            redactor = Redactor(secret_values_from_env())
            redactor.add(settings.secret("anthropic_api_key"))
        retry = kw.pop("retry", None) or RetryPolicy(max_retries=settings.bot_llm_max_retries)
        return cls(client=client, pricing=pricing or PriceTable.load(settings.bot_pricing_file), ledger=ledger,
                   redactor=redactor, retry=retry, timeout_s=settings.bot_llm_timeout_s, **kw)

    # -- calls -------------------------------------------------------------------------------

    def create(self, *, model: str, messages: list[dict[str, Any]], max_tokens: int, purpose: str,
               system: str | list[dict[str, Any]] | None = None, tools: Iterable[dict[str, Any]] | None = None,
               tool_choice: dict[str, Any] | None = None, request_id: str | None = None,
               job_run_id: int | None = None, timeout_s: float | None = None,
               output_config: dict[str, Any] | None = None) -> LLMResponse:
        params: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": self._clean(messages)}
        if system:
            params["system"] = self._clean(system)
        if tools:
            params["tools"] = list(tools)
        if tool_choice:
            params["tool_choice"] = tool_choice
        if output_config:   # effort and/or a JSON-schema `format` (structured outputs)
            params["output_config"] = {**params.get("output_config", {}), **output_config}
        timeout = timeout_s or self.timeout_s
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                message = self.client.messages.create(**params, timeout=timeout)
            except anthropic.AnthropicError as exc:
                latency = (time.monotonic() - started) * 1000
                kind, status = _classify(exc)
                detail = self._clean(_error_text(exc, kind, status))   # it goes to the ledger and logs
                self._record(request_id, job_run_id, model, purpose, Usage(), latency, None, detail)
                wait = self.retry.wait_s(attempt, exc) if kind not in ("timeout", "other") else None
                if wait is None:
                    log.warning("%s call to %s failed after %d attempt(s): %s", purpose, model, attempt, detail)
                    raise LLMError(kind, detail, model=model, status=status, attempts=attempt) from exc
                log.info("%s call to %s: %s; retry %d in %.2fs", purpose, model, detail, attempt, wait)
                self.sleep(wait)
                continue
            latency = (time.monotonic() - started) * 1000
            usage = self.usage_of(model, message)
            self._record(request_id, job_run_id, model, purpose, usage, latency, message.stop_reason, None)
            return LLMResponse(message, model, usage, latency, attempt)

    def usage_of(self, model: str, message: Message) -> Usage:
        u = message.usage
        usage = Usage(input_tokens=u.input_tokens or 0, output_tokens=u.output_tokens or 0,
                      cache_read_tokens=u.cache_read_input_tokens or 0,
                      cache_write_tokens=u.cache_creation_input_tokens or 0)
        usage.cost_usd = self.pricing.cost(
            model, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
            cache_write_tokens=usage.cache_write_tokens, cache_read_tokens=usage.cache_read_tokens)
        return usage

    def count_tokens(self, *, model: str, messages: list[dict[str, Any]],
                     system: str | list[dict[str, Any]] | None = None,
                     tools: Iterable[dict[str, Any]] | None = None) -> int:
        """The API's token counter (free, no message is created)."""
        kw: dict[str, Any] = {"model": model, "messages": self._clean(messages)}
        if system:
            kw["system"] = self._clean(system)
        if tools:
            kw["tools"] = list(tools)
        return self.client.messages.count_tokens(**kw).input_tokens

    # -- helpers -----------------------------------------------------------------------------

    def _clean(self, value: Any) -> Any:
        return _redact_unsigned(value, self.redactor) if self.redactor is not None else value

    def _record(self, request_id: str | None, job_run_id: int | None, model: str, purpose: str, usage: Usage,
                latency_ms: float, stop_reason: str | None, error: str | None) -> None:
        if self.ledger is None:
            return
        try:
            self.ledger.record_llm_call(
                request_id=request_id, job_run_id=job_run_id, model=model, purpose=purpose,
                input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens, cache_write_tokens=usage.cache_write_tokens,
                cost_usd=round(usage.cost_usd, 8), latency_ms=round(latency_ms, 1), stop_reason=stop_reason,
                error=error)
        except Exception:  # accounting must never take a reply down with it
            log.exception("could not record an LLM call in the ledger")


def _error_text(exc: Exception, kind: str, status: int | None) -> str:
    message = getattr(exc, "api_message", None) or str(exc) or type(exc).__name__
    prefix = f"{status} " if status else ""
    return f"{prefix}{kind}: {message}"[:300]


SIGNED_BLOCKS = {"thinking", "redacted_thinking"}


def _redact_unsigned(value: Any, redactor: Redactor) -> Any:
    """Redact every string in a prompt except inside thinking blocks: the API checks those against
    their signature (a modified block is a 400), and they are the model's own output, sent back."""
    if isinstance(value, dict):
        if value.get("type") in SIGNED_BLOCKS:
            return value
        return {k: _redact_unsigned(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_unsigned(v, redactor) for v in value]
    return redactor(value) if isinstance(value, str) else value
