"""How the fake Messages API behaves like the 5.5 models (used by anthropic_server.py; stdlib only).

Written from Anthropic's pages, independently of bot/models.py, so the bot is checked against the docs
and not against itself (platform.claude.com/docs/en/models/<model>/migration-guide and overview):

- 400 `invalid_request_error` for: non-default temperature/top_p/top_k; a final assistant turn
  (prefill); `thinking: {type: enabled}`; `thinking: {type: disabled}` on Opus/Sonnet 5.5; forced
  tool use (`tool_choice` any/tool) on Opus/Sonnet 5.5; an unknown `output_config.effort`; max_tokens
  above the model's max output.
- Adaptive thinking is on by default: every answer starts with a thinking block (display "omitted":
  empty text, a signature) that spends output tokens by effort (THINKING_TOKENS) out of max_tokens.
  What does not fit is cut: stop_reason "max_tokens", and the rest of the answer is kept so a
  continuation request (the cut turn sent back + a new user turn) gets it.
- Thinking blocks are signed over (model, the conversation before them, the thinking); an assistant
  turn whose thinking block was altered, or dropped from a tool_use turn the fake signed, is a 400.
- Streaming is server-sent events: message_start, content_block_start/delta/stop (thinking with a
  signature_delta, text_delta, input_json_delta), ping, message_delta, message_stop.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
EFFORTS = ("low", "medium", "high", "xhigh", "max")
THINKING_TOKENS = {"low": 200, "medium": 1_000, "high": 3_000, "xhigh": 6_000, "max": 12_000}
_SECRET = b"fake-anthropic-thinking"


@dataclass(frozen=True)
class ModelRules:
    default_effort: str
    max_output: int = 128_000
    thinking_types: tuple[str, ...] = ("adaptive",)
    forced_tool_ok: bool = False


RULES: dict[str, ModelRules] = {
    "claude-opus-5-5": ModelRules("medium"),
    "claude-sonnet-5-5": ModelRules("high", thinking_types=("adaptive", "between_tools")),
    "claude-haiku-5-5": ModelRules("medium", forced_tool_ok=True),
}
LENIENT = ModelRules("high", thinking_types=("adaptive", "disabled", "enabled"), forced_tool_ok=True)


class Rejected(Exception):
    """A request the model refuses with 400 invalid_request_error."""


def rules_for(model: str) -> ModelRules:
    return RULES.get(model, LENIENT)


def check_request(body: JSON) -> None:
    model = str(body.get("model"))
    rules = rules_for(model)
    strict = model in RULES
    if strict:
        for name, default in (("temperature", 1.0), ("top_p", None), ("top_k", None)):
            if name in body and body[name] != default:
                raise Rejected(f"{name}: sampling parameters are not supported for this model; remove {name}.")
        if body["messages"][-1].get("role") == "assistant":
            raise Rejected("This model does not support assistant message prefill. The conversation must end "
                           "with a user message.")
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") not in rules.thinking_types:
        raise Rejected(f'"thinking.type.{thinking.get("type")}" is not supported for this model.')
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool") and not rules.forced_tool_ok:
        raise Rejected(f"tool_choice.type: '{choice.get('type')}' is not supported for this model; "
                       "use 'auto' or 'none'.")
    effort = (body.get("output_config") or {}).get("effort")
    if effort is not None and effort not in EFFORTS:
        raise Rejected(f"output_config.effort: Input should be {', '.join(repr(e) for e in EFFORTS)}")
    if strict and int(body.get("max_tokens") or 0) > rules.max_output:
        raise Rejected(f"max_tokens: {body['max_tokens']} > {rules.max_output}, the maximum allowed for {model}")


def thinks(body: JSON) -> bool:
    model = str(body.get("model"))
    thinking = body.get("thinking")
    if isinstance(thinking, dict):
        return thinking.get("type") in ("adaptive", "enabled")
    return model in RULES


def effort_of(body: JSON) -> str:
    return (body.get("output_config") or {}).get("effort") or rules_for(str(body.get("model"))).default_effort


def _strip(msgs: list[JSON]) -> list[JSON]:
    """Messages as signed: content blocks without cache_control (it may move between requests); a string
    content is the API's shorthand for one text block, so both forms sign alike."""
    out = []
    for m in msgs:
        content = m.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if isinstance(content, list):
            content = [{k: v for k, v in b.items() if k != "cache_control"} if isinstance(b, dict) else b
                       for b in content]
        out.append({"role": m.get("role"), "content": content})
    return out


