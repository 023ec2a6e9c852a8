"""`/ops scripts|jobs|health|stats|help`: answered the same way in Slack and in the terminal console.

Help and script lists show only what the requesting user may run; changing a job needs permission to
run its script. Jobs and health come from the scheduler's JobService when this process has one.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from bot.entries import ScriptEntry
from bot.jobs import commands as jobs_commands
from bot.pipeline import OpsBot

OPS_USAGE = ("usage: `/ops scripts [service]` · `/ops jobs [list|run|enable|disable|history] [name]` · "
             "`/ops health` · `/ops stats [24h|7d]` · `/ops learn` · `/ops help`")

Blocks = list[dict[str, Any]] | None


class OpsCommands:
    def __init__(self, bot: OpsBot, *, groups_of: Callable[[str | None], frozenset[str]] = lambda _u: frozenset(),
                 jobs: Any = None):
        self.bot = bot
        self.groups_of = groups_of
        self.jobs_service = jobs          # a JobService, or None where no scheduler runs

    def handle(self, text: str, user: str | None, channel: str | None) -> tuple[str, Blocks]:
        """The answer to `/ops <text>`: (mrkdwn text, optional Block Kit blocks)."""
        try:
            args = shlex.split(text or "")
        except ValueError:
            args = (text or "").split()
        verb = args[0].lower() if args else "help"
        if verb in ("help", "?"):
            return self.help_text(user, channel), None
        if verb == "scripts":
            return self.scripts_text(user, channel, args[1] if len(args) > 1 else None), None
        if verb == "stats":
            return self.stats_text(args[1] if len(args) > 1 else "24h"), None
        if verb == "jobs":
            return self.jobs(args[1:], user, channel)
        if verb == "health":
            return self.health()
        if verb == "learn":
            from bot.slack.learn import ops_learn

            return ops_learn(self.bot, user)
        return f"I don't know `/ops {verb}`.\n{OPS_USAGE}", None

    def permitted(self, user: str | None, channel: str | None) -> list[ScriptEntry]:
        groups = self.groups_of(user)
        return [e for e in self.bot.registry.scripts.values() if e.allowed.permits(user, channel, groups)]

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
            chosen = [e for e in entries if e.service == service or e.name == service]
            if not chosen:
                services = sorted({e.service for e in entries})
                return f"No scripts you may run in `{service}`. Services: {', '.join(services) or 'none'}."
            return "\n\n".join(e.help_text() for e in chosen)
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
        stats = compute_stats(self.bot.ledger, since)
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
        from bot.render import quality_lines

        lines += [f"• {line}" for line in quality_lines(stats)]
        return "\n".join(lines)

    def jobs(self, args: list[str], user: str | None, channel: str | None) -> tuple[str, Blocks]:
        if self.jobs_service is None:
            return "Scheduled jobs are not available in this process.", None
        try:
            command = jobs_commands.parse(args)
        except jobs_commands.UsageError as exc:
            return str(exc), None
        if command.changes_job:
            refusal = self._job_acl(command.name or "", user, channel)
            if refusal:
                return refusal, None
        result = jobs_commands.answer(self.jobs_service, command, user=user)
        return result.text, result.blocks

    def _job_acl(self, name: str, user: str | None, channel: str | None) -> str | None:
        """Running or switching a job needs the same permission as running its script."""
        job = self.bot.registry.jobs.get(name)
        entry = self.bot.registry.script(job.script) if job and job.script else None
        if entry is not None and not entry.allowed.permits(user, channel, self.groups_of(user)):
            return f"You are not allowed to run `{entry.name}` here, so you cannot change job `{name}`."
        return None

    def health(self) -> tuple[str, Blocks]:
        if self.jobs_service is None:
            return "Health checks are not available in this process.", None
        result = jobs_commands.health(self.jobs_service)
        return result.text, result.blocks
