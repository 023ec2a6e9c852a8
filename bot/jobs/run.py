"""Running one job and writing it down: failure counting, auto-disable with one alert, interrupted runs.

    runner = JobRunner(bot, settings, poster=poster, clock=clock, holder=holder, builtins={...})
    runner.run(spec, trigger="schedule") → RunResult · runner.send_pending_alerts() · runner.recover_interrupted()

Rules:
- A failure is a non-zero exit, a timeout, an exception, or an LLM error; "ok" resets the count.
- The run that reaches `max_failures` disables the job inside the same BEGIN IMMEDIATE transaction
  that records it, and queues exactly one alert (unique per disable event, claimed before posting).
  A disabled job is never started: `start_job_run` checks `enabled` atomically, and refuses a job that
  is already running anywhere (no overlapping runs, across threads and processes).
- A run whose process is gone (pid dead on this host, or past its deadline) is "interrupted": not a
  failure. Its script runs in its own session, so a kill -9 of the bot leaves it running: if it still
  is, and is provably the same process (same host, pid, boot and start time, recorded when it
  started), its process group is killed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.jobs.posters import Poster, deliver, delivers
from bot.jobs.spec import Clock, JobError, JobSpec, cut, parse_time
from bot.ledger import iso
from bot.pipeline import OpsBot
from bot.problems import ArgError
from bot.process import pid_alive, process_identity
from bot.request import Incoming, Order

log = logging.getLogger(__name__)

INTERRUPT_MARGIN = dt.timedelta(seconds=60)    # past its deadline + this, a "running" run is dead anywhere
ALERT_MAX_ATTEMPTS = 12           # a failed alert post is retried with backoff: 30 s, 1 min, … 1 h (~5 h)
ALERT_BACKOFF_MAX_S = 3600.0


@dataclass
class Outcome:
    """How the body of a run ended, before it is counted."""

    status: str                     # ok | error | timeout
    text: str
    error: str | None = None
    request_id: str | None = None


@dataclass
class RunResult:
    job: str
    status: str   # ok | error | timeout — or, when nothing ran: off | disabled | busy | waiting | invalid | not-leader
    text: str
    run_id: int | None = None
    request_id: str | None = None
    error: str | None = None
    consecutive_failures: int = 0
    max_failures: int = 3
    disabled: bool = False          # this run disabled the job
    duration_ms: float = 0.0

    @property
    def ran(self) -> bool:
        return self.run_id is not None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("job", "status", "text", "run_id", "request_id", "error",
                                              "consecutive_failures", "max_failures", "disabled", "duration_ms")}

    def summary(self) -> str:
        """What `bot jobs run` and `/ops jobs run` print."""
        if not self.ran:
            return self.text
        head = f"`{self.job}` run {self.run_id}: {self.status} in {self.duration_ms / 1000:.1f}s"
        if not self.ok:
            head += f" (failure {self.consecutive_failures}/{self.max_failures}" \
                    f"{', job now disabled' if self.disabled else ''})"
        return f"{head}\n{self.text}"


# Holders created in this process. A run row with our pid but a holder not in here belongs to an earlier
# life of this pid (a restarted container's pid 1): that process is gone.
_LIVE_HOLDERS: set[str] = set()


def stop_leftover_script(pid: int | None, identity: str | None) -> bool:
    """SIGKILL a job's script process group if the process is still the one recorded. True if killed."""
    if not pid or not identity or process_identity(pid) != identity:
        return False
    try:
        if os.getpgid(pid) == pid:                     # started in its own session: kill its children too
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


