"""Slash commands: `/run <script> [--arg value …]` and `/ops scripts|jobs|health|stats|help`.

/run checks the command line in the listener (pure Python, microseconds), so a typo is answered in the
ack itself, ephemerally, with the script's help; a valid one is acked empty and runs on the worker pool
through the same pipeline as a mention (ACL of the requesting user, confirmation of writes, ledger).
/ops is acked at once and answered ephemerally from the pool. Help and script lists show only what the
requesting user may run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.mrkdwn import sanitize
from bot.ops_commands import OpsCommands
from bot.request import Order
from bot.slack import blocks as bk
from bot.slack.delivery import dedupe_key

if TYPE_CHECKING:
    from bot.slack.host import SlackHost

log = logging.getLogger(__name__)

RUN_USAGE = "usage: `/run <script> [--arg value …]` — e.g. `/run ops.system-load`. `/ops scripts` lists the scripts."


class Commands:
    def __init__(self, sb: SlackHost):
        self.sb = sb
        self.ops = OpsCommands(sb.bot, groups_of=sb.groups.groups_of)   # its jobs service is set by SlackBot

    @property
    def registry(self):
        return self.sb.bot.registry

    # -- /run --------------------------------------------------------------------------------------

    def check_run(self, text: str) -> tuple[str, str | None] | None:
        """(message with the help to show, script) when the command line cannot run; None when it can."""
        if not text:
            return RUN_USAGE, None
        decision = self.sb.bot.router.explicit(text)      # the same check `run …` in a message gets
        if decision.error is None:
            return None
        return f"{sanitize(decision.error)}\n{sanitize(decision.usage) or RUN_USAGE}", decision.script

    def on_run(self, ack: Callable, command: dict, respond: Callable) -> None:
        text = (command.get("text") or "").strip()
        problem = self.check_run(text)
        if problem is not None:
            message, script = problem
            ack(**bk.ephemeral(message))
            self.sb.enqueue(self._record_refusal, command, "/run " + text, message, script, key=dedupe_key(command))
            return
        ack()
        self.sb.enqueue(self._run, command, text, respond, key=dedupe_key(command))

    def _run(self, command: dict, text: str, respond: Callable) -> None:
        user, channel = command.get("user_id"), command.get("channel_id")
        incoming = self.sb.incoming("run " + text, user=user, channel=channel,
                                    event_id=f"trigger:{command.get('trigger_id')}")
        self.sb.answer(incoming, channel=channel, thread_ts=None, respond=respond, via="`/run`")

    def _record_refusal(self, command: dict, text: str, message: str, script: str | None) -> None:
        """A /run that could not even start is still a request (outcome refused), through the one path;
        the user already has the answer, in the ack."""
        reason = "/run usage error: " + self.sb.redact(message.split("\n", 1)[0])[:200]
        incoming = self.sb.incoming(text, user=command.get("user_id"), channel=command.get("channel_id"),
                                    event_id=f"trigger:{command.get('trigger_id')}")
        incoming.order = Order(reason, decided_by="command", refusal=message, script=script)
        self.sb.bot.handle(incoming)

    # -- /ops --------------------------------------------------------------------------------------

    def on_ops(self, ack: Callable, command: dict, respond: Callable) -> None:
        ack()
        self.sb.enqueue(self._ops, command, respond, key=dedupe_key(command))

    def _ops(self, command: dict, respond: Callable) -> None:
        user, channel = command.get("user_id"), command.get("channel_id")
        try:
            text, blocks = self.ops.handle(command.get("text") or "", user, channel)
        except Exception as exc:
            self.sb.fail(exc, channel=channel, thread_ts=None, user=user, respond=respond)
            return
        message = bk.ephemeral(sanitize(text))      # job errors and outputs quote upstream text
        if blocks:
            message["blocks"] = blocks[: bk.MAX_BLOCKS]
        respond(**message)
