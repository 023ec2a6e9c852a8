"""A local fake of the Anthropic Messages API that the real `anthropic` SDK can be pointed at.

Stdlib only (no pytest import), so benchmarks can use it too::

    with FakeAnthropic() as fake:
        fake.reply_tool_use("run_script", {"name": "mrr"})
        fake.reply_text("MRR is $12k")
        client = anthropic.Anthropic(api_key="test", base_url=fake.base_url)
        ...
        assert fake.message_requests[-1].model == "claude-sonnet-5-5"

Wire format: `POST /v1/messages` (JSON, or server-sent events with `"stream": true`),
`POST /v1/messages/count_tokens`, `GET /v1/models`. With `model_behaviour=True` (the default) the
fake behaves like the 5.5 models: see tests/fakes/anthropic_models.py (rejected parameters → 400,
adaptive thinking that spends max_tokens by effort, cut answers kept for a continuation, signed
thinking blocks). `Malformed(...)` turns answer 200 with a body that is not a Message.
Errors use the real body `{"type": "error", "error": {"type", "message"}, "request_id"}`.

Which turn answers a `/v1/messages` request: the FIFO queue (`reply_text`, `reply_tool_use`, `fail`,
`delay`, `enqueue`) first; when it is empty, the responder (`set_responder`); when that is unset or
returns None, an echo of the last user text. Scripted turns apply to `/v1/messages` only.

Token estimate (deterministic, additive): the request is cut into segments in the API's prefix order —
each tool definition, each system block, each message content block — and each segment costs
ceil(len(compact JSON without `cache_control`) / chars_per_token) tokens, at least 1 (4 chars per token
by default; lower it to play a denser tokenizer, e.g. code on the 4.7+ tokenizer). `count_tokens`
returns the sum.

Prompt caching: every block carrying `cache_control` (or the last block, for a top-level
`cache_control`) is a breakpoint, and the prefix up to it is written to the cache. As on the real API
(build-with-claude/prompt-caching: hits are looked up at the block boundaries up to 20 blocks before
each breakpoint), the longest prefix written before (same model) that ends at one of those boundaries
is reported as `cache_read_input_tokens`; the rest of the prefix up to the last breakpoint as
`cache_creation_input_tokens`; the remainder as `input_tokens`. Entries never expire (call `reset()`).
Prefixes shorter than `min_cache_tokens` are not cached, as with the real API's minimum.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import socket
import socketserver
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

from tests.fakes import anthropic_models as m55

JSON = dict[str, Any]

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

DEFAULT_MODELS = ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5")


@dataclass
class Reply:
    """A successful message. `content=None` means "echo the last user text"."""

    content: list[JSON] | None = None
    stop_reason: str = "end_turn"
    model: str | None = None  # None: the requested model
    usage: Mapping[str, Any] | None = None  # overrides merged onto the computed usage
    delay: float = 0.0  # seconds to hang before answering
    chunk_delay: float = 0.0  # streaming: seconds between server-sent events

    @classmethod
    def text(cls, text: str, **kw: Any) -> Reply:
        return cls(content=[{"type": "text", "text": text}], **kw)

    @classmethod
    def tool_use(
        cls, name: str, input: JSON, *, id: str | None = None, text: str | None = None, **kw: Any
    ) -> Reply:
        """A tool call (id assigned as "toolu_fake_N" when None), optionally preceded by text."""
        blocks: list[JSON] = [{"type": "text", "text": text}] if text else []
        blocks.append({"type": "tool_use", "id": id, "name": name, "input": input})
        return cls(content=blocks, stop_reason=kw.pop("stop_reason", "tool_use"), **kw)


@dataclass
class Failure:
    """An error response with the real error body shape."""

    status: int
    error_type: str | None = None  # None: the usual type for `status`
    message: str | None = None
    retry_after: float | None = None  # sent as the `retry-after` header (seconds)
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. {"x-should-retry": "false"}
    details: JSON | None = None  # `error.details`, e.g. {"error_code": "..."}
    delay: float = 0.0


@dataclass
class Malformed:
    """A 200 whose body is not a Message: HTML, non-JSON, or JSON of the wrong shape."""

    body: str = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    content_type: str = "text/html"
    status: int = 200
    delay: float = 0.0


Turn = Reply | Failure | Malformed
Responder = Callable[[JSON], "Turn | JSON | None"]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names; `x-api-key` / `authorization` removed
    had_key: bool
    body: JSON | None
    input_tokens: int | None = None  # the fake's estimate, for message and count_tokens requests

    @property
    def model(self) -> str | None:
        return (self.body or {}).get("model")

    @property
    def system(self) -> str | list[JSON] | None:
        return (self.body or {}).get("system")

    @property
    def tools(self) -> list[JSON]:
        return (self.body or {}).get("tools") or []

    @property
    def messages(self) -> list[JSON]:
        return (self.body or {}).get("messages") or []


@dataclass
class _Response:
    status: int
    body: JSON
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    events: list[tuple[str, JSON]] | None = None  # server-sent events instead of a JSON body
    chunk_delay: float = 0.0
    raw: bytes | None = None  # a body sent as is (malformed responses)
    content_type: str = "application/json"


class _BadRequest(Exception):
    pass


# --- token estimate and cache accounting -------------------------------------------------------------


def _blocks(content: Any) -> list[JSON]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _segments(body: JSON) -> list[JSON]:
    """The request cut into cacheable blocks, in the API's prefix order: tools, system, messages."""
    segs: list[JSON] = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    segs += _blocks(body.get("system"))
    for msg in body.get("messages") or []:
        segs += [{"role": msg.get("role"), **b} for b in _blocks(msg.get("content"))]
    return segs


