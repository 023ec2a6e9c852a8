"""Scheduled jobs: cron from the registry, failure counting, auto-disable, one alert, the heartbeat.

    service = JobService(bot, settings, poster=poster)      # the API the CLI and Slack both use
    service.list_jobs() · run_now(name) · enable(name) · disable(name, reason) · history(name)
    service.health_report() → heartbeat.Report (.status, .checks, .to_blocks(), .to_text())
    handle = start_scheduler(bot, settings, poster)         # in `bot serve`; handle.shutdown()

Where state lives: everything that must survive a restart or a kill -9 is in the ledger (jobs,
job_runs, alerts, leases); APScheduler only holds the in-memory timetable of the process that holds
the "scheduler" lease, and is rebuilt from the ledger whenever a process takes the lease.

Rules:
- A failure is a non-zero exit, a timeout, an exception, or an LLM error; "ok" resets the count.
- The run that reaches `max_failures` disables the job inside the same BEGIN IMMEDIATE transaction
  that records it, and queues exactly one alert (unique per disable event, claimed before posting).
  A disabled job is never started: `start_job_run` checks `enabled` atomically.
- A run whose process is gone (pid dead on this host, or past its deadline) is "interrupted": not a
  failure. Enabling a job resets its count.
- A job whose script needs credentials that are not set (or a skill job without LLM tiers) is
  "waiting": shown, not scheduled, never counted.
- One scheduler per deployment: the process holding the ledger lease runs the jobs; it renews the
  lease every ttl/3 on its own thread; another process takes over once it expires.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.app import Incoming, OpsBot, RequestContext
from bot.config import Settings
from bot.heartbeat import (
    Check,
    Report,
    anthropic_summarizer,
    build_report,
    check_anthropic,
    check_disk,
    check_jobs,
    check_ledger,
    check_memory,
    check_scheduler,
    check_slack,
    check_spend,
    check_stuck_requests,
    check_tiers,
    should_post,
)
from bot.registry import ArgError, JobEntry, Registry, parse_schedule
from bot.router import RouteDecision

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
LEASE_JOB_ID = "_scheduler_lease"
HEARTBEAT = "heartbeat"
MISFIRE_GRACE_S = 300               # a run missed by less than this (e.g. during a restart) still runs, once
INTERRUPT_MARGIN = dt.timedelta(seconds=60)    # past its deadline + this, a "running" run is dead anywhere
ALERT_MAX_ATTEMPTS = 12           # a failed alert post is retried with backoff: 30 s, 1 min, … 1 h (~7 h)
ALERT_BACKOFF_MAX_S = 3600.0
HEARTBEAT_TIMEOUT_S = 120.0
MAX_WORKERS = 10

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def _parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _cut(text: str | None, limit: int = 300) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class JobNotFound(KeyError):
    def __init__(self, name: str, known: list[str]):
        super().__init__(name)
        self.name = name
        self.message = f"no job named {name!r}; known: {', '.join(known) or 'none'}"

    def __str__(self) -> str:
        return self.message


class JobError(Exception):
    """A job that cannot run as configured (unknown script, no LLM tiers): a failure with a clear message."""


# -- what a job is ---------------------------------------------------------------------------------


def build_trigger(schedule: str, timezone: str = "UTC", anchor: dt.datetime | None = None):
    """An APScheduler trigger in the job's time zone. `every N` intervals are anchored at the last run
    (`anchor`) so a restart does not push them back by a whole interval."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    base = parse_schedule(schedule)            # validates: 5 cron fields or `every 15m`
    tz = ZoneInfo(timezone)
    if isinstance(base, IntervalTrigger):
        start = anchor + base.interval if anchor else None
        return IntervalTrigger(seconds=base.interval.total_seconds(), timezone=tz, start_date=start)
    return CronTrigger.from_crontab(schedule.strip(), timezone=tz)


@dataclass(frozen=True)
class JobSpec:
    """A registry job (or the built-in heartbeat) with its resolved target and timeout."""

    name: str
    schedule: str
    timezone: str
    kind: str                       # script | skill | builtin
    target: str                     # script name, skill name, or "heartbeat"
    args: dict[str, Any] = field(default_factory=dict)
    prompt: str | None = None
    post_to: str | None = None
    alert_to: str | None = None
    registry_enabled: bool = True
    timeout_s: float = 300.0
    max_failures: int = 3
    description: str = ""

    @classmethod
    def from_entry(cls, entry: JobEntry, registry: Registry) -> JobSpec:
        script = registry.script(entry.script) if entry.script else None
        if "timeout_s" in entry.model_fields_set or script is None:
            timeout = entry.timeout_s
        else:
            timeout = script.timeout_s      # the script's own limit unless the job sets one
        return cls(name=entry.name, schedule=entry.schedule, timezone=entry.timezone,
                   kind="script" if entry.script else "skill", target=entry.script or entry.skill or "",
                   args=dict(entry.args), prompt=entry.prompt, post_to=entry.post_to, alert_to=entry.alert_to,
                   registry_enabled=entry.enabled, timeout_s=timeout, max_failures=entry.max_failures,
                   description=entry.description)

    @property
    def target_label(self) -> str:
        if self.kind == "script":
            flags = " ".join(f"--{k} {v}" for k, v in self.args.items())
            return f"script {self.target}{' ' + flags if flags else ''}"
        if self.kind == "skill":
            return f"skill {self.target}"
        return f"built-in {self.target}"

    def trigger(self, anchor: dt.datetime | None = None):
        return build_trigger(self.schedule, self.timezone, anchor)


