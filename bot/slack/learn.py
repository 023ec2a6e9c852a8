"""`/ops learn` in Slack: the current suggestions with Apply / Skip buttons, for admins (BOT_ADMINS) only.

Applying writes learned.yaml exactly as `bot learn --apply` does (bot/learn_ops.py), then this process
reloads its pre-router. Both the command and every click check the clicking user, not just who saw it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot import learn_ops
from bot.mrkdwn import escape

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.pipeline import OpsBot
    from bot.slack.host import SlackHost

APPLY_ACTION = "opsbot_learn_apply"
SKIP_ACTION = "opsbot_learn_skip"
MAX_SHOWN = 15                  # 3 blocks each, under Slack's 50 per message


def refusal(bot: OpsBot) -> str:
    if not bot.settings.admins:
        return ("Only admins can review learned phrasings, and none are configured: set BOT_ADMINS "
                "(comma-separated Slack user ids).")
    return "Only admins (BOT_ADMINS) can review learned phrasings; ask one of them to run `/ops learn`."


def ops_learn(bot: OpsBot, user: str | None) -> tuple[str, list[dict[str, Any]] | None]:
    """The answer to `/ops learn`: a text (console) and Block Kit with Apply / Skip per suggestion."""
    if not learn_ops.is_admin(bot, user):
        return refusal(bot), None
    result = learn_ops.suggestions(bot)
    found = result.suggestions
    head = (f"*{len(found)} phrasing(s) the orchestrator answered with one read script* (last 30 days, "
            f"{sum(s.support for s in found)} requests, {len(result.refused)} refused). Apply one and it is "
            "answered at 0 tokens from now on (written to `learned.yaml`).")
    if not found:
        return "Nothing to learn right now: no request in the last 30 days needs a new phrasing.", None
    lines = [head] + [f"• `{s.script}` ← “{escape(s.example)}” ({s.support}×)" for s in found] + [
        "Apply them with the buttons in Slack, or `bot learn --apply` in a terminal."]
    blocks: list[Any] = [SectionBlock(text=MarkdownTextObject(text=head))]
    for i, s in enumerate(found[:MAX_SHOWN]):
        blocks.append(SectionBlock(block_id=f"learn-{i}", text=MarkdownTextObject(
            text=f"`{s.script}` ← “{escape(s.example)}”\n_{s.support} request(s): {', '.join(s.requests[:5])}_")))
        blocks.append(ActionsBlock(block_id=f"learn-actions-{i}", elements=[
            ButtonElement(text="Apply", action_id=APPLY_ACTION, value=s.key[:2000], style="primary"),
            ButtonElement(text="Skip", action_id=SKIP_ACTION, value=s.key[:2000]),
        ]))
    if len(found) > MAX_SHOWN:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"{len(found) - MAX_SHOWN} more: `bot learn` lists them all.")]))
    return "\n".join(lines), [b.to_dict() for b in blocks]


def register(app: App, sb: SlackHost) -> None:
    """The Apply / Skip button listeners on the Bolt app."""
    def on_click(apply: bool) -> Callable[..., None]:
        def listener(ack: Callable, body: dict, respond: Callable) -> None:
            ack()
            from bot.slack.delivery import dedupe_key

            sb.enqueue(_clicked, sb, body, respond, apply, key=dedupe_key(body))
        return listener

    app.action(APPLY_ACTION)(on_click(True))
    app.action(SKIP_ACTION)(on_click(False))


def _clicked(sb: SlackHost, body: dict, respond: Callable, apply: bool) -> None:
    user = (body.get("user") or {}).get("id")
    key = (body.get("actions") or [{}])[0].get("value") or ""
    if not learn_ops.is_admin(sb.bot, user) or user is None:
        respond(response_type="ephemeral", replace_original=False, text=refusal(sb.bot))
        return
    text = learn_ops.apply_one(sb.bot, key) if apply else learn_ops.skip_one(sb.bot, key, user)
    respond(response_type="ephemeral", replace_original=False, text=escape(text))