class JobRunner:
    """Runs jobs exactly as the scheduler does (counted, recorded, posted). Thread-safe."""

    def __init__(self, bot: OpsBot, settings: Settings, *, poster: Poster, clock: Clock, holder: str,
                 builtins: dict[str, Callable[[dt.datetime], Outcome]] | None = None,
                 on_disabled: Callable[[str], None] | None = None):
        self.bot = bot
        self.settings = settings
        self.ledger = bot.ledger
        self.poster = poster
        self.clock = clock
        self.holder = holder
        _LIVE_HOLDERS.add(holder)
        self.builtins = dict(builtins or {})
        self.on_disabled = on_disabled

    # -- one run -----------------------------------------------------------------------------------

    def run(self, spec: JobSpec, trigger: str, *, lease: str | None = None) -> RunResult:
        """`lease`: start only while this runner's holder holds that lease (the scheduler's fencing)."""
        now = self.clock()
        if not spec.registry_enabled:
            return RunResult(spec.name, "off", f"`{spec.name}` is off in the registry (`enabled: false` in "
                             "registry/jobs.yaml); not run.", max_failures=spec.max_failures)
        blocked = spec.blocked(self.bot)
        if blocked:
            verb = "is waiting for" if blocked[0] == "waiting" else "cannot run:"
            return RunResult(spec.name, blocked[0], f"`{spec.name}` {verb} {blocked[1]}; not run.",
                             max_failures=spec.max_failures)
        self.recover_interrupted(now)
        deadline = now + dt.timedelta(seconds=spec.timeout_s) + INTERRUPT_MARGIN
        started_state, run_id = self.ledger.start_job_run(spec.name, started_at=iso(now), deadline_at=iso(deadline),
                                                          holder=self.holder, pid=os.getpid(), trigger=trigger,
                                                          lease=(lease, now.timestamp()) if lease else None)
        if started_state == "not-leader":
            return RunResult(spec.name, "not-leader", f"`{spec.name}` not started: this process no longer holds "
                             f"the {lease} lease.", max_failures=spec.max_failures)
        if started_state == "disabled":
            st = self.ledger.job_state(spec.name) or {}
            return RunResult(spec.name, "disabled", f"`{spec.name}` is disabled ({st.get('disabled_reason')}); "
                             f"`bot jobs enable {spec.name}` turns it back on.", max_failures=spec.max_failures)
        if started_state == "busy":
            return RunResult(spec.name, "busy", f"`{spec.name}` is already running (run {run_id}); not started "
                             "again.", max_failures=spec.max_failures)
        assert run_id is not None
        log.info("job %s: run %s started (%s)", spec.name, run_id, trigger)
        started = time.monotonic()
        try:
            outcome = self._execute(spec, run_id, now)
        except Exception as exc:
            log.exception("job %s: run %s raised", spec.name, run_id)
            error = self.bot.redactor(f"{type(exc).__name__}: {exc}")
            outcome = Outcome("error", f"`{spec.name}` failed: {error}", error)
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        finished = self.ledger.finish_job_run(
            run_id, status=outcome.status, error=cut(outcome.error, 500) if outcome.error else None,
            finished_at=iso(max(self.clock(), now)), duration_ms=duration_ms, max_failures=spec.max_failures,
            alert=self._alert_builder(spec))
        result = RunResult(spec.name, outcome.status, outcome.text, run_id, outcome.request_id, outcome.error,
                           finished["consecutive_failures"], spec.max_failures, finished["disabled"], duration_ms)
        log.log(logging.INFO if result.ok else logging.WARNING, "job %s: run %s %s in %.0f ms (failures %d/%d)",
                spec.name, run_id, result.status, duration_ms, result.consecutive_failures, spec.max_failures)
        self._announce(spec, result)
        if finished["disabled"]:
            alert = self.ledger.alert(finished["alert_id"]) if finished["alert_id"] else None
            log.error("ALERT job %s disabled (alert to %s): %s", spec.name, alert["channel"] if alert else "?",
                      alert["text"] if alert else finished)
            if self.on_disabled is not None:
                self.on_disabled(spec.name)
            self.send_pending_alerts()
        return result

    def _execute(self, spec: JobSpec, run_id: int, now: dt.datetime) -> Outcome:
        if spec.kind == "builtin":
            builtin = self.builtins.get(spec.target)
            if builtin is None:
                raise JobError(f"no built-in job {spec.target!r} in this process")
            return builtin(now)
        if spec.kind == "script":
            return self._run_script(spec, run_id)
        return self._run_skill(spec, run_id)

    def _run_script(self, spec: JobSpec, run_id: int) -> Outcome:
        entry = self.bot.registry.script(spec.target)
        if entry is None:
            raise JobError(f"unknown script {spec.target!r}")
        try:
            args = entry.validate_args(spec.args)
        except ArgError as exc:
            raise JobError(f"bad args for {entry.name}: {exc}") from None
        ledger = self.ledger
        order = Order(f"job {spec.name} ({spec.schedule} {spec.timezone})", script=entry.name, args=args,
                      timeout_s=spec.timeout_s, job_run_id=run_id,
                      on_open=lambda request_id: ledger.set_job_run_request(run_id, request_id),
                      on_start=lambda pid: ledger.set_job_run_script(run_id, pid, process_identity(pid)))
        text = f"job {spec.name}: run {entry.name} {' '.join(entry.to_argv(args))}".strip()
        return self._through_pipeline(Incoming(text, source="job", channel=spec.post_to, order=order))

    def _run_skill(self, spec: JobSpec, run_id: int) -> Outcome:
        if not self.bot.llm_enabled:
            raise JobError("LLM tiers not configured: set ANTHROPIC_API_KEY to run skill jobs")
        skill = self.bot.registry.skills.get(spec.target)
        if skill is None:
            raise JobError(f"unknown skill {spec.target!r}")
        order = Order(f"job {spec.name} ({spec.schedule} {spec.timezone}): skill {skill.name}", skill=skill.name,
                      timeout_s=spec.timeout_s, job_run_id=run_id,
                      on_open=lambda request_id: self.ledger.set_job_run_request(run_id, request_id))
        text = f"[scheduled job {spec.name}] Use the skill `{skill.name}`.\n{spec.prompt or ''}".strip()
        return self._through_pipeline(Incoming(text, source="job", channel=spec.post_to, order=order))

    def _through_pipeline(self, incoming: Incoming) -> Outcome:
        """The job's request goes the one request path (bot/pipeline.py); its reply becomes the run's outcome."""
        reply = self.bot.handle(incoming)
        if reply.outcome == "ok":
            return Outcome("ok", reply.text, None, reply.request_id)
        status = "timeout" if reply.outcome == "timeout" else "error"
        return Outcome(status, reply.text, cut(reply.text, 500), reply.request_id)

    def _announce(self, spec: JobSpec, result: RunResult) -> None:
        """A job's output goes to its channel; a failure says so there too, with the count."""
        if spec.kind == "builtin":
            return
        if result.ok:
            deliver(self.poster, spec.post_to, f"*{spec.name}*\n{result.text}")
            return
        note = f"⚠️ Job `{spec.name}` failed ({result.consecutive_failures}/{spec.max_failures}): " \
               f"{cut(result.error or result.text, 1500)}"
        if result.disabled:
            note += "\nIt is now disabled; see the alert."
        deliver(self.poster, spec.post_to, note)

    # -- alerts ------------------------------------------------------------------------------------

    def alert_channel(self, spec: JobSpec) -> str | None:
        return spec.alert_to or self.settings.bot_alert_channel or spec.post_to

    def _alert_builder(self, spec: JobSpec) -> Callable[[str, list[dict]], tuple[str | None, str]]:
        def build(job: str, recent: list[dict]) -> tuple[str | None, str]:
            lines = [f"🚨 Job `{job}` ({spec.target_label}) was disabled after {spec.max_failures} consecutive "
                     "failures. It will not run again until it is re-enabled.", "Last errors:"]
            for run in recent:
                lines.append(f"• {str(run['started_at'])[:16].replace('T', ' ')} UTC — {run['status']}: "
                             f"{cut(run['error'], 300)}")
            lines.append(f"Fix the cause, then `bot jobs enable {job}` or `/ops jobs enable {job}` "
                         "(resets the failure count). History: `bot jobs history " + job + "`.")
            return self.alert_channel(spec), "\n".join(lines)
        return build

    def send_pending_alerts(self) -> int:
        """Post queued alerts. Each is claimed first, so it goes out at most once, whatever crashes.
        A process that cannot reach channels (no Slack) leaves them queued for one that can."""
        sent = 0
        can_deliver = delivers(self.poster)
        for alert in self.ledger.pending_alerts(ALERT_MAX_ATTEMPTS, iso(self.clock())):
            if alert["channel"] and not can_deliver:
                continue
            if not self.ledger.claim_alert(alert["id"]):
                continue
            if deliver(self.poster, alert["channel"], alert["text"]):
                self.ledger.finish_alert(alert["id"], at=iso(self.clock()))
                sent += 1
                continue
            now = self.clock()
            wait = min(ALERT_BACKOFF_MAX_S, 30.0 * 2 ** alert["attempts"])
            self.ledger.finish_alert(alert["id"], at=iso(now), error="post failed",
                                     retry_at=iso(now + dt.timedelta(seconds=wait)))
            log.warning("alert %s for job %s not delivered; retry in %.0f s", alert["id"], alert["job"], wait)
        return sent

    # -- interrupted runs --------------------------------------------------------------------------

    def recover_interrupted(self, now: dt.datetime | None = None) -> list[int]:
        """Runs left "running" by a process that is gone → "interrupted" (not a failure).

        Gone = same host and its pid is dead (or is our pid under a holder this process never created:
        an earlier life of the pid, e.g. pid 1 in a container), or — on any host — past its deadline
        + margin. A script such a run left running on this host is stopped (see stop_leftover_script)."""
        now = now or self.clock()
        me_host = self.holder.split("/", 1)[0]
        interrupted = []
        for run in self.ledger.running_job_runs():
            holder = run.get("holder") or ""
            host = holder.partition("/")[0]
            deadline = parse_time(run.get("deadline_at"))
            reason = None
            if deadline is not None and now > deadline:
                reason = "interrupted: still running past its deadline (process gone or hung)"
            elif holder in _LIVE_HOLDERS:
                continue
            elif host == me_host and run.get("pid"):
                pid = int(run["pid"])
                if pid == os.getpid() or not pid_alive(pid):
                    reason = f"interrupted: process {pid} ended during the run (restart or kill)"
            if reason is None:
                continue
            if host == me_host and stop_leftover_script(run.get("script_pid"), run.get("script_identity")):
                reason += f"; its script (pid {run['script_pid']}) was still running and was killed"
            if self.ledger.interrupt_job_run(run["id"], reason=reason, at=iso(now)):
                log.warning("job %s: run %s %s; not counted as a failure", run["job"], run["id"], reason)
                interrupted.append(run["id"])
        return interrupted