@dataclass
class RunResult:
    job: str
    status: str                     # ok | error | timeout — or, when nothing ran: disabled | busy | waiting
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


@dataclass
class ActionResult:
    ok: bool
    text: str
    job: dict[str, Any] | None = None


@dataclass
class CommandResult:
    """What `/ops jobs …` and `/ops health` answer: text (fallback + console) and optional Block Kit."""

    text: str
    blocks: list[dict[str, Any]] | None = None
    ok: bool = True


@dataclass
class _Outcome:
    status: str
    text: str
    error: str | None = None
    request_id: str | None = None


# -- where messages go -----------------------------------------------------------------------------


class Poster(Protocol):
    """Where job output, alerts and heartbeats go. Raise on failure. An optional `delivers = False`
    attribute says the poster cannot reach channels (the log): alerts then stay queued in the ledger
    for a process that can post them, instead of being marked sent."""

    def post(self, channel: str | None, text: str, blocks: list[dict] | None = None) -> Any: ...


class LogPoster:
    """No Slack: posts go to the log (and so to the console running `bot serve`)."""

    delivers = False

    def __init__(self, logger: logging.Logger | None = None):
        self.log = logger or logging.getLogger("bot.jobs.posts")

    def post(self, channel: str | None, text: str, blocks: list[dict] | None = None) -> None:
        self.log.warning("[%s] %s", channel or "no channel", text)


class SlackPoster:
    """chat.postMessage through a slack_sdk WebClient (the Slack app may pass its own Poster instead)."""

    delivers = True

    def __init__(self, client):
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackPoster | None:
        token = settings.secret("slack_bot_token")
        if not token:
            return None
        from slack_sdk import WebClient

        base_url = settings.slack_api_url or WebClient.BASE_URL
        return cls(WebClient(token=token, base_url=base_url.rstrip("/") + "/", timeout=10))

    def post(self, channel: str | None, text: str, blocks: list[dict] | None = None) -> Any:
        if not channel:
            log.warning("[no channel] %s", text)
            return None
        return self.client.chat_postMessage(channel=channel, text=text[:39000], blocks=blocks,
                                            unfurl_links=False, unfurl_media=False)


def default_poster(settings: Settings) -> Poster:
    return SlackPoster.from_settings(settings) or LogPoster()


# Holders created in this process. A run row with our pid but a holder not in here belongs to an earlier
# life of this pid (a restarted container's pid 1): that process is gone.
_LIVE_HOLDERS: set[str] = set()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the service -----------------------------------------------------------------------------------


