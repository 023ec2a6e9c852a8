"""Terminal front-end: the same pipeline as Slack, for when no Slack tokens are set (and `bot ask`)."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable

from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.status import Status

from bot.mrkdwn import for_terminal
from bot.pipeline import OpsBot
from bot.progress import Progress, ProgressState
from bot.request import Incoming, Reply

PROMPT = "opsbot> "


def print_reply(console: Console, reply: Reply) -> None:
    if console.is_terminal:
        console.print(Panel(Markdown(for_terminal(reply.text)), border_style="red" if reply.outcome == "error" else "cyan"))
        console.print(f"[dim]{reply.why_line()} · request {reply.request_id}[/dim]")
    else:
        console.print(for_terminal(reply.text), markup=False, highlight=False)
        console.print(f"({reply.why_line()} · request {reply.request_id})", markup=False, highlight=False)
    for note in reply.notes:
        console.print(f"note: {for_terminal(note)}", markup=False, style="yellow")
    if reply.artifact:
        console.print(f"attachment: {reply.artifact.filename} ({len(reply.artifact.content)} chars)",
                      markup=False)


class ConsoleStatus:
    """A rich status line (spinner) showing a long call's progress: tier, what it does, tokens so far."""

    def __init__(self, status: Status):
        self.status = status

    def show(self, state: ProgressState) -> None:
        self.status.update(state.line().removeprefix("⏳ "))


def ask(bot: OpsBot, text: str, console: Console, *, user: str | None = None, source: str = "cli",
        confirm: Callable[[str], bool] | None = None, yes: bool = False) -> Reply:
    """One request; a write script's confirmation is asked with `confirm` (y/N) or refused.

    `yes` (`--yes`) confirms only the script the user named (`run NAME …`), never one the model proposed."""
    incoming = Incoming(text, user=user or getpass.getuser(), source=source)
    if console.is_terminal:       # long LLM calls (premium, pipeline) update one rich status line
        with console.status("working…") as status:
            incoming.progress = Progress(ConsoleStatus(status), interval_s=0.5)
            reply = bot.handle(incoming)
    else:
        reply = bot.handle(incoming)
    print_reply(console, reply)
    if reply.confirmation is not None:
        named = reply.decided_by == "command" and reply.script == reply.confirmation.script
        if yes and not named:
            console.print(f"note: --yes confirms only a script you named (`run {reply.confirmation.script} …`); "
                          "this one was proposed by the model, so it needs your own answer.",
                          markup=False, style="yellow")
        approved = True if yes and named else confirm(reply.confirmation.command()) if confirm else False
        reply = bot.resolve_confirmation(reply.confirmation.id, incoming, approved)
        print_reply(console, reply)
    return reply


def ask_yes_no(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    answer = input(f"Run `{question}`? [y/N] ").strip().lower()
    return answer in ("y", "yes")


def ops_command(bot: OpsBot, text: str, console: Console, jobs=None) -> None:
    """`/ops …` and `help` in the console: the same answers as in Slack, for the local operator."""
    from bot.ops_commands import OpsCommands

    answer, _blocks = OpsCommands(bot, jobs=jobs).handle(text, user=None, channel=None)
    if console.is_terminal:
        console.print(Panel(Markdown(for_terminal(answer)), border_style="cyan"))
    else:
        console.print(for_terminal(answer), markup=False, highlight=False)


def repl(bot: OpsBot, console: Console | None = None, stdin=None, jobs=None) -> int:
    console = console or Console()
    stdin = stdin or sys.stdin
    console.print("[bold]opsbot[/bold] console — no Slack tokens set, so you talk to me here. "
                  "Try: [cyan]how full is the disk?[/cyan]  ·  [cyan]run ops.system-load[/cyan]  ·  "
                  "[cyan]/ops scripts[/cyan]  ·  Ctrl-D to quit")
    interactive = stdin.isatty()
    while True:
        if interactive:
            try:
                line = console.input(PROMPT)
            except (EOFError, KeyboardInterrupt):
                console.print()
                return 0
        else:
            line = stdin.readline()
            if not line:
                return 0
        line = line.strip()
        if not line:
            continue
        if line in ("exit", "quit"):
            return 0
        if line in ("help", "?") or line.startswith("/ops"):
            ops_command(bot, line.removeprefix("/ops"), console, jobs)
            continue
        ask(bot, line, console, source="console", confirm=ask_yes_no if interactive else None)
