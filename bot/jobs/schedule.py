"""The job service and its scheduler: APScheduler in the process holding the ledger lease.

    service = JobService(bot, settings, poster=poster)      # what `/ops jobs`, the console and `bot jobs` use
    service.list_jobs() · run_now(name) · enable(name) · disable(name, reason) · history(name)
    service.health_report() → checks.Report (.status, .checks, .to_blocks(), .to_text())
    handle = start_scheduler(bot, settings, poster)         # in `bot serve`; handle.shutdown()

Where state lives: everything that must survive a restart or a kill -9 is in the ledger (jobs,
job_runs, alerts, leases); APScheduler only holds the in-memory timetable of the process that holds
the "scheduler" lease, and is rebuilt from the ledger whenever a process takes the lease.
- A job whose script needs credentials that are not set (or a skill job without LLM tiers) is
  "waiting": shown, not scheduled, never counted. Enabling a job again resets its count.
- One scheduler per deployment: the process holding the ledger lease runs the jobs; it renews the
  lease every ttl/3 on its own thread; another process takes over once it expires.
- APScheduler runs each job with max_instances=1, coalesced misfires and a grace time.
The rest of the package is mapped in bot/jobs/__init__.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.jobs import heartbeat as heartbeat_job
from bot.jobs.checks import Report
from bot.jobs.posters import LogPoster, Poster, default_poster
from bot.jobs.run import JobRunner, RunResult
from bot.jobs.spec import Clock, JobNotFound, JobSpec, parse_time, utcnow
from bot.jobs.triggers import HEARTBEAT
from bot.ledger import iso
from bot.pipeline import OpsBot

__all__ = ["JobService", "SchedulerHandle", "start_scheduler"]

log = logging.getLogger(__name__)

LEASE_NAME = "scheduler"
LEASE_JOB_ID = "_scheduler_lease"
ALERTS_JOB_ID = "_alerts"
HOUSEKEEPING = frozenset({LEASE_JOB_ID, ALERTS_JOB_ID})     # APScheduler jobs that are not registry jobs
MISFIRE_GRACE_S = 300               # a run missed by less than this (e.g. during a restart) still runs, once
MAX_WORKERS = 10


@dataclass
class ActionResult:
    ok: bool
    text: str
    job: dict[str, Any] | None = None


# -- the service -----------------------------------------------------------------------------------


class JobService:
    """Jobs and the heartbeat over one bot and its ledger. Thread-safe; any number per ledger."""

    lease_name = LEASE_NAME

    def __init__(self, bot: OpsBot, settings: Settings | None = None, *, poster: Poster | None = None,
                 clock: Clock | None = None, holder: str | None = None, heartbeat: bool = True,
                 summarizer: Callable[[Report], str | None] | None | bool = True,
                 trigger_override: Callable[[JobSpec], Any] | None = None):
        """`summarizer`: True builds the mid-model summary of a troubled heartbeat (when a key is set);
        None/False: no summary; or any callable. `trigger_override` replaces every job's schedule (tests
        and the benchmark use sub-second intervals)."""
        self.bot = bot
        self.settings = settings or bot.settings
        self.ledger = bot.ledger
        self.registry = bot.registry
        self.poster: Poster = poster or LogPoster()
        self.clock: Clock = clock or utcnow
        self.holder = holder or f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.lease_s = self.settings.bot_scheduler_lease_s
        self.trigger_override = trigger_override
        self.is_leader = False
        self._aps = None
        self._lock = threading.RLock()
        self.runner = JobRunner(bot, self.settings, poster=self.poster, clock=self.clock, holder=self.holder,
                                builtins={HEARTBEAT: lambda now: heartbeat_job.run(self, now)},
                                on_disabled=self._unschedule)
        self.specs: dict[str, JobSpec] = {}
        if heartbeat:
            try:
                self.specs[HEARTBEAT] = heartbeat_job.spec(self.settings)
            except ValueError as exc:
                log.error("BOT_HEARTBEAT_CRON: %s — heartbeat not scheduled", exc)
        for entry in self.registry.jobs.values():
            if entry.name in self.specs:
                log.error("registry job %r clashes with the built-in job of that name; ignored", entry.name)
                continue
            self.specs[entry.name] = JobSpec.from_entry(entry, self.registry)
        if summarizer is True:
            self.summarizer = heartbeat_job.summarizer(self)
        else:
            self.summarizer = summarizer or None
        self.ledger.ensure_jobs(list(self.specs), iso(self.clock()))

    # -- lookups -----------------------------------------------------------------------------

    def spec(self, name: str) -> JobSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise JobNotFound(name, sorted(self.specs)) from None

    def _trigger(self, spec: JobSpec, anchor: dt.datetime | None):
        return self.trigger_override(spec) if self.trigger_override else spec.trigger(anchor)

    def _next_fire(self, spec: JobSpec, after: dt.datetime, anchor: dt.datetime | None) -> dt.datetime | None:
        return self._trigger(spec, anchor).get_next_fire_time(None, after)

    def _missed(self, spec: JobSpec, state: dict, now: dt.datetime) -> dt.datetime | None:
        """The first fire time after the last run, when it is already past (a run missed while down)."""
        last = parse_time(state.get("last_run_at"))
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
        auto = self.ledger.auto_disables()
        running = {r["job"] for r in self.ledger.running_job_runs()}
        aps_next = self._aps_next_runs()
        jobs = []
        for name in sorted(self.specs, key=lambda n: (n != HEARTBEAT, n)):
            spec = self.specs[name]
            st = states.get(name) or {}
            ledger_enabled = bool(st.get("enabled", 1))
            blocked = spec.blocked(self.bot)
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
                anchor = parse_time(st.get("last_run_at"))
                missed = self._missed(spec, st, now)
                late = missed is not None and (now - missed).total_seconds() > MISFIRE_GRACE_S
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
        blocked = spec.blocked(self.bot)
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
        return self.runner.run(self.spec(name), trigger=f"manual:{by}" if by else "manual")

    def _scheduled(self, name: str) -> None:
        """APScheduler's entry point. Never raises: a failure is recorded, not thrown at the scheduler."""
        if not self.is_leader:
            return
        spec = self.specs.get(name)
        if spec is None:
            return
        try:
            self.runner.run(spec, trigger="schedule", lease=LEASE_NAME)   # fenced: refused once the lease is lost
        except Exception:  # pragma: no cover - run() records its own failures; this is the last net
            log.exception("job %s: scheduler wrapper failed", name)

    def send_pending_alerts(self) -> int:
        return self.runner.send_pending_alerts()

    def recover_interrupted(self, now: dt.datetime | None = None) -> list[int]:
        return self.runner.recover_interrupted(now)

    # -- the heartbeat ---------------------------------------------------------------------------

    def health_report(self, now: dt.datetime | None = None) -> Report:
        """Run every check now (zero tokens) — what `bot health` and `/ops health` show."""
        return heartbeat_job.report(self, now or self.clock())

    # -- the scheduler -----------------------------------------------------------------------------

    def tick(self, now: dt.datetime | None = None) -> bool:
        """One scheduler step, as the running scheduler takes it: the lease (and, as the leader, recovery
        and the timetable), then the pending alerts. Tests call it with an injected time."""
        now = now or self.clock()
        leader = self._hold_lease(now)
        if leader:
            self.runner.send_pending_alerts()
        return leader

    def _hold_lease(self, now: dt.datetime, *, only_while_started: bool = False) -> bool:
        """Take or renew the lease; as the leader, recover interrupted runs and rebuild the timetable.
        All local work: the lease thread must renew on time, so posting (alerts) happens elsewhere."""
        with self._lock:
            if only_while_started and self._aps is None:       # never re-take the lease stop() released
                return False
            got = self.ledger.acquire_lease(LEASE_NAME, self.holder, self.lease_s, now.timestamp())
            if got and not self.is_leader:
                log.info("scheduler: %s holds the lease and runs the jobs", self.holder)
            elif self.is_leader and not got:
                log.warning("scheduler: %s lost the lease; no longer running jobs", self.holder)
            self.is_leader = got
        if got:
            self.runner.recover_interrupted(now)
            self._reconcile(now)
        else:
            self._unschedule_all()
        return got

    def _lease_tick(self) -> None:
        try:
            self._hold_lease(self.clock(), only_while_started=True)
        except Exception:
            log.exception("scheduler: lease tick failed")

    def _alerts_tick(self) -> None:
        if not self.is_leader:
            return
        try:
            self.runner.send_pending_alerts()
        except Exception:
            log.exception("scheduler: sending alerts failed")

    def _aps_next_runs(self) -> dict[str, dt.datetime]:
        aps = self._aps
        if aps is None or not self.is_leader:
            return {}
        return {job.id: job.next_run_time for job in aps.get_jobs()
                if job.id not in HOUSEKEEPING and job.next_run_time is not None}

    def _reconcile(self, now: dt.datetime | None = None) -> None:
        """Make APScheduler's timetable match the ledger: scheduled jobs in, everything else out."""
        aps = self._aps
        if aps is None or not self.is_leader:
            return
        now = now or self.clock()
        with self._lock:
            wanted = {j["name"]: j for j in self.list_jobs(now) if j["state"] == "scheduled"}
            present = {job.id for job in aps.get_jobs() if job.id not in HOUSEKEEPING}
            for name in present - wanted.keys():
                aps.remove_job(name)
            for name in sorted(wanted.keys() - present):
                spec, job = self.specs[name], wanted[name]
                extra = {}
                missed = self._missed(spec, job, now)
                if missed is not None:
                    extra["next_run_time"] = missed     # APScheduler runs it once if within the grace time
                aps.add_job(self._scheduled, self._trigger(spec, parse_time(job["last_run_at"])), args=[name],
                            id=name, name=name, max_instances=1, coalesce=True,
                            misfire_grace_time=MISFIRE_GRACE_S, replace_existing=True, **extra)

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
            if job.id not in HOUSEKEEPING:
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
            executors={"default": ThreadPoolExecutor(MAX_WORKERS), "lease": ThreadPoolExecutor(1),
                       "alerts": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S})
        aps.start()
        self._aps = aps
        renew = max(self.lease_s / 3, 0.05)
        # Housekeeping on threads of its own: a slow Slack post (alerts) never delays a lease renewal,
        # and neither waits behind long-running jobs.
        aps.add_job(self._lease_tick, IntervalTrigger(seconds=renew), id=LEASE_JOB_ID, executor="lease",
                    next_run_time=utcnow(), max_instances=1, coalesce=True, misfire_grace_time=None)
        aps.add_job(self._alerts_tick, IntervalTrigger(seconds=renew), id=ALERTS_JOB_ID, executor="alerts",
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