def _strip_cache_control(seg: JSON) -> JSON:
    return {k: v for k, v in seg.items() if k != "cache_control"}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


CHARS_PER_TOKEN = 4.0
LOOKBACK_BLOCKS = 20    # block boundaries checked for a cache hit, counting the breakpoint's own


def estimate_tokens(obj: Any, chars_per_token: float = CHARS_PER_TOKEN) -> int:
    """ceil(len(compact JSON) / chars_per_token), at least 1 — the fake's deterministic token estimate."""
    return max(1, math.ceil(len(_dumps(obj)) / chars_per_token))


def estimate_input_tokens(body: JSON, chars_per_token: float = CHARS_PER_TOKEN) -> int:
    """Total input tokens of a request, as `count_tokens` reports them."""
    return sum(estimate_tokens(_strip_cache_control(s), chars_per_token) for s in _segments(body))


# --- the fake ----------------------------------------------------------------------------------------


class FakeAnthropic:
    """Threaded local HTTP server speaking the Anthropic Messages wire format. See the module docstring."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        min_cache_tokens: int = 0,
        models: Iterable[str] = DEFAULT_MODELS,
        chars_per_token: float = CHARS_PER_TOKEN,
        seconds_per_output_token: float = 0.0,
        model_behaviour: bool = True,
        thinking_tokens: Mapping[str, int] | None = None,
    ) -> None:
        self.model_behaviour = model_behaviour  # the 5.5 models' rules, thinking and cuts (anthropic_models.py)
        self.thinking_tokens = dict(thinking_tokens or m55.THINKING_TOKENS)
        self._signed_tool_uses: dict[str, str] = {}  # tool_use id → the signature of its turn's thinking
        self._remainders: dict[str, list[JSON]] = {}  # a cut turn's signature → the rest of its answer
        self.api_key = api_key  # None: any non-empty key is accepted
        # a fixed generation rate: each answer hangs output_tokens × this before it is sent
        self.seconds_per_output_token = seconds_per_output_token
        self.in_flight = 0  # /v1/messages requests being answered right now (responder, delay)
        self.max_in_flight = 0  # the most at once since start/reset: concurrency, seen at the server
        self.min_cache_tokens = min_cache_tokens
        self.chars_per_token = chars_per_token
        self.models = list(models)
        self.requests: list[RecordedRequest] = []
        self.errors: list[Exception] = []  # exceptions raised by responders
        self._queue: deque[Turn] = deque()
        self._responder: Responder | None = None
        self._cache: set[str] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-anthropic",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes handlers hanging in a delay
        self._server.shutdown()
        with self._lock:
            conns = dict(self._conns)
        for sock, thread in conns.items():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # unblocks keep-alive reads
            thread.join(timeout=1)
        self._server.server_close()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeAnthropic is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # scripting

    def enqueue(self, *turns: Turn) -> None:
        with self._lock:
            self._queue.extend(turns)

    def reply_text(
        self,
        text: str,
        *,
        model: str | None = None,
        usage: Mapping[str, Any] | None = None,
        stop_reason: str = "end_turn",
        delay: float = 0.0,
    ) -> Reply:
        turn = Reply.text(text, model=model, usage=usage, stop_reason=stop_reason, delay=delay)
        self.enqueue(turn)
        return turn

    def reply_tool_use(
        self,
        name: str,
        input: JSON,
        *,
        id: str | None = None,
        text: str | None = None,
        model: str | None = None,
        usage: Mapping[str, Any] | None = None,
        delay: float = 0.0,
    ) -> Reply:
        turn = Reply.tool_use(name, input, id=id, text=text, model=model, usage=usage, delay=delay)
        self.enqueue(turn)
        return turn

    def fail(
        self,
        status: int,
        error_type: str | None = None,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        details: JSON | None = None,
        delay: float = 0.0,
    ) -> Failure:
        turn = Failure(status, error_type, message, retry_after, dict(headers or {}), details, delay)
        self.enqueue(turn)
        return turn

    def delay(self, seconds: float, then: Turn | None = None) -> Turn:
        """Hang `seconds` before answering the next request (with `then`, or the default echo)."""
        turn = then if then is not None else Reply()
        turn.delay = seconds
        self.enqueue(turn)
        return turn

    def set_responder(self, fn: Responder | None) -> None:
        """`fn(request_json)` answers when the queue is empty: a Turn, a dict of message fields laid over
        the default message (e.g. {"content": [...], "stop_reason": "tool_use"}), or None for the echo."""
        self._responder = fn

    def reset(self) -> None:
        """Forget queued turns, the responder, recorded requests and the prompt cache."""
        with self._lock:
            self._queue.clear()
            self._responder = None
            self.requests.clear()
            self._cache.clear()
            self.max_in_flight = 0

    # inspection

    @property
    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/messages"]

    @property
    def pending(self) -> int:
        return len(self._queue)

    # request handling (called on handler threads)

    def _handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> _Response:
        path = urlsplit(target).path
        hdrs = {k.lower(): v for k, v in headers.items()}
        key = hdrs.pop("x-api-key", "").strip()
        auth = hdrs.pop("authorization", "")
        if not key and auth.lower().startswith("bearer "):  # SDK 2.x sends api_key as a Bearer token
            key = auth[7:].strip()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = RecordedRequest(method, path, hdrs, bool(key), body)
        with self._lock:
            self.requests.append(record)
        try:
            if not key:
                return _error(401, "fake: no API key sent (x-api-key or Authorization: Bearer)")
            if self.api_key is not None and key != self.api_key:
                return _error(401, "invalid x-api-key")
            if "anthropic-version" not in hdrs:
                return _error(400, "anthropic-version: header is required")
            if raw and body is None:
                raise _BadRequest("fake: request body is not valid JSON")
            if (method, path) == ("POST", "/v1/messages"):
                return self._messages(_validated(body, needs_max_tokens=True), record)
            if (method, path) == ("POST", "/v1/messages/count_tokens"):
                body = _validated(body, needs_max_tokens=False)
                record.input_tokens = estimate_input_tokens(body, self.chars_per_token)
                return _Response(200, {"input_tokens": record.input_tokens})
            if (method, path) == ("GET", "/v1/models"):
                return _Response(200, self._model_list())
            return _error(404, f"fake: no route for {method} {path}")
        except _BadRequest as err:
            return _error(400, str(err))
        except Exception as err:  # a bug in a responder: answer 500 and keep it for the test to see
            self.errors.append(err)
            return _error(500, f"fake: {err!r}")

    def _messages(self, body: JSON, record: RecordedRequest) -> _Response:
        record.input_tokens = estimate_input_tokens(body, self.chars_per_token)
        _check_output_config(body)
        if self.model_behaviour:
            try:
                m55.check_request(body)
                m55.check_thinking(body, self._signed_tool_uses)
            except m55.Rejected as err:
                raise _BadRequest(str(err)) from None
        turn: Turn | JSON | None = self._continuation(body)
        with self._lock:
            if turn is None and self._queue:
                turn = self._queue.popleft()
        if turn is None and self._responder is not None:
            turn = self._responder(body)
        if isinstance(turn, Failure):
            return self._failure(turn)
        if isinstance(turn, Malformed):
            return _Response(turn.status, {}, {}, turn.delay, raw=turn.body.encode(), content_type=turn.content_type)
        if isinstance(turn, dict):
            turn = Reply(
                **{k: v for k, v in turn.items() if k in ("content", "stop_reason", "model", "usage")}
            )
        reply = turn or Reply()
        if reply.content is not None:
            content = [dict(b) for b in reply.content]
        else:
            content = _structured(body) or _echo(body)
        for block in content:
            if block.get("type") == "tool_use" and not block.get("id"):
                block["id"] = f"toolu_fake_{next(self._ids):06d}"
        stop_reason = reply.stop_reason
        output_tokens = sum(estimate_tokens(b, self.chars_per_token) for b in content)
        if self.model_behaviour and m55.thinks(body):
            content, output_tokens, cut = self._think(body, content)
            stop_reason = "max_tokens" if cut else stop_reason
        usage: JSON = {**self._usage(body), "output_tokens": output_tokens}
        usage.update(reply.usage or {})
        message = {
            "id": f"msg_fake_{next(self._ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": reply.model or body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        headers = {"request-id": f"req_fake_{next(self._ids):06d}"}
        delay = reply.delay + usage["output_tokens"] * self.seconds_per_output_token
        if body.get("stream"):
            return _Response(200, message, headers, delay, events=m55.sse(message), chunk_delay=reply.chunk_delay)
        return _Response(200, message, headers, delay)

    def _think(self, body: JSON, content: list[JSON]) -> tuple[list[JSON], int, bool]:
        """Adaptive thinking first, out of max_tokens; what does not fit is cut and kept for a continuation."""
        budget = int(body["max_tokens"])
        think = min(m55.thinking_tokens(body, self.thinking_tokens), budget)
        text = ""   # display "omitted", unless the scripted turn brings its own (summarized) thinking
        if content and content[0].get("type") == "thinking":
            text, content = content[0].get("thinking", ""), content[1:]
        block = {"type": "thinking", "thinking": text,
                 "signature": m55.signed(body["model"], body["messages"], think, text)}
        kept, rest, cut = m55.fit(content, budget - think, lambda b: estimate_tokens(b, self.chars_per_token))
        if think >= budget:
            kept, rest, cut = [], content, True
        with self._lock:
            for b in kept:
                if b.get("type") == "tool_use":
                    self._signed_tool_uses[b["id"]] = block["signature"]
            if cut and rest:
                self._remainders[block["signature"]] = rest
        spent = think + sum(estimate_tokens(b, self.chars_per_token) for b in kept)
        return [block, *kept], spent, cut

    def _continuation(self, body: JSON) -> Reply | None:
        """The rest of a cut answer, when this request sends the cut turn back with a new user turn."""
        msgs = body["messages"]
        if not self.model_behaviour or len(msgs) < 2 or msgs[-2].get("role") != "assistant":
            return None
        sigs = [b.get("signature") for b in _blocks(msgs[-2].get("content")) if b.get("type") == "thinking"]
        with self._lock:
            rest = next((self._remainders.pop(s) for s in sigs if s in self._remainders), None)
        return Reply(content=rest, stop_reason="tool_use" if any(b.get("type") == "tool_use" for b in rest)
                     else "end_turn") if rest else None

    def _failure(self, turn: Failure) -> _Response:
        resp = _error(turn.status, turn.message, turn.error_type, turn.details)
        headers = dict(resp.headers)
        if turn.retry_after is not None:
            headers["retry-after"] = f"{turn.retry_after:g}"
        headers.update(turn.headers)
        return _Response(resp.status, resp.body, headers, turn.delay)

    def _usage(self, body: JSON) -> JSON:
        raw = _segments(body)
        segs = [_strip_cache_control(s) for s in raw]
        marks: dict[int, Any] = {i: s["cache_control"] for i, s in enumerate(raw) if s.get("cache_control")}
        if body.get("cache_control") and raw:
            marks.setdefault(len(raw) - 1, body["cache_control"])
        cumulative = list(itertools.accumulate(estimate_tokens(s, self.chars_per_token) for s in segs))
        breakpoints = sorted(i for i in marks if cumulative[i] >= self.min_cache_tokens)
        # a read is looked up at every block boundary up to LOOKBACK_BLOCKS before a breakpoint (how a
        # moving breakpoint on a conversation's last message finds the previous turn's entry); entries
        # are written at breakpoints only
        looked = sorted({j for i in breakpoints for j in range(max(0, i - LOOKBACK_BLOCKS + 1), i + 1)
                         if cumulative[j] >= self.min_cache_tokens})
        keys = {j: hashlib.sha256(_dumps([body["model"], segs[: j + 1]]).encode()).hexdigest() for j in looked}
        read = write = 0
        with self._lock:
            hits = [j for j in looked if keys[j] in self._cache]
            if hits:
                read = cumulative[hits[-1]]
            if breakpoints and keys[breakpoints[-1]] not in self._cache:
                write = cumulative[breakpoints[-1]] - read
            self._cache.update(keys[i] for i in breakpoints)
        one_hour = any(isinstance(cc, dict) and cc.get("ttl") == "1h" for cc in marks.values())
        return {
            "input_tokens": (cumulative[-1] if cumulative else 0) - read - write,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "cache_creation": {  # simplification: the whole write goes to one TTL bucket
                "ephemeral_5m_input_tokens": 0 if one_hour else write,
                "ephemeral_1h_input_tokens": write if one_hour else 0,
            },
        }

    def _model_list(self) -> JSON:
        data = [
            {
                "type": "model",
                "id": m,
                "display_name": m,
                "created_at": "2026-01-01T00:00:00Z",
                "lifecycle": "active",
            }
            for m in self.models
        ]
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return {"data": data, "has_more": False, "first_id": first, "last_id": last}


def _error(
    status: int, message: str | None = None, error_type: str | None = None, details: JSON | None = None
) -> _Response:
    error_type = error_type or ERROR_TYPES.get(status, "api_error")
    error: JSON = {"type": error_type, "message": message or f"fake {error_type}"}
    if details is not None:
        error["details"] = details
    request_id = "req_fake_error"
    return _Response(
        status, {"type": "error", "error": error, "request_id": request_id}, {"request-id": request_id}
    )


def _echo(body: JSON) -> list[JSON]:
    """The default answer: echo the last user text (or "ok" after a tool result)."""
    for msg in reversed(body["messages"]):
        if msg.get("role") == "user":
            texts = [b.get("text", "") for b in _blocks(msg.get("content")) if b.get("type") == "text"]
            if texts:
                return [{"type": "text", "text": "echo: " + " ".join(texts)[:200]}]
            break
    return [{"type": "text", "text": "ok"}]


def _check_output_config(body: JSON) -> None:
    """`output_config.format` as structured outputs take it: {type: json_schema, schema}, with
    `additionalProperties: false` on every object (the API's JSON-schema subset)."""
    fmt = (body.get("output_config") or {}).get("format")
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
        raise _BadRequest("output_config.format: expected {type: 'json_schema', schema: {...}}")
    for path, node in _schema_nodes(fmt["schema"], "schema"):
        if node.get("type") == "object" and node.get("additionalProperties") is not False:
            raise _BadRequest(f"output_config.format.{path}: For 'object' type, 'additionalProperties' "
                              "must be explicitly set to false")


def _schema_nodes(node: Any, path: str) -> Iterable[tuple[str, JSON]]:
    if not isinstance(node, dict):
        return
    yield path, node
    for key in ("properties", "$defs"):
        for name, child in (node.get(key) or {}).items():
            yield from _schema_nodes(child, f"{path}.{key}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _schema_nodes(node["items"], f"{path}.items")
    for key in ("anyOf", "allOf"):
        for i, child in enumerate(node.get(key) or []):
            yield from _schema_nodes(child, f"{path}.{key}.{i}")


def _structured(body: JSON) -> list[JSON] | None:
    """Unscripted answer to a structured-output request: the smallest instance of its schema, as the
    constrained decoder would emit it (one text block of JSON)."""
    fmt = (body.get("output_config") or {}).get("format")
    if not isinstance(fmt, dict):
        return None
    schema = fmt["schema"]
    return [{"type": "text", "text": json.dumps(_instance(schema, schema.get("$defs") or {}))}]


def _instance(node: JSON, defs: JSON) -> Any:
    if "$ref" in node:
        return _instance(defs.get(node["$ref"].rsplit("/", 1)[-1], {}), defs)
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return node["enum"][0]
    if node.get("anyOf"):
        return _instance(node["anyOf"][0], defs)
    kind = node.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        props = node.get("properties") or {}
        return {k: _instance(props[k], defs) for k in node.get("required") or [] if k in props}
    return {"array": [], "string": "", "integer": 0, "number": 0, "boolean": False}.get(kind)


def _validated(body: JSON | None, *, needs_max_tokens: bool) -> JSON:
    """The subset of the API's request validation that catches real client bugs."""
    if not isinstance(body, dict):
        raise _BadRequest("fake: request body must be a JSON object")
    required = ["model", "messages"] + (["max_tokens"] if needs_max_tokens else [])
    for name in required:
        if name not in body:
            raise _BadRequest(f"{name}: Field required")
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("messages: at least one message is required")
    for i, tool in enumerate(body.get("tools") or []):
        if not tool.get("name"):
            raise _BadRequest(f"tools.{i}.name: Field required")
        if tool.get("type") in (None, "custom") and "input_schema" not in tool:
            raise _BadRequest(f"tools.{i}.input_schema: Field required")
    previous_tool_uses: set[str] = set()
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, dict) else None
        if role not in ("user", "assistant"):
            raise _BadRequest(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        blocks = _blocks(msg.get("content"))
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        for j, tool_use_id in enumerate(results):
            if tool_use_id not in previous_tool_uses:
                raise _BadRequest(
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{tool_use_id}. Each `tool_result` block must have a corresponding `tool_use` block "
                    "in the previous message."
                )
        missing = sorted(previous_tool_uses - set(results))
        if missing:
            raise _BadRequest(
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block "
                "in the next message."
            )
        previous_tool_uses = (
            {b.get("id") for b in blocks if b.get("type") == "tool_use"} if role == "assistant" else set()
        )
    return body


# --- HTTP plumbing -----------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    def __init__(self, fake: FakeAnthropic) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skip HTTPServer's getfqdn() reverse lookup
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.fake._lock:
            self.server.fake._conns[self.connection] = threading.current_thread()

    def finish(self) -> None:
        with self.server.fake._lock:
            self.server.fake._conns.pop(self.connection, None)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        counted = urlsplit(self.path).path == "/v1/messages"
        if counted:
            with fake._lock:
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            resp = fake._handle(self.command, self.path, self.headers, raw)
            stopped = bool(resp.delay) and fake._stopping.wait(resp.delay)
        finally:
            if counted:
                with fake._lock:
                    fake.in_flight -= 1
        if stopped:
            self.close_connection = True
            return
        if resp.events is not None:
            self._stream(resp)
            return
        payload = resp.raw if resp.raw is not None else json.dumps(resp.body).encode()
        try:
            self.send_response(resp.status)
            self.send_header("content-type", resp.content_type)
            self.send_header("content-length", str(len(payload)))
            for name, value in resp.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (e.g. its timeout fired during a delay)
            self.close_connection = True

    def _stream(self, resp: _Response) -> None:
        """Server-sent events, then close (no content-length: the body ends with the connection)."""
        fake = self.server.fake
        self.close_connection = True
        try:
            self.send_response(resp.status)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            for name, value in resp.headers.items():
                self.send_header(name, value)
            self.end_headers()
            for event, data in resp.events or []:
                if resp.chunk_delay and fake._stopping.wait(resp.chunk_delay):
                    return
                self.wfile.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass
