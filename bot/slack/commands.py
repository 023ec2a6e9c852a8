"""Slash commands: `/run <script> [--arg value …]` and `/ops scripts|jobs|health|stats|help`.

/run checks the command line in the listener (pure Python, microseconds), so a typo is answered in the
ack itself, ephemerally, with the script's help; a valid one is acked empty and runs on the worker pool
through the same pipeline as a mention (ACL of the requesting user, confirmation of writes, ledger).
/ops is acked at once and answered ephemerally from the pool. Help and script lists show only what the
requesting user may run.
"""

from __future__ import annotations

import difflib
import logging
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.registry import ArgError, ScriptEntry, split_command
from bot.slack import blocks as bk
from bot.slack.app import dedupe_key

if TYPE_CHECKING:
    from bot.slack.app import SlackBot

log = logging.getLogger(__name__)

RUN_USAGE = "usage: `/run <script> [--arg value …]` — e.g. `/run ops.system-load`. `/ops scripts` lists the scripts."
OPS_USAGE = ("usage: `/ops scripts [service]` · `/ops jobs [list|run|enable|disable|history] [name]` · "
             "`/ops health` · `/ops stats [24h|7d]` · `/ops help`")


def _ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": bk.fallback(text), "blocks": bk.mrkdwn_blocks(text)}


class Commands:
    def __init__(self, sb: SlackBot):
        self.sb = sb

    @property
    def registry(self):
        return self.sb.bot.registry

    # -- /run --------------------------------------------------------------------------------------

    def check_run(self, text: str) -> tuple[str, str | None] | None:
        """(message with the help to show, script) when the command line cannot run; None when it can."""
        if not text:
            return RUN_USAGE, None
        try:
            tokens = split_command(text)
        except ArgError as exc:
            return f"{exc}\n{RUN_USAGE}", None
        name = tokens[0].lower()
        entry = self.registry.script(name)
        if entry is None:
            close = difflib.get_close_matches(name, list(self.registry.scripts), n=3, cutoff=0.8)
            hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
            return f"There is no script `{name}`.{hint} `/ops scripts` lists what you can run.", None
        try:
            entry.validate_args(entry.parse_argv(tokens[1:]))
        except ArgError as exc:
            return f"`{entry.name}`: {exc}\n{exc.usage or entry.help_text()}", entry.name
        return None

    def on_run(self, ack: Callable, command: dict, respond: Callable) -> None:
        text = (command.get("text") or "").strip()
        problem = self.check_run(text)
        if problem is not None:
            message, script = problem
            ack(**_ephemeral(message))
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
        """A /run that could not even start is still a request in the ledger (outcome refused)."""
        ledger = self.sb.ledger
        rid = ledger.start_request(source="slack", text=self.sb.redact(text), user=command.get("user_id"),
                                   channel=command.get("channel_id"), event_id=f"trigger:{command.get('trigger_id')}")
        ledger.record_decision(rid, tier="script", decided_by="command", script=script,
                               reason="/run usage error: " + self.sb.redact(message.split("\n", 1)[0])[:200])
        ledger.finish_request(rid, "refused", error="usage")

    # -- /ops --------------------------------------------------------------------------------------

    def on_ops(self, ack: Callable, command: dict, respond: Callable) -> None:
        ack()
        self.sb.enqueue(self._ops, command, respond, key=dedupe_key(command))

    def _ops(self, command: dict, respond: Callable) -> None:
        try:
            args = shlex.split(command.get("text") or "")
        except ValueError:
            args = (command.get("text") or "").split()
        verb = args[0].lower() if args else "help"
        user, channel = command.get("user_id"), command.get("channel_id")
        try:
            if verb in ("help", "?"):
                text, blocks = self.help_text(user, channel), None
            elif verb == "scripts":
                text, blocks = self.scripts_text(user, channel, args[1] if len(args) > 1 else None), None
            elif verb == "stats":
                text, blocks = self.stats_text(args[1] if len(args) > 1 else "24h"), None
            elif verb == "jobs":
                text, blocks = self.jobs(args[1:], user, channel)
            elif verb == "health":
                text, blocks = self.health()
            else:
                text, blocks = f"I don't know `/ops {verb}`.\n{OPS_USAGE}", None
        except Exception as exc:
            self.sb.fail(exc, channel=channel, thread_ts=None, user=user, respond=respond)
            return
        message = _ephemeral(text)
        if blocks:
            message["blocks"] = blocks[: bk.MAX_BLOCKS]
        respond(**message)

    def permitted(self, user: str | None, channel: str | None) -> list[ScriptEntry]:
        groups = self.sb.groups.groups_of(user)
        return [e for e in self.registry.scripts.values() if e.allowed.permits(user, channel, groups)]

    def help_text(self, user: str | None, channel: str | None) -> str:
        entries = self.permitted(user, channel)
        by_service: dict[str, list[str]] = {}
        for entry in entries:
            by_service.setdefault(entry.service, []).append(entry.name.split(".", 1)[1] + ("*" if entry.is_write else ""))
        lines = [
            "*opsbot* — ops answers on the cheapest tier that works.",
            "• Mention me (`@opsbot what's our MRR?`) or DM me; I answer in the thread, and follow up there.",
            "• `/run <script> [--arg value …]` runs a script; scripts marked * change things and ask you to confirm.",
            "• `/ops scripts [service]` — what you can run, with arguments",
            "• `/ops jobs [list|run|enable|disable|history] [name]` — scheduled jobs · `/ops health`",
            "• `/ops stats [24h|7d]` — requests by tier, tokens, cost, 👎",
            "• React 👍/👎 on my answers so I learn which tier got it right; *Why?* shows how I decided.",
        ]
        if entries:
            lines.append(f"\n*You can run {len(entries)} scripts here:*")
            lines += [f"*{service}*: {', '.join(names)}" for service, names in sorted(by_service.items())]
        else:
            lines.append("\nThere are no scripts you may run in this channel.")
        return "\n".join(lines)

    def scripts_text(self, user: str | None, channel: str | None, service: str | None) -> str:
        entries = self.permitted(user, channel)
        if service:
            service = service.lower().rstrip(".")
            entries = [e for e in entries if e.service == service or e.name == service]
            if not entries:
                services = sorted({e.service for e in self.permitted(user, channel)})
                return f"No scripts you may run in `{service}`. Services: {', '.join(services) or 'none'}."
            return "\n\n".join(e.help_text() for e in entries)
        if not entries:
            return "There are no scripts you may run in this channel."
        lines = [f"*{len(entries)} scripts you can run* (`/ops scripts <service>` for arguments; ⚠ = asks to confirm)"]
        current = None
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.service != current:
                current = entry.service
                lines.append(f"\n*{current}*")
            lines.append(f"`{entry.name}`{' ⚠' if entry.is_write else ''} — {entry.summary}")
        return "\n".join(lines)

    def stats_text(self, since_text: str) -> str:
        from bot.stats import compute_stats, parse_since

        try:
            since = parse_since(since_text)
        except ValueError as exc:
            return str(exc).replace("--since", "/ops stats")
        stats = compute_stats(self.sb.ledger, since)
        lines = [
            f"*Since {stats['since'][:16].replace('T', ' ')} UTC*: {stats['requests']} requests · "
            f"{stats['zero_token_share']:.0%} at 0 tokens · ${stats['cost_usd']:.4f} · "
            f"error rate {stats['error_rate']:.1%} · 👎 possible misclassifications: "
            f"{stats['possible_misclassifications']}",
        ]
        for tier, row in sorted(stats["by_tier"].items()):
            p50 = f"{row['p50_ms'] / 1000:.1f} s" if row.get("p50_ms") is not None else "—"
            lines.append(f"• *{tier}*: {row['requests']} · {row['input_tokens'] + row['output_tokens']:,} tokens · "
                         f"${row['cost_usd']:.4f} · {row['errors']} errors · 👎 {row['thumbs_down']} · p50 {p50}")
        for script, row in list(stats["script_failures"].items())[:5]:
            lines.append(f"• `{script}` failed {row['failures']}/{row['runs']}")
        return "\n".join(lines)

    # -- /ops jobs, /ops health (the scheduler's JobService) -------------------------------------

    def jobs(self, args: list[str], user: str | None, channel: str | None) -> tuple[str, list[dict] | None]:
        service = self.sb.jobs
        if service is None:
            return "Scheduled jobs are not available in this process.", None
        verb = args[0].lower() if args else "list"
        if verb in ("run", "enable", "disable") and len(args) > 1:
            refusal = self._job_acl(args[1], user, channel)
            if refusal:
                return refusal, None
        result = service.jobs_command(args, user=user)
        return result.text, result.blocks

    def _job_acl(self, name: str, user: str | None, channel: str | None) -> str | None:
        """Running or switching a job needs the same permission as running its script."""
        job = self.registry.jobs.get(name)
        entry = self.registry.script(job.script) if job and job.script else None
        if entry is not None and not entry.allowed.permits(user, channel, self.sb.groups.groups_of(user)):
            return f"You are not allowed to run `{entry.name}` here, so you cannot change job `{name}`."
        return None

    def health(self) -> tuple[str, list[dict] | None]:
        service = self.sb.jobs
        if service is None:
            return "Health checks are not available in this process.", None
        result = service.health_command()
        return result.text, result.blocks
