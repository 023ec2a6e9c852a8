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
- Every call names its effort; bot/models.py shapes each request for its model (nothing the model
  rejects is sent). Long calls stream (bot/llm_stream.py) and report progress; an answer that stops at
  max_tokens is continued with a new user turn (`complete`). A malformed 200 (HTML, non-JSON, wrong
  shape) is an LLMError of kind "malformed", recorded like any failure, and callers fall back on it.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, get_args

import anthropic
from anthropic.types import Message, Model

from bot.ledger import Ledger
from bot.llm_stream import MalformedResponse, stream_message
from bot.models import conform, profile
from bot.pricing import PriceTable
from bot.progress import Progress
from bot.redact import Redactor, secret_values_from_env

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}
CONTINUE_PROMPT = ("Your previous answer was cut off by the output limit. Continue exactly where it stopped, "
                   "without repeating anything and without any preamble.")


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
    effort: str | None = None
    streamed: bool = False
    joined_text: str | None = None       # the whole answer when it was continued
    turns: list[dict[str, Any]] = field(default_factory=list)   # continuation turns before `message`
    continuations: int = 0

    @property
    def stop_reason(self) -> str | None:
        return self.message.stop_reason

    @property
    def cut(self) -> bool:
        """Still stopped at max_tokens (after any continuations): the answer is incomplete."""
        return self.stop_reason == "max_tokens"

    @property
    def raw_text(self) -> str:
        return "".join(b.text for b in self.message.content if b.type == "text")

    @property
    def text(self) -> str:
        if self.joined_text is not None:
            return self.joined_text
        return "\n".join(b.text for b in self.message.content if b.type == "text").strip()

    @property
    def tool_uses(self) -> list[Any]:
        return [b for b in self.message.content if b.type == "tool_use"]


class LLMError(Exception):
    """A model call that failed for good (after retries). `kind` says why, for a person."""

    UNAVAILABLE = {"rate_limited", "overloaded", "server", "timeout", "connection", "malformed"}

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
                "auth": "rejected our API key", "bad_request": "rejected the request",
                "malformed": "sent a malformed response"}.get(self.kind, "failed")
        status = f" ({self.status})" if self.status else ""
        return f"{self.model} {what}{status}"


def _check_shape(message: Any) -> None:
    content = getattr(message, "content", None)
    usage = getattr(message, "usage", None)
    if not isinstance(message, Message) or not isinstance(content, list) \
            or not all(hasattr(b, "type") for b in content) or not isinstance(getattr(usage, "input_tokens", None), int) \
            or not isinstance(getattr(usage, "output_tokens", None), int):
        raise MalformedResponse(f"not a Message: {str(message)[:120]!r}")


def _continuation(purpose: str) -> int:
    _, _, n = purpose.rpartition(":continue")
    return int(n) if n.isdigit() else 0


