"""Block Kit rendering (slack_sdk.models.blocks): answers with a context line and a Why? button,
confirmation prompts, the decision record, and plain mrkdwn messages split to Slack's limits."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.confirmations import PendingConfirmation
from bot.mrkdwn import sanitize
from bot.request import Reply

CONFIRM_ACTION = "opsbot_confirm"
CANCEL_ACTION = "opsbot_cancel"
WHY_ACTION = "opsbot_why"

SECTION_LIMIT = 3000          # Slack's limit for a section's text
MAX_BLOCKS = 50               # per message
INLINE_LIMIT = 3000           # longer answers go up as a file
PREVIEW_CHARS = 700
FALLBACK_CHARS = 300          # the notification text


def _dicts(blocks: list[Block]) -> list[dict[str, Any]]:
    return [b.to_dict() for b in blocks]


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Chunks of at most `limit` characters, cut at line ends where possible."""
    text = text or " "
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= limit // 2:
            cut = limit
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n")
    chunks.append(text)
    return [c if c.strip() else " " for c in chunks]


def fallback(text: str) -> str:
    text = (text or "").strip()
    return text if len(text) <= FALLBACK_CHARS else text[:FALLBACK_CHARS - 1] + "…"


def mrkdwn_blocks(text: str, *, max_blocks: int = MAX_BLOCKS) -> list[dict[str, Any]]:
    chunks = split_text(text)
    if len(chunks) > max_blocks:
        chunks = chunks[:max_blocks - 1] + ["_… more than fits in one message._"]
    return _dicts([SectionBlock(text=MarkdownTextObject(text=c)) for c in chunks])


def ephemeral(text: str) -> dict[str, Any]:
    """An ephemeral answer (an ack or a response_url body): the fallback text and the text as mrkdwn sections."""
    return {"response_type": "ephemeral", "text": fallback(text), "blocks": mrkdwn_blocks(text)}


def is_long(reply: Reply) -> bool:
    return reply.artifact is not None or len(reply.text) > INLINE_LIMIT


def context_line(reply: Reply, requested_by: str | None = None, via: str | None = None) -> str:
    line = reply.why_line()
    if reply.outcome not in ("ok", "awaiting_confirmation"):
        line += f" · {reply.outcome}"
    if requested_by:
        line = f"<@{requested_by}>{' via ' + via if via else ''} · " + line
    return line


def answer_blocks(reply: Reply, *, body: str | None = None, requested_by: str | None = None,
                  via: str | None = None) -> list[dict[str, Any]]:
    """The answer, then a small context line (tier · model · tokens · cost · time) and a Why? button."""
    chunks = split_text(reply.text if body is None else body)[: MAX_BLOCKS - 2]
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=c)) for c in chunks]
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=context_line(reply, requested_by, via))]))
    blocks.append(ActionsBlock(block_id="opsbot_why", elements=[
        ButtonElement(text="Why?", action_id=WHY_ACTION, value=reply.request_id)]))
    return _dicts(blocks)


def long_summary(reply: Reply, filename: str, content: str) -> str:
    """What the message says when the full output goes up as a file: a short preview and a pointer."""
    own = (reply.text or "").strip()
    if own and len(own) <= PREVIEW_CHARS and own != content.strip():
        head = own                                   # the tier wrote its own summary of the attachment
    else:
        cut = content[:PREVIEW_CHARS]
        if len(content) > PREVIEW_CHARS and "\n" in cut:
            cut = cut.rsplit("\n", 1)[0]
        head = "```" + (cut.rstrip().replace("```", "'''") or " ") + "```\n…"
    lines = content.count("\n") + 1
    size = f"{len(content.encode()) / 1024:.1f} KB" if len(content) >= 1024 else f"{len(content)} bytes"
    return f"{head}\n_Full output ({lines:,} lines, {size}) is attached as `{filename}`._"