class JobService:
    """Jobs and the heartbeat over one bot and its ledger. Thread-safe; any number per ledger."""

    def __init__(self, bot: OpsBot, settings: Settings | None = None, *, poster: Poster | None = None,
                 clock: Clock | None = None, holder: str | None = None, heartbeat: bool = True,
                 summarizer: Callable[[Report], str | None] | None | bool = True,
                 misfire_grace_s: float = MISFIRE_GRACE_S, lease_s: float | None = None,
                 trigger_override: Callable[[JobSpec], Any] | None = None,
                 check_overrides: dict[str, Callable[[], Check]] | None = None):
        self.bot = bot
        self.settings = settings or bot.settings
        self.ledger = bot.ledger
        self.registry = bot.registry
        self.poster: Poster = poster or LogPoster()
        self.clock: Clock = clock or utcnow
        self.holder = holder or f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        _LIVE_HOLDERS.add(self.holder)
        self.misfire_grace_s = misfire_grace_s
        self.lease_s = lease_s or self.settings.bot_scheduler_lease_s
        self.trigger_override = trigger_override
        self.check_overrides = dict(check_overrides or {})
        self.is_leader = False
        self._aps = None
        self._lock = threading.RLock()
        self._alert_retry_at: dict[int, float] = {}      # alert id → monotonic time of the next attempt
        self.specs: dict[str, JobSpec] = {}
        if heartbeat:
            try:
                parse_schedule(self.settings.bot_heartbeat_cron)
                self.specs[HEARTBEAT] = JobSpec(
                    name=HEARTBEAT, schedule=self.settings.bot_heartbeat_cron, timezone="UTC", kind="builtin",
                    target=HEARTBEAT, post_to=self.settings.bot_heartbeat_channel,
                    alert_to=self.settings.bot_alert_channel, timeout_s=HEARTBEAT_TIMEOUT_S,
                    description="Built-in health check: zero tokens when all is well")
            except ValueError as exc:
                log.error("BOT_HEARTBEAT_CRON: %s — heartbeat not scheduled", exc)
        for entry in self.registry.jobs.values():
            if entry.name in self.specs:
                log.error("registry job %r clashes with the built-in job of that name; ignored", entry.name)
                continue
            self.specs[entry.name] = JobSpec.from_entry(entry, self.registry)
        if summarizer is True:
            self.summarizer = anthropic_summarizer(self.settings, self.ledger, budget_left=self._budget_left)
        else:
            self.summarizer = summarizer or None
        self.ledger.ensure_jobs(list(self.specs), iso(self.clock()))

    # -- lookups -----------------------------------------------------------------------------

    def spec(self, name: str) -> JobSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise JobNotFound(name, sorted(self.specs)) from None

    def waiting_for(self, spec: JobSpec) -> tuple[str, str] | None:
        """(state, why) when the job cannot run as things are configured — never a failure."""
        if spec.kind == "script":
            entry = self.registry.script(spec.target)
            if entry is None:
                return "invalid", f"unknown script {spec.target!r}"
            missing = entry.missing_env(self.bot.runner.environ)
            if missing:
                return "waiting", f"credentials: {', '.join(missing)}"
        elif spec.kind == "skill":
            if spec.target not in self.registry.skills:
                return "invalid", f"unknown skill {spec.target!r}"
            if self.bot.orchestrator is None:
                return "waiting", "LLM tiers (set ANTHROPIC_API_KEY)"
        return None

    def _trigger(self, spec: JobSpec, anchor: dt.datetime | None):
        return self.trigger_override(spec) if self.trigger_override else spec.trigger(anchor)

    def _next_fire(self, spec: JobSpec, after: dt.datetime, anchor: dt.datetime | None) -> dt.datetime | None:
        return self._trigger(spec, anchor).get_next_fire_time(None, after)

    def _missed(self, spec: JobSpec, state: dict, now: dt.datetime) -> dt.datetime | None:
        """The first fire time after the last run, when it is already past (a run missed while down)."""
        last = _parse(state.get("last_run_at"))
        if last is None or self.trigger_override:
            return None
        expected = self._next_fire(spec, last + dt.timedelta(milliseconds=1), last)
        return expected if expected is not None and expected <= now else None

    def list_jobs(self, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Every job with its state: name, enabled, state, consecutive_failures, last_status, next_run, …

        state: scheduled | disabled (auto or by hand) | off (enabled: false in the registry)
               | waiting (credentials / LLM tiers missing) | invalid (unknown script or skill)."""
        now = now or self.clock()
        states = self.ledger.job_states()
        auto = {(r[0], r[1]) for r in self.ledger.db.execute("SELECT job, disabled_at FROM alerts")}
        running = {r["job"] for r in self.ledger.running_job_runs()}
        aps_next = self._aps_next_runs()
        jobs = []
        for name in sorted(self.specs, key=lambda n: (n != HEARTBEAT, n)):
            spec = self.specs[name]
            st = states.get(name) or {}
            ledger_enabled = bool(st.get("enabled", 1))
            blocked = self.waiting_for(spec)
            if not spec.registry_enabled:
                state = "off"
            elif not ledger_enabled:
                state = "disabled"
            elif blocked:
                state = blocked[0]
            else:
                state = "scheduled"
            next_run = overdue = None
            if state == "scheduled":
                anchor = _parse(st.get("last_run_at"))
                missed = self._missed(spec, st, now)
                late = missed is not None and (now - missed).total_seconds() > self.misfire_grace_s
                # A run missed by less than the grace time is due now; one missed by more is skipped
                # (coalesced into the next slot) and the job is reported overdue until it runs again.
                next_run = aps_next.get(name) or (missed if missed and not late
                                                  else self._next_fire(spec, now, anchor))
                overdue = late and name not in running
            jobs.append({
                "name": name, "enabled": spec.registry_enabled and ledger_enabled, "state": state,
                "consecutive_failures": st.get("consecutive_failures") or 0, "max_failures": spec.max_failures,
                "last_status": st.get("last_status"), "last_run_at": st.get("last_run_at"),
                "last_error": st.get("last_error"), "next_run": iso(next_run) if next_run else None,
                "overdue": bool(overdue), "running": name in running,
                "schedule": spec.schedule, "timezone": spec.timezone, "kind": spec.kind,
                "target": spec.target_label, "post_to": spec.post_to, "alert_to": spec.alert_to,
                "timeout_s": spec.timeout_s, "disabled_at": st.get("disabled_at"),
                "disabled_reason": st.get("disabled_reason"),
                "auto_disabled": (name, st.get("disabled_at")) in auto if not ledger_enabled else False,
                "waiting_for": blocked[1] if blocked else None, "description": spec.description,
            })
        return jobs

    def job(self, name: str, now: dt.datetime | None = None) -> dict[str, Any]:
        self.spec(name)
        return next(j for j in self.list_jobs(now) if j["name"] == name)

    def history(self, name: str, limit: int = 20) -> list[dict[str, Any]]:
        """The job's runs, newest first: id, started_at, finished_at, status, error, duration_ms, trigger."""
        self.spec(name)
        keep = ("id", "started_at", "finished_at", "status", "error", "duration_ms", "trigger", "request_id")
        return [{k: row.get(k) for k in keep} for row in self.ledger.job_runs(name, limit)]

    # -- enable / disable ----------------------------------------------------------------------

    def enable(self, name: str, by: str | None = None) -> ActionResult:
        spec = self.spec(name)
        before = self.ledger.set_job_enabled(name, True, at=iso(self.clock()))
        was = "was enabled" if before["enabled"] else f"was disabled: {before['disabled_reason'] or '?'}"
        text = f"`{name}` enabled{f' by {by}' if by else ''} ({was}); failure count reset to 0."
        blocked = self.waiting_for(spec)
        if not spec.registry_enabled:
            text += " It is still off in the registry (`enabled: false` in registry/jobs.yaml)."
        elif blocked:
            text += f" It will not be scheduled until it has {blocked[1]}."
        log.info("job %s enabled by %s", name, by or "hand")
        self._reconcile()
        return ActionResult(True, text, self.job(name))

    def disable(self, name: str, reason: str | None = None, by: str | None = None) -> ActionResult:
        self.spec(name)
        why = (reason or "disabled by hand") + (f" (by {by})" if by else "")
        before = self.ledger.set_job_enabled(name, False, at=iso(self.clock()), reason=why)
        text = (f"`{name}` disabled: {why}. `bot jobs enable {name}` turns it back on."
                if before["enabled"] else f"`{name}` was already disabled ({before['disabled_reason']}).")
        log.info("job %s disabled: %s", name, why)
        self._reconcile()
        return ActionResult(True, text, self.job(name))

    # -- running -------------------------------------------------------------------------------

    def run_now(self, name: str, *, by: str | None = None) -> RunResult:
        """Run a job now, in this thread, exactly as the scheduler would (counted, recorded, posted)."""
        return self._run(self.spec(name), trigger=f"manual:{by}" if by else "manual")

    def _scheduled(self, name: str) -> None:
        """APScheduler's entry point. Never raises: a failure is recorded, not thrown at the scheduler."""
        if not self.is_leader:
            return
        spec = self.specs.get(name)
        if spec is None:
            return
        try:
            self._run(spec, trigger="schedule")
        except Exception:  # pragma: no cover - _run records its own failures; this is the last net
            log.exception("job %s: scheduler wrapper failed", name)

    def _run(self, spec: JobSpec, trigger: str) -> RunResult:
        now = self.clock()
        blocked = self.waiting_for(spec)
        if blocked:
            verb = "is waiting for" if blocked[0] == "waiting" else "cannot run:"
            return RunResult(spec.name, blocked[0], f"`{spec.name}` {verb} {blocked[1]}; not run.",
                             max_failures=spec.max_failures)
        self.recover_interrupted(now)
        deadline = now + dt.timedelta(seconds=spec.timeout_s) + INTERRUPT_MARGIN
        started_state, run_id = self.ledger.start_job_run(spec.name, started_at=iso(now), deadline_at=iso(deadline),
                                                          holder=self.holder, pid=os.getpid(), trigger=trigger)
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
            outcome = _Outcome("error", f"`{spec.name}` failed: {error}", error)
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        finished = self.ledger.finish_job_run(
            run_id, status=outcome.status, error=_cut(outcome.error, 500) if outcome.error else None,
            finished_at=iso(max(self.clock(), now)), duration_ms=duration_ms, max_failures=spec.max_failures,
            alert=self._alert_builder(spec))
        result = RunResult(spec.name, outcome.status, outcome.text, run_id, outcome.request_id, outcome.error,
                           finished["consecutive_failures"], spec.max_failures, finished["disabled"], duration_ms)
        log.log(logging.INFO if result.ok else logging.WARNING, "job %s: run %s %s in %.0f ms (failures %d/%d)",
                spec.name, run_id, result.status, duration_ms, result.consecutive_failures, spec.max_failures)
        self._announce(spec, result)
        if finished["disabled"]:
            row = self.ledger.db.execute("SELECT channel, text FROM alerts WHERE id = ?",
                                         [finished["alert_id"]]).fetchone()
            log.error("ALERT job %s disabled (alert to %s): %s", spec.name, row[0] if row else "?",
                      row[1] if row else finished)
            self._unschedule(spec.name)
            self.send_pending_alerts()
        return result

    def _execute(self, spec: JobSpec, run_id: int, now: dt.datetime) -> _Outcome:
        if spec.kind == "builtin":
            return self._run_heartbeat(now)
        if spec.kind == "script":
            return self._run_script(spec, run_id)
        return self._run_skill(spec, run_id)

    def _run_script(self, spec: JobSpec, run_id: int) -> _Outcome:
        entry = self.registry.script(spec.target)
        if entry is None:
            raise JobError(f"unknown script {spec.target!r}")
        try:
            args = entry.validate_args(spec.args)
        except ArgError as exc:
            raise JobError(f"bad args for {entry.name}: {exc}") from None
        ledger = self.ledger
        request_id = ledger.start_request(
            source="job", text=self.bot.redactor(f"job {spec.name}: run {entry.name} {' '.join(entry.to_argv(args))}"
                                                 ).strip(), channel=spec.post_to)
        ledger.set_job_run_request(run_id, request_id)
        started = time.monotonic()
        try:
            ledger.record_decision(request_id, tier="script", decided_by="job", script=entry.name,
                                   reason=f"job {spec.name} ({spec.schedule} {spec.timezone})")
            result = self.bot.runner.run(entry, args, request_id=request_id, job_run_id=run_id,
                                         timeout_s=spec.timeout_s)
            reply = self.bot.script_reply(result, entry, request_id, "job")
        except BaseException as exc:
            ledger.finish_request(request_id, "error", error=_cut(f"{type(exc).__name__}: {exc}", 500))
            raise
        ledger.finish_request(request_id, reply.outcome, latency_ms=round((time.monotonic() - started) * 1000, 1),
                              error=None if result.ok else _cut(reply.text, 500))
        if result.ok:
            return _Outcome("ok", reply.text, None, request_id)
        status = "timeout" if result.status == "timeout" else "error"
        return _Outcome(status, reply.text, reply.text, request_id)

    def _run_skill(self, spec: JobSpec, run_id: int) -> _Outcome:
        orchestrator = self.bot.orchestrator
        if orchestrator is None:
            raise JobError("LLM tiers not configured: set ANTHROPIC_API_KEY to run skill jobs")
        skill = self.registry.skills.get(spec.target)
        if skill is None:
            raise JobError(f"unknown skill {spec.target!r}")
        ledger = self.ledger
        request_id = ledger.start_request(source="job", text=self.bot.redactor(spec.prompt or ""),
                                          channel=spec.post_to)
        ledger.set_job_run_request(run_id, request_id)
        ledger.record_decision(request_id, tier=skill.tier, decided_by="job", skill=skill.name,
                               reason=f"job {spec.name} ({spec.schedule} {spec.timezone}): skill {skill.name}")
        incoming = Incoming(f"[scheduled job {spec.name}] Use the skill `{skill.name}`.\n{spec.prompt}",
                            source="job", channel=spec.post_to)
        started = time.monotonic()
        ctx = RequestContext(incoming, request_id, RouteDecision("orchestrator", f"job {spec.name}"), started)
        box: dict[str, Any] = {}

        def answer() -> None:
            try:
                box["reply"] = orchestrator.answer(ctx)
            except BaseException as exc:  # noqa: B036 - handed to the waiting thread
                box["error"] = exc

        # The orchestrator cannot be killed like a script: it runs on a daemon thread and is abandoned
        # at the timeout (its request is closed as "timeout"; the LLM client has its own timeouts).
        worker = threading.Thread(target=answer, name=f"job-{spec.name}", daemon=True)
        worker.start()
        worker.join(spec.timeout_s)
        latency = round((time.monotonic() - started) * 1000, 1)
        if worker.is_alive():
            error = f"no answer within {spec.timeout_s:g}s"
            ledger.finish_request(request_id, "timeout", error=error, latency_ms=latency)
            return _Outcome("timeout", f"`{spec.name}`: {error}", error, request_id)
        if "error" in box:
            exc = box["error"]
            error = self.bot.redactor(f"LLM error: {type(exc).__name__}: {exc}")
            ledger.finish_request(request_id, "error", error=_cut(error, 500), latency_ms=latency)
            return _Outcome("error", f"`{spec.name}` failed: {error}", error, request_id)
        reply = box["reply"]
        text = self.bot.redactor(reply.text)
        ledger.finish_request(request_id, reply.outcome, latency_ms=latency,
                              error=None if reply.outcome == "ok" else _cut(text, 500))
        if reply.outcome == "ok":
            return _Outcome("ok", text, None, request_id)
        return _Outcome("timeout" if reply.outcome == "timeout" else "error", text, _cut(text, 500), request_id)

    def _announce(self, spec: JobSpec, result: RunResult) -> None:
        """A job's output goes to its channel; a failure says so there too, with the count."""
        if spec.kind == "builtin":
            return
        if result.ok:
            self._post(spec.post_to, f"*{spec.name}*\n{result.text}")
            return
        note = f"⚠️ Job `{spec.name}` failed ({result.consecutive_failures}/{spec.max_failures}): " \
               f"{_cut(result.error or result.text, 1500)}"
        if result.disabled:
            note += "\nIt is now disabled; see the alert."
        self._post(spec.post_to, note)

    @property
    def delivers(self) -> bool:
        return bool(getattr(self.poster, "delivers", True))

    def _post(self, channel: str | None, text: str, blocks: list[dict] | None = None) -> bool:
        """True when the message reached its channel (or had none to reach)."""
        if not channel:
            log.info("job output (no channel): %s", _cut(text, 2000))
            return True
        try:
            self.poster.post(channel, text, blocks)
        except Exception as exc:
            log.warning("could not post to %s: %s", channel, exc)
            return False
        return self.delivers

    # -- alerts --------------------------------------------------------------------------------

    def alert_channel(self, spec: JobSpec) -> str | None:
        return spec.alert_to or self.settings.bot_alert_channel or spec.post_to

    def _alert_builder(self, spec: JobSpec) -> Callable[[str, list[dict]], tuple[str | None, str]]:
        def build(job: str, recent: list[dict]) -> tuple[str | None, str]:
            lines = [f"🚨 Job `{job}` ({spec.target_label}) was disabled after {spec.max_failures} consecutive "
                     "failures. It will not run again until it is re-enabled.", "Last errors:"]
            for run in recent:
                lines.append(f"• {str(run['started_at'])[:16].replace('T', ' ')} UTC — {run['status']}: "
                             f"{_cut(run['error'], 300)}")
            lines.append(f"Fix the cause, then `bot jobs enable {job}` or `/ops jobs enable {job}` "
                         "(resets the failure count). History: `bot jobs history " + job + "`.")
            return self.alert_channel(spec), "\n".join(lines)
        return build

    def send_pending_alerts(self) -> int:
        """Post queued alerts. Each is claimed first, so it goes out at most once, whatever crashes.
        A process that cannot reach channels (no Slack) leaves them queued for one that can."""
        sent = 0
        for alert in self.ledger.pending_alerts(ALERT_MAX_ATTEMPTS):
            if alert["channel"] and not self.delivers:
                continue
            if time.monotonic() < self._alert_retry_at.get(alert["id"], 0.0):
                continue
            if not self.ledger.claim_alert(alert["id"]):
                continue
            ok = self._post(alert["channel"], alert["text"])
            self.ledger.finish_alert(alert["id"], at=iso(self.clock()), error=None if ok else "post failed")
            if not ok:
                wait = min(ALERT_BACKOFF_MAX_S, 30.0 * 2 ** alert["attempts"])
                self._alert_retry_at[alert["id"]] = time.monotonic() + wait
                log.warning("alert %s for job %s not delivered; retry in %.0f s", alert["id"], alert["job"], wait)
            sent += ok
        return sent

    # -- interrupted runs ------------------------------------------------------------------------

    def recover_interrupted(self, now: dt.datetime | None = None) -> list[int]:
        """Runs left "running" by a process that is gone → "interrupted" (not a failure).

        Gone = same host and its pid is dead (or is our pid under a holder this process never created:
        an earlier life of the pid, e.g. pid 1 in a container), or — on any host — past its deadline
        + margin."""
        now = now or self.clock()
        me_host = self.holder.split("/", 1)[0]
        interrupted = []
        for run in self.ledger.running_job_runs():
            holder = run.get("holder") or ""
            host, _, rest = holder.partition("/")
            deadline = _parse(run.get("deadline_at"))
            reason = None
            if deadline is not None and now > deadline:
                reason = "interrupted: still running past its deadline (process gone or hung)"
            elif holder in _LIVE_HOLDERS:
                continue
            elif host == me_host and run.get("pid"):
                pid = int(run["pid"])
                if pid == os.getpid() or not _pid_alive(pid):
                    reason = f"interrupted: process {pid} ended during the run (restart or kill)"
            if reason and self.ledger.interrupt_job_run(run["id"], reason=reason, at=iso(now)):
                log.warning("job %s: run %s %s; not counted as a failure", run["job"], run["id"], reason)
                interrupted.append(run["id"])
        return interrupted

    # -- the heartbeat ---------------------------------------------------------------------------

    def _budget_left(self) -> float:
        midnight = self.clock().astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return self.settings.bot_daily_budget_usd - self.ledger.spend_since(midnight)

    def health_checks(self, now: dt.datetime) -> list[tuple[str, Callable[[], Check]]]:
        settings, ledger = self.settings, self.ledger
        jobs: list[dict] = []

        def job_list() -> list[dict]:
            if not jobs:
                jobs.extend(self.list_jobs(now))
            return jobs

        checks: list[tuple[str, Callable[[], Check]]] = [
            ("slack", lambda: check_slack(settings)),
            ("anthropic", lambda: check_anthropic(settings)),
            ("ledger", lambda: check_ledger(ledger, now)),
            ("disk", lambda: check_disk(settings.bot_home)),
            ("scheduler", lambda: check_scheduler(ledger, job_list(), now, enabled=settings.bot_scheduler,
                                                  lease_name=LEASE_NAME, this_holder=self.holder)),
            ("jobs", lambda: check_jobs(job_list())),
            ("requests", lambda: check_stuck_requests(
                ledger, now, dt.timedelta(minutes=settings.bot_stuck_request_minutes))),
            ("tiers", lambda: check_tiers(ledger, now)),
            ("spend", lambda: check_spend(ledger, settings.bot_daily_budget_usd, now)),
            ("memory", lambda: check_memory(settings.memory_dir, now,
                                            dt.timedelta(days=settings.bot_memory_stale_days))),
        ]
        return [(name, self.check_overrides.get(name, run)) for name, run in checks]

    def health_report(self, now: dt.datetime | None = None) -> Report:
        """Run every check now (zero tokens) — what `bot health` and `/ops health` show."""
        now = now or self.clock()
        return build_report(self.health_checks(now), now)

    def _run_heartbeat(self, now: dt.datetime) -> _Outcome:
        report = self.health_report(now)
        post, full = should_post(report, last_fingerprint=self.ledger.get_state("heartbeat.fingerprint"),
                                 last_full_day=self.ledger.get_state("heartbeat.full_day"), now=now)
        report.full = full
        if post:
            if report.status != "ok" and self.summarizer is not None:
                try:
                    report.summary = self.summarizer(report)
                except Exception as exc:
                    log.warning("heartbeat summary failed: %s", exc)
            channel = self.settings.bot_heartbeat_channel
            if self._post(channel, report.to_text(), report.to_blocks()):
                self.ledger.set_state("heartbeat.fingerprint", report.fingerprint(), iso(now))
                if full:
                    self.ledger.set_state("heartbeat.full_day", now.astimezone(dt.UTC).date().isoformat(), iso(now))
        log.info("heartbeat: %s (%s)", report.status, "posted" if post else "unchanged, not posted")
        return _Outcome("ok", report.to_text())

    # -- the scheduler -----------------------------------------------------------------------------

    def tick(self, now: dt.datetime | None = None) -> bool:
        """Take or renew the scheduler lease, then (as the leader) recover, alert and (re)schedule.
        Called every lease_s/3 by the running scheduler; tests call it with an injected time."""
        now = now or self.clock()
        got = self.ledger.acquire_lease(LEASE_NAME, self.holder, self.lease_s, now.timestamp())
        with self._lock:
            if got and not self.is_leader:
                log.info("scheduler: %s holds the lease and runs the jobs", self.holder)
            elif self.is_leader and not got:
                log.warning("scheduler: %s lost the lease; no longer running jobs", self.holder)
            self.is_leader = got
        if got:
            self.recover_interrupted(now)
            self.send_pending_alerts()
            self._reconcile(now)
        else:
            self._unschedule_all()
        return got

    def _lease_tick(self) -> None:
        try:
            with self._lock:                  # never re-take the lease after stop() released it
                if self._aps is not None:
                    self.tick()
        except Exception:
            log.exception("scheduler: lease tick failed")

    def _aps_next_runs(self) -> dict[str, dt.datetime]:
        aps = self._aps
        if aps is None or not self.is_leader:
            return {}
        return {job.id: job.next_run_time for job in aps.get_jobs()
                if job.id != LEASE_JOB_ID and job.next_run_time is not None}

    def _reconcile(self, now: dt.datetime | None = None) -> None:
        """Make APScheduler's timetable match the ledger: scheduled jobs in, everything else out."""
        aps = self._aps
        if aps is None or not self.is_leader:
            return
        now = now or self.clock()
        with self._lock:
            states = self.ledger.job_states()
            wanted = {j["name"] for j in self.list_jobs(now) if j["state"] == "scheduled"}
            present = {job.id for job in aps.get_jobs() if job.id != LEASE_JOB_ID}
            for name in present - wanted:
                aps.remove_job(name)
            for name in sorted(wanted - present):
                spec, st = self.specs[name], states.get(name) or {}
                extra = {}
                missed = self._missed(spec, st, now)
                if missed is not None:
                    extra["next_run_time"] = missed     # APScheduler runs it once if within the grace time
                aps.add_job(self._scheduled, self._trigger(spec, _parse(st.get("last_run_at"))), args=[name],
                            id=name, name=name, max_instances=1, coalesce=True,
                            misfire_grace_time=int(self.misfire_grace_s), replace_existing=True, **extra)

    def _unschedule(self, name: str) -> None:
        aps = self._aps
        if aps is not None and aps.get_job(name) is not None:
            try:
                aps.remove_job(name)
            except Exception:  # already gone
                pass

    def _unschedule_all(self) -> None:
        aps = self._aps
        if aps is None:
            return
        for job in aps.get_jobs():
            if job.id != LEASE_JOB_ID:
                self._unschedule(job.id)

    def start(self) -> JobService:
        """Start APScheduler in this process; jobs run only while this process holds the lease."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        if self._aps is not None:
            return self
        aps = BackgroundScheduler(
            timezone=dt.UTC,
            executors={"default": ThreadPoolExecutor(MAX_WORKERS), "lease": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(self.misfire_grace_s)})
        aps.start()
        self._aps = aps
        renew = max(self.lease_s / 3, 0.05)
        aps.add_job(self._lease_tick, IntervalTrigger(seconds=renew), id=LEASE_JOB_ID, executor="lease",
                    next_run_time=utcnow(), max_instances=1, coalesce=True, misfire_grace_time=None)
        return self

    def stop(self, *, release: bool = True) -> None:
        """Stop scheduling; runs in flight finish on their threads. `release` hands the lease over now."""
        with self._lock:
            aps, self._aps = self._aps, None
            if aps is not None:
                aps.shutdown(wait=False)
            if release and self.is_leader:
                self.ledger.release_lease(LEASE_NAME, self.holder)
            self.is_leader = False

    # -- /ops jobs and /ops health -------------------------------------------------------------

    def jobs_command(self, args: list[str], *, user: str | None = None) -> CommandResult:
        """`/ops jobs [list | run NAME | enable NAME | disable NAME [reason…] | history NAME]`."""
        from bot.jobs_cli import history_text, jobs_blocks, jobs_text

        verb = args[0].lower() if args else "list"
        usage = "usage: /ops jobs [list | run NAME | enable NAME | disable NAME [reason] | history NAME]"
        try:
            if verb == "list":
                jobs = self.list_jobs()
                return CommandResult(jobs_text(jobs), jobs_blocks(jobs))
            if len(args) < 2:
                return CommandResult(usage, ok=False)
            name = args[1]
            if verb == "run":
                result = self.run_now(name, by=user)
                return CommandResult(_run_text(result), ok=result.ok)
            if verb == "enable":
                return CommandResult(self.enable(name, by=user).text)
            if verb == "disable":
                return CommandResult(self.disable(name, " ".join(args[2:]) or None, by=user).text)
            if verb == "history":
                return CommandResult(history_text(name, self.history(name)))
        except JobNotFound as exc:
            return CommandResult(str(exc), ok=False)
        return CommandResult(usage, ok=False)

    def health_command(self) -> CommandResult:
        report = self.health_report()
        return CommandResult(report.to_text(full=True), report.to_blocks(full=True), ok=report.status != "fail")


def _run_text(result: RunResult) -> str:
    if not result.ran:
        return result.text
    head = f"`{result.job}` run {result.run_id}: {result.status} in {result.duration_ms / 1000:.1f}s"
    if not result.ok:
        head += f" (failure {result.consecutive_failures}/{result.max_failures}" \
                f"{', job now disabled' if result.disabled else ''})"
    return f"{head}\n{result.text}"


@dataclass
class SchedulerHandle:
    service: JobService
    running: bool = True

    @property
    def is_leader(self) -> bool:
        return self.service.is_leader

    def shutdown(self, *, release: bool = True) -> None:
        if self.running:
            self.service.stop(release=release)
            self.running = False


def start_scheduler(bot: OpsBot, settings: Settings | None = None, poster: Poster | None = None, *,
                    holder: str | None = None, clock: Clock | None = None,
                    service: JobService | None = None) -> SchedulerHandle:
    """Start the job scheduler for `bot serve` (when settings.bot_scheduler and not --no-scheduler).

    `poster` is where job output, alerts and the heartbeat go: pass the Slack app's poster; by default
    a WebClient poster when SLACK_BOT_TOKEN is set, else the log. Returns a handle with .shutdown()."""
    settings = settings or bot.settings
    service = service or JobService(bot, settings, poster=poster or default_poster(settings), holder=holder,
                                    clock=clock)
    if not settings.bot_scheduler:
        log.info("scheduler off (BOT_SCHEDULER=false)")
        return SchedulerHandle(service, running=False)
    service.start()
    return SchedulerHandle(service)
