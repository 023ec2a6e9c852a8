"""`/ops jobs …` and `bot jobs …`: one grammar, one set of actions, three front ends.

    command = parse(["disable", "flaky", "too", "noisy"])     # /ops jobs in Slack and the console: words
    command = JobsCommand("disable", "flaky", reason="noisy")  # `bot jobs`: argparse fills the same fields
    result = execute(service, command, by=user)                # → CommandResult(text, blocks, ok, data)

`answer` is what Slack and the console reply (usage and unknown names become one line); the CLI
(bot/jobs/cli.py) calls `execute` and prints `data` for --json. Permission to change a job is checked by
the caller that knows the user (bot/ops_commands.py), on `command.changes_job`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.jobs.render import history_text, jobs_blocks, jobs_text
from bot.jobs.spec import JobNotFound

if TYPE_CHECKING:
    from bot.jobs.schedule import JobService

VERBS: dict[str, str] = {       # verb → what it does (the CLI's help; `/ops jobs` has the same verbs)
    "list": "every job with its state, failures, last and next run",
    "run": "run a job now, as the scheduler would (counted, recorded, posted)",
    "enable": "enable a job and reset its failure count",
    "disable": "stop a job from running until it is enabled again",
    "history": "a job's recent runs",
}
NAMED = frozenset({"run", "enable", "disable", "history"})        # these need a job name
CHANGES = frozenset({"run", "enable", "disable"})                 # these need permission to run its script
USAGE = "usage: /ops jobs [list | run NAME | enable NAME | disable NAME [reason] | history NAME]"
HISTORY_LIMIT = 20


class UsageError(ValueError):
    def __init__(self) -> None:
        super().__init__(USAGE)


@dataclass(frozen=True)
class JobsCommand:
    verb: str = "list"
    name: str | None = None
    reason: str | None = None
    limit: int = HISTORY_LIMIT

    def __post_init__(self) -> None:
        if self.verb not in VERBS or (self.verb in NAMED and not self.name):
            raise UsageError()

    @property
    def changes_job(self) -> bool:
        return self.verb in CHANGES


@dataclass
class CommandResult:
    """What `/ops jobs …` and `/ops health` answer: text (fallback + console) and optional Block Kit;
    `data` is the same answer as JSON-able data (`bot jobs … --json`)."""

    text: str
    blocks: list[dict[str, Any]] | None = None
    ok: bool = True
    data: Any = None


def parse(words: list[str]) -> JobsCommand:
    """`[list | run NAME | enable NAME | disable NAME [reason…] | history NAME]`. Raises UsageError."""
    verb = words[0].lower() if words else "list"
    name = words[1] if len(words) > 1 and verb in NAMED else None
    reason = " ".join(words[2:]) or None if verb == "disable" else None
    return JobsCommand(verb, name, reason)


def execute(service: JobService, command: JobsCommand, *, by: str | None = None,
            mrkdwn: bool = True) -> CommandResult:
    """Do it. Raises JobNotFound for an unknown name. `mrkdwn=False`: plain text and no blocks (a terminal)."""
    name = command.name or ""
    if command.verb == "list":
        jobs = service.list_jobs()
        return CommandResult(jobs_text(jobs, mrkdwn=mrkdwn), jobs_blocks(jobs) if mrkdwn else None, data=jobs)
    if command.verb == "run":
        result = service.run_now(name, by=by)
        return CommandResult(result.summary(), ok=result.ok, data=result.to_dict())
    if command.verb == "enable":
        action = service.enable(name, by=by)
        return CommandResult(action.text, data=action.job)
    if command.verb == "disable":
        action = service.disable(name, command.reason, by=by)
        return CommandResult(action.text, data=action.job)
    runs = service.history(name, command.limit)
    return CommandResult(history_text(name, runs), data=runs)


def answer(service: JobService, command: JobsCommand | list[str], *, user: str | None = None) -> CommandResult:
    """The reply to `/ops jobs …` (words or an already parsed command): a usage error or an unknown job
    name is a one-line answer, not an exception."""
    try:
        parsed = parse(command) if isinstance(command, list) else command
        return execute(service, parsed, by=user)
    except (UsageError, JobNotFound) as exc:
        return CommandResult(str(exc), ok=False)


def health(service: JobService, *, blocks: bool = True) -> CommandResult:
    """`/ops health` and `bot health`: every check now, in full."""
    report = service.health_report()
    return CommandResult(report.to_text(full=True), report.to_blocks(full=True) if blocks else None,
                         ok=report.status != "fail", data=report.to_dict())
