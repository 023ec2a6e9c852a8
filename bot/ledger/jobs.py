"""Scheduled jobs' runtime state (bot/jobs/schedule.py), the scheduler lease, alerts and key/value state.

Every step that can decide on a disable (or a leader) is one write transaction (BEGIN IMMEDIATE in
SQLite, the advisory write lock in PostgreSQL), so two racing runs — threads, processes or replicas on
other machines — can never both disable and alert, both start a job, or both hold the lease.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot import metrics
from bot.ledger.sql import first, insert, rows


def _ensure_job(db: Any, name: str, at: str) -> None:
    """A job's state row (enabled, no failures) unless it has one; inside the caller's transaction."""
    db.execute("INSERT INTO jobs (name, enabled, consecutive_failures, updated_at) VALUES (?, 1, 0, ?) "
               "ON CONFLICT (name) DO NOTHING", [name, at])


class JobsMixin:
    db: Any
    transaction: Callable[..., Any]

    # -- leases ------------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl_s: float, now: float) -> bool:
        """Take or renew a named lease; True when `holder` has it until now + ttl_s."""
        with self.transaction() as db:
            row = db.execute("SELECT holder, expires_at FROM leases WHERE name = ?", [name]).fetchone()
            if row is None or row[0] == holder or row[1] <= now:
                db.execute("INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (name) "
                           "DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
                           [name, holder, now + ttl_s])
                return True
            return False

    def holds_lease(self, name: str, holder: str, now: float) -> bool:
        row = self.db.execute("SELECT holder, expires_at FROM leases WHERE name = ?", [name]).fetchone()
        return row is not None and row[0] == holder and row[1] > now

    def release_lease(self, name: str, holder: str) -> None:
        self.db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", [name, holder])

    # -- jobs --------------------------------------------------------------------------------

    JOB_FAILURES = ("error", "timeout")     # what counts; "interrupted" (restart, kill -9) does not

    def job_states(self) -> dict[str, dict]:
        return {row["name"]: row for row in rows(self.db, "SELECT * FROM jobs")}

    def job_state(self, name: str) -> dict | None:
        return first(self.db, "SELECT * FROM jobs WHERE name = ?", [name])

    def ensure_jobs(self, names: list[str], at: str) -> None:
        """A state row per job (enabled, no failures) the first time it is seen; existing rows stay."""
        with self.transaction() as db:
            for name in names:
                _ensure_job(db, name, at)

    def start_job_run(self, job: str, *, started_at: str, deadline_at: str, holder: str, pid: int,
                      trigger: str, lease: tuple[str, float] | None = None) -> tuple[str, int | None]:
        """('started', run id) — or ('disabled', None), or ('busy', id of the run still going), or, with
        `lease` = (lease name, now), ('not-leader', None) unless `holder` holds that lease: checked and
        written atomically, so no process starts a disabled or already-running job, and a scheduler
        that lost its lease (paused, partitioned) cannot start a run its successor also starts."""
        with self.transaction() as db:
            if lease is not None and not self.holds_lease(lease[0], holder, lease[1]):
                return "not-leader", None
            _ensure_job(db, job, started_at)
            if not db.execute("SELECT enabled FROM jobs WHERE name = ?", [job]).fetchone()[0]:
                return "disabled", None
            busy = db.execute("SELECT id FROM job_runs WHERE job = ? AND status = 'running' "
                              "ORDER BY id DESC LIMIT 1", [job]).fetchone()
            if busy:
                return "busy", busy[0]
            run_id = insert(db, "job_runs", {
                "job": job, "started_at": started_at, "status": "running", "pid": pid, "holder": holder,
                "trigger": trigger, "deadline_at": deadline_at}, returning="id")
            return "started", run_id

    def set_job_run_request(self, run_id: int, request_id: str) -> None:
        self.db.execute("UPDATE job_runs SET request_id = ? WHERE id = ?", [request_id, run_id])

    def set_job_run_script(self, run_id: int, pid: int, identity: str | None) -> None:
        self.db.execute("UPDATE job_runs SET script_pid = ?, script_identity = ? WHERE id = ?",
                        [pid, identity, run_id])

    def finish_job_run(self, run_id: int, *, status: str, error: str | None, finished_at: str,
                       duration_ms: float, max_failures: int,
                       alert: Callable[[str, list[dict]], tuple[str | None, str]] | None = None) -> dict:
        """Record how a run ended and update its job, in one transaction.

        "ok" resets the failure count, "error"/"timeout" add one. The run that reaches `max_failures`
        disables the job (once: only while it is still enabled) and queues one alert row built by
        `alert(job, last failed runs) -> (channel, text)`. Returns consecutive_failures, disabled, alert_id.
        """
        with self.transaction() as db:
            job, started_at = db.execute("SELECT job, started_at FROM job_runs WHERE id = ?",
                                         [run_id]).fetchone()
            db.execute("UPDATE job_runs SET status = ?, error = ?, finished_at = ?, duration_ms = ? "
                       "WHERE id = ?", [status, error, finished_at, duration_ms, run_id])
            _ensure_job(db, job, finished_at)
            enabled, failures = db.execute("SELECT enabled, COALESCE(consecutive_failures, 0) FROM jobs "
                                           "WHERE name = ?", [job]).fetchone()
            failed = status in self.JOB_FAILURES
            failures = failures + 1 if failed else 0 if status == "ok" else failures
            db.execute("UPDATE jobs SET consecutive_failures = ?, last_run_at = ?, last_status = ?, "
                       "last_error = ?, updated_at = ? WHERE name = ?",
                       [failures, started_at, status, error if failed else None, finished_at, job])
            disabled, alert_id = False, None
            if enabled and failed and failures >= max_failures:
                disabled = True
                db.execute("UPDATE jobs SET enabled = 0, disabled_at = ?, disabled_reason = ? WHERE name = ?",
                           [finished_at, f"{failures} consecutive failures", job])
                if alert is not None:
                    recent = rows(db, "SELECT id, started_at, status, error FROM job_runs WHERE job = ? "
                                      "AND status IN ('error', 'timeout') ORDER BY id DESC LIMIT ?",
                                  [job, max_failures])
                    channel, text = alert(job, recent)
                    found = db.execute(
                        "INSERT INTO alerts (job, disabled_at, channel, text, status, created_at) "
                        "VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (job, disabled_at) DO NOTHING RETURNING id",
                        [job, finished_at, channel, text, finished_at]).fetchall()
                    alert_id = found[0][0] if found else None
        metrics.job_run(job, status, disabled)
        return {"job": job, "consecutive_failures": failures, "disabled": disabled, "alert_id": alert_id}

    def interrupt_job_run(self, run_id: int, *, reason: str, at: str) -> bool:
        """Mark a run whose process is gone as interrupted (not a failure); its request is cancelled."""
        with self.transaction() as db:
            row = db.execute("SELECT job, request_id FROM job_runs WHERE id = ? AND status = 'running'",
                             [run_id]).fetchone()
            if row is None:
                return False
            db.execute("UPDATE job_runs SET status = 'interrupted', error = ?, finished_at = ? WHERE id = ?",
                       [reason, at, run_id])
            db.execute("UPDATE jobs SET last_status = 'interrupted', updated_at = ? WHERE name = ?", [at, row[0]])
            if row[1]:
                db.execute("UPDATE requests SET outcome = 'cancelled', error = ?, answered_at = ? "
                           "WHERE id = ? AND outcome IS NULL", [reason, at, row[1]])
        metrics.job_run(row[0], "interrupted")
        return True

    def running_job_runs(self) -> list[dict]:
        return rows(self.db, "SELECT * FROM job_runs WHERE status = 'running' ORDER BY id")

    def job_runs(self, job: str, limit: int = 20) -> list[dict]:
        """Newest first."""
        return rows(self.db, "SELECT * FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT ?", [job, limit])

    def set_job_enabled(self, name: str, enabled: bool, *, at: str, reason: str | None = None) -> dict:
        """Enable (and reset the failure count) or disable by hand; returns the state before."""
        with self.transaction() as db:
            _ensure_job(db, name, at)
            before = first(db, "SELECT * FROM jobs WHERE name = ?", [name])
            assert before is not None
            if enabled:
                db.execute("UPDATE jobs SET enabled = 1, consecutive_failures = 0, disabled_at = NULL, "
                           "disabled_reason = NULL, updated_at = ? WHERE name = ?", [at, name])
            elif before["enabled"]:
                db.execute("UPDATE jobs SET enabled = 0, disabled_at = ?, disabled_reason = ?, updated_at = ? "
                           "WHERE name = ?", [at, reason or "disabled by hand", at, name])
            return before

    def pending_alerts(self, max_attempts: int, now: str) -> list[dict]:
        """Alerts to post now: queued, or failed with attempts left and their retry time reached."""
        return rows(self.db, "SELECT * FROM alerts WHERE status IN ('pending', 'failed') AND attempts < ? "
                             "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id",
                    [max_attempts, now])

    def claim_alert(self, alert_id: int) -> bool:
        """At most once: only the caller that flips it to 'sending' posts it (a crash then never resends)."""
        return self.db.execute("UPDATE alerts SET status = 'sending', attempts = attempts + 1 "
                               "WHERE id = ? AND status IN ('pending', 'failed')", [alert_id]).rowcount == 1

    def finish_alert(self, alert_id: int, *, at: str, error: str | None = None, retry_at: str | None = None) -> None:
        """Sent — or failed, to be tried again from `retry_at`."""
        self.db.execute("UPDATE alerts SET status = ?, error = ?, sent_at = ?, next_attempt_at = ? WHERE id = ?",
                        ["failed" if error else "sent", error, None if error else at, retry_at, alert_id])

    def alert(self, alert_id: int) -> dict | None:
        return first(self.db, "SELECT * FROM alerts WHERE id = ?", [alert_id])

    def auto_disables(self) -> set[tuple[str, str]]:
        """(job, disabled_at) of every disable by failures (each queued an alert), to tell them from
        disables by hand."""
        return {(row[0], row[1]) for row in self.db.execute("SELECT job, disabled_at FROM alerts")}

    def get_state(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM state WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str, at: str) -> None:
        self.db.execute("INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) "
                        "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at", [key, value, at])