def check_thinking(body: JSON, signed_tool_uses: dict[str, str]) -> None:
    """Thinking blocks must come back unchanged; a signed tool_use turn must keep its thinking block."""
    model = str(body.get("model"))
    messages = body["messages"]
    for i, msg in enumerate(messages):
        if msg.get("role") != "assistant" or not isinstance(msg.get("content"), list):
            continue
        blocks = [b for b in msg["content"] if isinstance(b, dict)]
        sigs = {b.get("signature") for b in blocks if b.get("type") == "thinking"}
        for b in blocks:
            if b.get("type") == "thinking":
                _, _, tail = str(b.get("signature", "")).rpartition(".")
                tokens = int(tail) if tail.isdigit() else -1
                if b.get("signature") != signed(model, messages[:i], tokens, b.get("thinking", "")):
                    raise Rejected(f"messages.{i}.content: Invalid `signature` in `thinking` block: thinking "
                                   "blocks must be passed back unmodified, in the same conversation.")
            if b.get("type") == "tool_use" and b.get("id") in signed_tool_uses \
                    and signed_tool_uses[b["id"]] not in sigs:
                raise Rejected(f"messages.{i}.content: the `thinking` block that preceded `tool_use` "
                               f"{b['id']} was dropped or altered; pass thinking blocks back unchanged.")


def signed(model: str, before: list[JSON], tokens: int, text: str = "") -> str:
    """A thinking block's signature, bound to the model, the conversation before it and the thinking
    itself; the tail carries the (omitted) thinking's token count so the fake can re-check it."""
    raw = json.dumps([model, _strip(before), tokens, text], sort_keys=True, separators=(",", ":")).encode()
    return f"{hashlib.sha256(_SECRET + raw).hexdigest()[:48]}.{tokens}"


def fit(content: list[JSON], room: int, cost) -> tuple[list[JSON], list[JSON], bool]:
    """(blocks that fit in `room` output tokens, what is left over, cut?). A text block is cut at a
    character; a tool_use that does not fit whole is left out."""
    kept: list[JSON] = []
    for n, block in enumerate(content):
        need = cost(block)
        if need <= room:
            kept.append(block)
            room -= need
            continue
        rest = content[n + 1:]
        if block.get("type") == "text" and room > 0:
            chars = int(room * 4)
            kept.append({**block, "text": block["text"][:chars]})
            return kept, [{**block, "text": block["text"][chars:]}, *rest], True
        return kept, [block, *rest], True
    return kept, [], False


def sse(message: JSON, chunk_chars: int = 400) -> list[tuple[str, JSON]]:
    """The server-sent events that stream `message` (the SDK accumulates them back into it)."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**message["usage"], "output_tokens": 1}}
    events: list[tuple[str, JSON]] = [("message_start", {"type": "message_start", "message": start})]
    for i, block in enumerate(message["content"]):
        kind = block["type"]
        if kind == "thinking":
            opening: JSON = {"type": "thinking", "thinking": "", "signature": ""}
        elif kind == "text":
            opening = {"type": "text", "text": ""}
        elif kind == "tool_use":
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        else:
            opening = block
        events.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": opening}))
        deltas: list[JSON] = []
        if kind == "thinking":
            text = block.get("thinking", "")
            deltas += [{"type": "thinking_delta", "thinking": text[j:j + chunk_chars]}
                       for j in range(0, len(text), chunk_chars)]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "text":
            text = block["text"]
            deltas += [{"type": "text_delta", "text": text[j:j + chunk_chars]} for j in range(0, len(text), chunk_chars)]
        elif kind == "tool_use":
            raw = json.dumps(block["input"])
            deltas += [{"type": "input_json_delta", "partial_json": raw[j:j + chunk_chars]}
                       for j in range(0, len(raw), chunk_chars)]
        for n, delta in enumerate(deltas):
            events.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}))
            if n % 8 == 7:
                events.append(("ping", {"type": "ping"}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    events.append(("ping", {"type": "ping"}))
    events.append(("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                     "usage": {"output_tokens": message["usage"]["output_tokens"]}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def thinking_tokens(body: JSON, table: dict[str, int]) -> int:
    return table.get(effort_of(body), table["medium"]) if thinks(body) else 0


def ceil_tokens(chars: int, chars_per_token: float) -> int:
    return max(1, math.ceil(chars / chars_per_token))