def _classify(exc: Exception) -> tuple[str, int | None]:
    if isinstance(exc, MalformedResponse | anthropic.APIResponseValidationError | json.JSONDecodeError):
        return "malformed", None
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

    def create(self, *, model: str, messages: list[dict[str, Any]], max_tokens: int, purpose: str, effort: str,
               system: str | list[dict[str, Any]] | None = None, tools: Iterable[dict[str, Any]] | None = None,
               tool_choice: dict[str, Any] | None = None, request_id: str | None = None,
               job_run_id: int | None = None, timeout_s: float | None = None, stream: bool = False,
               progress: Progress | None = None, output_format: dict[str, Any] | None = None,
               cache_control: dict[str, Any] | None = None) -> LLMResponse:
        """One model call. `effort` is required (every call names it); the request is shaped by the
        model's profile so nothing it rejects is sent; it streams when asked, when someone watches
        (`progress`), or when max_tokens is above the model's non-streaming limit. `output_format` is
        structured output (`output_config.format`, a JSON schema). `cache_control` at the top level is
        automatic caching: the API puts the breakpoint on the last block and moves it as a conversation grows."""
        params: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": self._clean(messages)}
        if system:
            params["system"] = self._clean(system)
        if tools:
            params["tools"] = list(tools)
        if tool_choice:
            params["tool_choice"] = tool_choice
        if output_format:
            params["output_config"] = {"format": output_format}
        if cache_control:
            params["cache_control"] = cache_control
        params, changed = conform(params, effort)
        if changed:
            log.info("%s call to %s reshaped for the model: %s", purpose, model, "; ".join(changed))
        streamed = stream or progress is not None or profile(model).must_stream(params["max_tokens"])
        detail = {"effort": effort, "streamed": int(streamed), "continuation": _continuation(purpose)}
        timeout = timeout_s or self.timeout_s
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                if streamed:
                    message = stream_message(self.client, params, timeout=timeout, purpose=purpose,
                                             progress=progress)
                else:
                    message = self.client.messages.create(**params, timeout=timeout)
                _check_shape(message)
            except (anthropic.AnthropicError, MalformedResponse, json.JSONDecodeError) as exc:
                latency = (time.monotonic() - started) * 1000
                kind, status = _classify(exc)
                detail_text = self._clean(_error_text(exc, kind, status))   # it goes to the ledger and logs
                self._record(request_id, job_run_id, model, purpose, Usage(), latency, None, detail_text, detail)
                retryable = kind not in ("timeout", "other", "malformed")
                wait = self.retry.wait_s(attempt, exc) if retryable else None
                if wait is None:
                    log.warning("%s call to %s failed after %d attempt(s): %s", purpose, model, attempt, detail_text)
                    raise LLMError(kind, detail_text, model=model, status=status, attempts=attempt) from exc
                log.info("%s call to %s: %s; retry %d in %.2fs", purpose, model, detail_text, attempt, wait)
                if progress is not None:
                    progress.report(purpose=purpose, model=model, activity=f"retrying ({kind})", call_tokens=0)
                self.sleep(wait)
                continue
            latency = (time.monotonic() - started) * 1000
            usage = self.usage_of(model, message)
            self._record(request_id, job_run_id, model, purpose, usage, latency, message.stop_reason, None, detail)
            return LLMResponse(message, model, usage, latency, attempt, effort=effort, streamed=streamed)

    def complete(self, *, max_continuations: int = 2, **create: Any) -> LLMResponse:
        """`create`, and while the answer stops at max_tokens, continue it: the cut turn goes back
        unchanged (thinking blocks included) and a NEW user turn asks to continue — never a prefill.
        The result joins the text; `.turns` are the extra messages a tool loop must keep; `.cut` says
        it still ended at max_tokens after `max_continuations`."""
        first = self.create(**create)
        if first.stop_reason != "max_tokens" or first.tool_uses or max_continuations <= 0:
            return first
        messages = list(create["messages"])
        response, parts, turns = first, [first], []
        purpose = create["purpose"]
        for n in range(1, max_continuations + 1):
            turns += [response.message.to_param(), {"role": "user", "content": CONTINUE_PROMPT}]
            response = self.create(**{**create, "messages": [*messages, *turns], "purpose": f"{purpose}:continue{n}"})
            parts.append(response)
            if response.stop_reason != "max_tokens" or response.tool_uses:
                break
        usage = Usage()
        for part in parts:
            usage.add(part.usage)
        joined = "".join(p.raw_text for p in parts).strip()
        return LLMResponse(response.message, response.model, usage, sum(p.latency_ms for p in parts),
                           sum(p.attempts for p in parts), effort=response.effort, streamed=response.streamed,
                           joined_text=joined, turns=turns, continuations=len(parts) - 1)

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
                latency_ms: float, stop_reason: str | None, error: str | None, detail: dict[str, Any]) -> None:
        if self.ledger is None:
            return
        try:
            call_id = self.ledger.record_llm_call(
                request_id=request_id, job_run_id=job_run_id, model=model, purpose=purpose,
                input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens, cache_write_tokens=usage.cache_write_tokens,
                cost_usd=round(usage.cost_usd, 8), latency_ms=round(latency_ms, 1), stop_reason=stop_reason,
                error=error)
            self.ledger.set_llm_call_detail(call_id, **detail)
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
    if hasattr(value, "model_dump"):      # SDK blocks from Message.to_param(): redact them as plain data
        value = value.model_dump(exclude_none=True)
    if isinstance(value, dict):
        if value.get("type") in SIGNED_BLOCKS:
            return value
        return {k: _redact_unsigned(v, redactor) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_unsigned(v, redactor) for v in value]
    return redactor(value) if isinstance(value, str) else value
