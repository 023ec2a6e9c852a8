"""What people say back about an answer: 👍/👎 reactions (👎 on a script answer also becomes a negative
example for that script, bot/learn_ops.py) and the Why? button (the request's decision trail)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot import learn_ops
from bot.ledger import now_iso
from bot.slack import blocks as bk
from bot.slack.delivery import dedupe_key

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.slack.host import SlackHost

log = logging.getLogger(__name__)

FEEDBACK_REACTIONS = {"+1": "up", "thumbsup": "up", "-1": "down", "thumbsdown": "down"}


def register(app: App, sb: SlackHost) -> None:
    def on_reaction(body: dict, event: dict) -> None:
        if event.get("item_user") != sb.bot_user_id or (event.get("item") or {}).get("type") != "message":
            return
        feedback = FEEDBACK_REACTIONS.get((event.get("reaction") or "").split("::")[0])
        if feedback:
            sb.enqueue(record, sb, event["item"]["ts"], feedback, event.get("user"), key=dedupe_key(body))

    def on_why(ack: Callable, body: dict, respond: Callable) -> None:
        ack()
        sb.enqueue(why, sb, body, respond, key=dedupe_key(body))

    app.event("reaction_added")(on_reaction)
    app.action(bk.WHY_ACTION)(on_why)


def record(sb: SlackHost, reply_ts: str, feedback: str, user: str | None) -> None:
    request = sb.ledger.request_by_reply(reply_ts)
    if request is None:
        return
    sb.ledger.set_feedback(request["id"], feedback)
    if feedback == "down":
        learn_ops.record_negative(sb.bot, request["id"])   # that phrasing no longer runs that script
    sb.count("feedback_" + feedback)
    log.info("feedback %s on request %s from %s at %s", feedback, request["id"], user, now_iso())


def why(sb: SlackHost, body: dict, respond: Callable) -> None:
    request_id = (body.get("actions") or [{}])[0].get("value") or ""
    ledger = sb.ledger
    text = sb.redact(bk.why_text(ledger.get_request(request_id), ledger.decisions_for(request_id),
                                 ledger.llm_calls_for(request_id), ledger.script_runs_for(request_id)))
    respond(**bk.ephemeral(text), replace_original=False)
