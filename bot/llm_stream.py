"""A streamed Messages API call (the SDK's `messages.stream`) that reports progress as it goes.

Used for calls whose max_tokens is above the model's non-streaming limit (bot/models.py) and for
every call that has someone watching (premium, pipeline). The final Message is the SDK's own
accumulation of the server-sent events, so callers see the same object as from `messages.create`.
"""

from __future__ import annotations

from typing import Any

import anthropic
from anthropic.types import Message

from bot.progress import Progress


class MalformedResponse(Exception):
    """A 200 whose body is not a Message (HTML, non-JSON, wrong shape), streamed or not."""


CHARS_PER_TOKEN = 4      # progress estimate only; the final usage comes from message_delta
ACTIVITY = {"thinking": "thinking", "redacted_thinking": "thinking", "text": "writing",
            "tool_use": "calling a tool"}


def stream_message(client: anthropic.Anthropic, params: dict[str, Any], *, timeout: float, purpose: str,
                   progress: Progress | None) -> Message:
    chars = 0
    activity = "thinking"
    model = params["model"]
    with client.messages.stream(**params, timeout=timeout) as stream:
        if progress is not None:
            progress.report(purpose=purpose, model=model, activity="starting", call_tokens=0, force=True)
        for event in stream:
            kind = event.type
            if kind == "content_block_start":
                activity = ACTIVITY.get(event.content_block.type, activity)
            elif kind == "content_block_delta":
                delta = event.delta
                chars += len(getattr(delta, "text", None) or getattr(delta, "thinking", None)
                             or getattr(delta, "partial_json", None) or "")
            else:
                continue
            if progress is not None:
                progress.report(purpose=purpose, model=model, activity=activity, call_tokens=chars // CHARS_PER_TOKEN)
        try:
            message = stream.get_final_message()
        except AssertionError:            # the body held no message_start: not a Messages stream at all
            raise MalformedResponse("the stream held no message") from None
    if progress is not None:
        progress.finish_call(message.usage.output_tokens or 0)
    return message