def confirmation_blocks(reply: Reply, pending: PendingConfirmation, redact=lambda text: text) -> list[dict[str, Any]]:
    """Exactly what will run, and Confirm/Cancel for the requester (the value is the confirmation id)."""
    text = (f":warning: `{pending.script}` changes things. This will run:\n```{sanitize(redact(pending.command()))}```\n"
            f"Only <@{pending.user}> can confirm; this expires in 10 minutes.")
    return _dicts([
        SectionBlock(text=MarkdownTextObject(text=text)),
        ActionsBlock(block_id="opsbot_confirm", elements=[
            ButtonElement(text="Confirm", action_id=CONFIRM_ACTION, value=pending.id, style="danger"),
            ButtonElement(text="Cancel", action_id=CANCEL_ACTION, value=pending.id),
        ]),
        ContextBlock(elements=[MarkdownTextObject(text=f"request `{reply.request_id}` · {reply.why_line()}")]),
    ])


def _candidates(raw: str | None) -> str:
    try:
        items = json.loads(raw or "[]")
    except ValueError:
        return ""
    out = []
    for item in items[:5]:
        if isinstance(item, list | tuple) and len(item) == 2:
            out.append(f"`{item[0]}` {float(item[1]):.2f}")
        elif isinstance(item, dict) and "script" in item:
            out.append(f"`{item['script']}` {float(item.get('score', 0)):.2f}")
        else:
            out.append(f"`{item}`")
    return ", ".join(out)


def _clip(text: str | None, limit: int = 300) -> str:
    text = sanitize((text or "").replace("```", "'''").strip())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def why_text(request: dict[str, Any] | None, decisions: list[dict[str, Any]], llm_calls: list[dict[str, Any]],
             script_runs: list[dict[str, Any]] | None = None) -> str:
    """The decision record of one request, for the Why? button (already redacted in the ledger)."""
    if request is None:
        return "I have no record of that request."
    lines = [f"*Why this answer* — request `{request['id']}`"]
    if not decisions:
        lines.append("• no tier decision was recorded")
    for d in decisions:
        head = f"• *{d['tier']}* decided by {d['decided_by']}"
        if d.get("script"):
            head += f" → `{d['script']}`"
        if d.get("skill"):
            head += f" → skill `{d['skill']}`"
        if d.get("score"):
            head += f" (score {float(d['score']):.2f})"
        lines.append(head)
        if d.get("reason"):
            lines.append(f"   reason: {_clip(d['reason'])}")
        candidates = _candidates(d.get("candidates"))
        if candidates:
            lines.append(f"   candidates: {candidates}")
    if llm_calls:
        total_in = sum(c.get("input_tokens") or 0 for c in llm_calls)
        total_out = sum(c.get("output_tokens") or 0 for c in llm_calls)
        cost = sum(c.get("cost_usd") or 0 for c in llm_calls)
        lines.append(f"• {len(llm_calls)} LLM call(s): {total_in:,} in / {total_out:,} out tokens · ${cost:.4f}")
        for c in llm_calls[:6]:
            lines.append(f"   {c.get('purpose') or 'call'}: {c.get('model')} · {c.get('input_tokens') or 0:,} in / "
                         f"{c.get('output_tokens') or 0:,} out · {(c.get('latency_ms') or 0) / 1000:.1f} s"
                         + (f" · error: {_clip(c['error'], 80)}" if c.get("error") else ""))
    else:
        lines.append("• no LLM calls (0 tokens)")
    for run in (script_runs or [])[:3]:
        lines.append(f"• ran `{run['script']}` · {run['status']} · {(run.get('duration_ms') or 0) / 1000:.2f} s")
    outcome = request.get("outcome") or "in progress"
    latency = f" · {request['latency_ms'] / 1000:.1f} s" if request.get("latency_ms") is not None else ""
    feedback = {"down": " · feedback 👎", "up": " · feedback 👍"}.get(request.get("feedback") or "", "")
    lines.append(f"• outcome: {outcome}{latency}{feedback}")
    return "\n".join(lines)
