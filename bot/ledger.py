"""The ledger: one SQLite file (WAL) with every request, tier decision, LLM call, script and job run.

Plain tables with readable names, so people can open it in Datasette or any SQLite tool.
Each thread gets its own connection; writes are short transactions, so several threads and
several processes can share one file. A kill at any point leaves the last committed state.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from bot import tier_events
from bot.process import this_worker, worker_alive
from bot.vocab import OUTCOMES


def iso(moment: dt.datetime) -> str:
    """The ledger's time format: UTC, milliseconds (so strings compare in time order)."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def now_iso() -> str:
    return iso(dt.datetime.now(dt.UTC))


def new_id() -> str:
    return uuid.uuid4().hex[:16]


def _v1(db: sqlite_utils.Database) -> None:
    db["requests"].create({
        "id": str, "source": str, "event_id": str, "user": str, "channel": str, "thread_ts": str,
        "text": str, "received_at": str, "answered_at": str, "outcome": str, "error": str,
        "latency_ms": float, "reply_ts": str, "feedback": str,
    }, pk="id")
    db["requests"].create_index(["received_at"])
    db["requests"].create_index(["reply_ts"])
    db["decisions"].create({
        "id": int, "request_id": str, "tier": str, "decided_by": str, "script": str, "skill": str,
        "reason": str, "score": float, "candidates": str, "created_at": str, "misclassified": int,
    }, pk="id", foreign_keys=[("request_id", "requests", "id")])
    db["decisions"].create_index(["request_id"])
    db["llm_calls"].create({
        "id": int, "request_id": str, "job_run_id": int, "purpose": str, "model": str,
        "input_tokens": int, "output_tokens": int, "cache_read_tokens": int, "cache_write_tokens": int,
        "cost_usd": float, "latency_ms": float, "stop_reason": str, "error": str, "created_at": str,
    }, pk="id")
    db["llm_calls"].create_index(["request_id"])
    db["llm_calls"].create_index(["created_at"])
    db["script_runs"].create({
        "id": int, "request_id": str, "job_run_id": int, "script": str, "args": str, "exit_code": int,
        "status": str, "duration_ms": float, "output_bytes": int, "truncated": int, "error": str,
        "created_at": str,
    }, pk="id")
    db["script_runs"].create_index(["created_at"])
    db["jobs"].create({
        "name": str, "enabled": int, "consecutive_failures": int, "last_run_at": str, "last_status": str,
        "last_error": str, "disabled_at": str, "disabled_reason": str, "updated_at": str,
    }, pk="name")
    db["job_runs"].create({
        "id": int, "job": str, "started_at": str, "finished_at": str, "status": str, "error": str,
        "duration_ms": float, "request_id": str, "pid": int,
    }, pk="id")
    db["job_runs"].create_index(["job", "id"])
    db["processed_events"].create({"key": str, "request_id": str, "created_at": str}, pk="key")
    db["confirmations"].create({
        "id": str, "request_id": str, "user": str, "channel": str, "script": str, "args": str,
        "status": str, "created_at": str, "expires_at": str, "decided_at": str, "decided_by": str,
    }, pk="id")
    db["leases"].create({"name": str, "holder": str, "expires_at": float}, pk="name")


def _v2_jobs(db: sqlite_utils.Database) -> None:
    """Scheduled jobs: who runs a job run and until when (to tell an interrupted run from a live one),
    one alert per disable event (unique, so a restart never sends it twice), and small key/value state
    (the heartbeat's last fingerprint). Raw SQL: sqlite-utils' DDL helpers may commit on their own."""
    db.execute("ALTER TABLE job_runs ADD COLUMN holder TEXT")
    db.execute("ALTER TABLE job_runs ADD COLUMN trigger TEXT")
    db.execute("ALTER TABLE job_runs ADD COLUMN deadline_at TEXT")
    db.execute("CREATE INDEX idx_job_runs_status ON job_runs (status)")
    db.execute("""CREATE TABLE alerts (
        id INTEGER PRIMARY KEY, job TEXT NOT NULL, disabled_at TEXT NOT NULL, channel TEXT, text TEXT,
        status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, error TEXT,
        created_at TEXT, sent_at TEXT)""")
    db.execute("CREATE UNIQUE INDEX idx_alerts_disable_event ON alerts (job, disabled_at)")
    db.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT, updated_at TEXT)")


def _v3_job_script_process(db: sqlite_utils.Database) -> None:
    """The script process of a job run (pid and an identity: boot id + start time), so that after a
    kill -9 of the bot a restart can stop a leftover script that is provably the same process."""
    db.execute("ALTER TABLE job_runs ADD COLUMN script_pid INTEGER")
    db.execute("ALTER TABLE job_runs ADD COLUMN script_identity TEXT")


def _v4_alert_retry(db: sqlite_utils.Database) -> None:
    """When a failed alert post may be tried again (backoff shared by every process, kept over restarts)."""
    db.execute("ALTER TABLE alerts ADD COLUMN next_attempt_at TEXT")


def _v5_request_worker(db: sqlite_utils.Database) -> None:
    """Which process handles a request, so a restart can find the ones a dead process left unanswered."""
    db.execute("ALTER TABLE requests ADD COLUMN worker TEXT")
    db.execute("CREATE INDEX idx_requests_unanswered ON requests (received_at) WHERE outcome IS NULL")


# Append-only: a new schema change is a new function at the end.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2_jobs, _v3_job_script_process,
                                                             _v4_alert_retry, _v5_request_worker,
                                                             tier_events.migrate]


def _ensure_job(db: sqlite_utils.Database, name: str, at: str) -> None:
    """A job's state row (enabled, no failures) unless it has one; inside the caller's transaction."""
    db.execute("INSERT OR IGNORE INTO jobs (name, enabled, consecutive_failures, updated_at) VALUES (?, 1, 0, ?)",
               [name, at])


class Ledger:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self.migrate()

    # -- connections -------------------------------------------------------------------------

    @property
    def db(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            db = sqlite_utils.Database(conn)
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """BEGIN IMMEDIATE: take the write lock up front so read-then-write is atomic across processes."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def migrate(self) -> int:
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
                step(db)
                db.execute(f"PRAGMA user_version = {number}")
        return len(MIGRATIONS)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.conn.close()
            self._local.db = None

    # -- requests ----------------------------------------------------------------------------

    def start_request(self, *, source: str, text: str, user: str | None = None, channel: str | None = None,
                      event_id: str | None = None, thread_ts: str | None = None,
                      request_id: str | None = None) -> str:
        request_id = request_id or new_id()
        self.db["requests"].insert({
            "id": request_id, "source": source, "event_id": event_id, "user": user, "channel": channel,
            "thread_ts": thread_ts, "text": text, "received_at": now_iso(), "worker": this_worker(),
        })
        return request_id

    def finish_request(self, request_id: str, outcome: str, *, error: str | None = None,
                       latency_ms: float | None = None, reply_ts: str | None = None) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        self.db["requests"].update(request_id, {
            "outcome": outcome, "error": error, "answered_at": now_iso(), "latency_ms": latency_ms,
            **({"reply_ts": reply_ts} if reply_ts else {}),
        })

    def close_orphaned_requests(self) -> list[dict]:
        """Requests left without an outcome by a process that no longer runs (killed, crashed, restarted):
        mark them interrupted and return them, so the front-end can tell the people who asked."""
        rows = [dict(zip(("id", "source", "user", "channel", "thread_ts", "worker"), row, strict=True))
                for row in self.db.execute("SELECT id, source, user, channel, thread_ts, worker FROM requests "
                                           "WHERE outcome IS NULL AND worker IS NOT NULL")]
        orphans = [row for row in rows if not worker_alive(row["worker"])]
        for row in orphans:
            self.db.execute("UPDATE requests SET outcome = 'error', answered_at = ?, "
                            "error = 'interrupted: the bot stopped before answering' "
                            "WHERE id = ? AND outcome IS NULL", [now_iso(), row["id"]])
        return orphans

    def set_reply_ts(self, request_id: str, reply_ts: str) -> None:
        self.db["requests"].update(request_id, {"reply_ts": reply_ts})

    @contextmanager
    def request(self, **fields: Any) -> Iterator[str]:
        """A request that always ends with an outcome, even when the body raises."""
        request_id = self.start_request(**fields)
        try:
            yield request_id
        except BaseException as exc:
            self.finish_request(request_id, "error", error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        row = self.db["requests"].get(request_id)
        if row["outcome"] is None:
            self.finish_request(request_id, "ok")

    def get_request(self, request_id: str) -> dict | None:
        rows = list(self.db["requests"].rows_where("id = ?", [request_id]))
        return rows[0] if rows else None

    def request_by_reply(self, reply_ts: str) -> dict | None:
        rows = list(self.db["requests"].rows_where("reply_ts = ?", [reply_ts], limit=1))
        return rows[0] if rows else None

    def set_feedback(self, request_id: str, feedback: str) -> None:
        """👍/👎 on a reply; 👎 marks the request's decisions as a possible misclassification."""
        # Raw SQL here: sqlite-utils' writes commit on their own, which would end this transaction early.
        with self.transaction() as db:
            db.execute("UPDATE requests SET feedback = ? WHERE id = ?", [feedback, request_id])
            db.execute("UPDATE decisions SET misclassified = ? WHERE request_id = ?",
                       [1 if feedback == "down" else 0, request_id])

    # -- decisions, calls, runs --------------------------------------------------------------

    def record_decision(self, request_id: str, *, tier: str, decided_by: str, reason: str,
                        score: float | None = None, candidates: list | None = None,
                        script: str | None = None, skill: str | None = None) -> int:
        return self.db["decisions"].insert({
            "request_id": request_id, "tier": tier, "decided_by": decided_by, "script": script,
            "skill": skill, "reason": reason, "score": score,
            "candidates": json.dumps(candidates or []), "created_at": now_iso(), "misclassified": 0,
        }).last_pk

    def decisions_for(self, request_id: str) -> list[dict]:
        return list(self.db["decisions"].rows_where("request_id = ?", [request_id], order_by="id"))

    def record_llm_call(self, *, request_id: str | None, model: str, purpose: str, input_tokens: int = 0,
                        output_tokens: int = 0, cache_read_tokens: int = 0, cache_write_tokens: int = 0,
                        cost_usd: float = 0.0, latency_ms: float = 0.0, stop_reason: str | None = None,
                        error: str | None = None, job_run_id: int | None = None) -> int:
        return self.db["llm_calls"].insert({
            "request_id": request_id, "job_run_id": job_run_id, "purpose": purpose, "model": model,
            "input_tokens": input_tokens, "output_tokens": output_tokens,
            "cache_read_tokens": cache_read_tokens, "cache_write_tokens": cache_write_tokens,
            "cost_usd": cost_usd, "latency_ms": latency_ms, "stop_reason": stop_reason, "error": error,
            "created_at": now_iso(),
        }).last_pk

    def llm_calls_for(self, request_id: str) -> list[dict]:
        return list(self.db["llm_calls"].rows_where("request_id = ?", [request_id], order_by="id"))

    def record_script_run(self, *, script: str, args: dict, exit_code: int | None, status: str,
                          duration_ms: float, output_bytes: int, truncated: bool, error: str | None = None,
                          request_id: str | None = None, job_run_id: int | None = None) -> int:
        return self.db["script_runs"].insert({
            "request_id": request_id, "job_run_id": job_run_id, "script": script,
            "args": json.dumps(args, default=str), "exit_code": exit_code, "status": status,
            "duration_ms": duration_ms, "output_bytes": output_bytes, "truncated": int(truncated),
            "error": error, "created_at": now_iso(),
        }).last_pk

    def spend_since(self, since: dt.datetime) -> float:
        row = self.db.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE created_at >= ?",
                              [iso(since)]).fetchone()
        return float(row[0])

    def spend_today(self, now: dt.datetime | None = None) -> float:
        """LLM spend since the last UTC midnight before `now` (default: the current time)."""
        now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        return self.spend_since(now.replace(hour=0, minute=0, second=0, microsecond=0))

    def script_runs_for(self, request_id: str) -> list[dict]:
        return list(self.db["script_runs"].rows_where("request_id = ?", [request_id], order_by="id"))

    # -- confirmations of write scripts ------------------------------------------------------

    def add_confirmation(self, *, confirmation_id: str, request_id: str, user: str | None, channel: str | None,
                         script: str, args: dict, expires_at: str) -> None:
        self.db["confirmations"].insert({
            "id": confirmation_id, "request_id": request_id, "user": user, "channel": channel, "script": script,
            "args": json.dumps(args, default=str), "status": "pending", "created_at": now_iso(),
            "expires_at": expires_at,
        })

    def get_confirmation(self, confirmation_id: str) -> dict | None:
        rows = list(self.db["confirmations"].rows_where("id = ?", [confirmation_id]))
        return rows[0] if rows else None

    def decide_confirmation(self, confirmation_id: str, status: str, by: str | None) -> bool:
        """Move a pending confirmation to `status`. True for the one caller that did (a double click,
        or two processes, cannot both confirm)."""
        return self.db.execute(
            "UPDATE confirmations SET status = ?, decided_at = ?, decided_by = ? WHERE id = ? AND status = 'pending'",
            [status, now_iso(), by, confirmation_id]).rowcount == 1

    def expire_confirmations(self, now: str) -> int:
        """Pending confirmations past `now` (ISO, seconds) become expired, and their requests cancelled."""
        with self.transaction() as db:
            ids = [r[0] for r in db.execute(
                "SELECT request_id FROM confirmations WHERE status = 'pending' AND expires_at < ?", [now])]
            db.execute("UPDATE confirmations SET status = 'expired', decided_at = ? "
                       "WHERE status = 'pending' AND expires_at < ?", [now_iso(), now])
            for request_id in ids:
                db.execute("UPDATE requests SET outcome = 'cancelled', error = 'confirmation expired' "
                           "WHERE id = ?", [request_id])
        return len(ids)

    # -- exactly once ------------------------------------------------------------------------

    def claim_event(self, key: str, request_id: str | None = None) -> bool:
        """True for the first caller with this key (event id, trigger id), in any process; else False."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO processed_events (key, request_id, created_at) VALUES (?, ?, ?)",
            [key, request_id, now_iso()])
        return cursor.rowcount == 1

    def prune_claims(self, before: str, prefix: str) -> int:
        """Forget claimed keys with `prefix` older than `before` (ISO): redeliveries stop long before."""
        return self.db.execute("DELETE FROM processed_events WHERE created_at < ? AND key LIKE ?",
                               [before, prefix + "%"]).rowcount

    # -- leases ------------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl_s: float, now: float) -> bool:
        """Take or renew a named lease; True when `holder` has it until now + ttl_s."""
        with self.transaction() as db:
            row = db.execute("SELECT holder, expires_at FROM leases WHERE name = ?", [name]).fetchone()
            if row is None or row[0] == holder or row[1] <= now:
                db.execute("INSERT OR REPLACE INTO leases (name, holder, expires_at) VALUES (?, ?, ?)",
                           [name, holder, now + ttl_s])
                return True
            return False

    def release_lease(self, name: str, holder: str) -> None:
        self.db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", [name, holder])

    # -- jobs --------------------------------------------------------------------------------
    # Runtime state of scheduled jobs (bot/scheduler.py): enabled, consecutive failures, last run,
    # disable reason, runs, alerts. Every step that can decide on a disable is one BEGIN IMMEDIATE
    # transaction, so two racing runs (threads or processes) can never both disable and alert.

    JOB_FAILURES = ("error", "timeout")     # what counts; "interrupted" (restart, kill -9) does not

    def job_states(self) -> dict[str, dict]:
        return {row["name"]: row for row in self.db["jobs"].rows}

    def job_state(self, name: str) -> dict | None:
        rows = list(self.db["jobs"].rows_where("name = ?", [name]))
        return rows[0] if rows else None

    def ensure_jobs(self, names: list[str], at: str) -> None:
        """A state row per job (enabled, no failures) the first time it is seen; existing rows stay."""
        with self.transaction() as db:
            for name in names:
                _ensure_job(db, name, at)

    def start_job_run(self, job: str, *, started_at: str, deadline_at: str, holder: str, pid: int,
                      trigger: str) -> tuple[str, int | None]:
        """('started', run id) — or ('disabled', None), or ('busy', id of the run still going),
        checked and written atomically so no process starts a disabled or already-running job."""
        with self.transaction() as db:
            _ensure_job(db, job, started_at)
            if not db.execute("SELECT enabled FROM jobs WHERE name = ?", [job]).fetchone()[0]:
                return "disabled", None
            busy = db.execute("SELECT id FROM job_runs WHERE job = ? AND status = 'running' "
                              "ORDER BY id DESC LIMIT 1", [job]).fetchone()
            if busy:
                return "busy", busy[0]
            cursor = db.execute(
                "INSERT INTO job_runs (job, started_at, status, pid, holder, trigger, deadline_at) "
                "VALUES (?, ?, 'running', ?, ?, ?, ?)", [job, started_at, pid, holder, trigger, deadline_at])
            return "started", cursor.lastrowid

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
                    recent = [dict(zip(("id", "started_at", "status", "error"), row, strict=True))
                              for row in db.execute(
                                  "SELECT id, started_at, status, error FROM job_runs WHERE job = ? "
                                  "AND status IN ('error', 'timeout') ORDER BY id DESC LIMIT ?",
                                  [job, max_failures])]
                    channel, text = alert(job, recent)
                    cursor = db.execute(
                        "INSERT OR IGNORE INTO alerts (job, disabled_at, channel, text, status, created_at) "
                        "VALUES (?, ?, ?, ?, 'pending', ?)", [job, finished_at, channel, text, finished_at])
                    alert_id = cursor.lastrowid if cursor.rowcount == 1 else None
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
            return True

    def running_job_runs(self) -> list[dict]:
        return list(self.db["job_runs"].rows_where("status = 'running'", order_by="id"))

    def job_runs(self, job: str, limit: int = 20) -> list[dict]:
        """Newest first."""
        return list(self.db["job_runs"].rows_where("job = ?", [job], order_by="id DESC", limit=limit))

    def set_job_enabled(self, name: str, enabled: bool, *, at: str, reason: str | None = None) -> dict:
        """Enable (and reset the failure count) or disable by hand; returns the state before."""
        with self.transaction() as db:
            _ensure_job(db, name, at)
            cursor = db.execute("SELECT * FROM jobs WHERE name = ?", [name])
            before = dict(zip([c[0] for c in cursor.description], cursor.fetchone(), strict=True))
            if enabled:
                db.execute("UPDATE jobs SET enabled = 1, consecutive_failures = 0, disabled_at = NULL, "
                           "disabled_reason = NULL, updated_at = ? WHERE name = ?", [at, name])
            elif before["enabled"]:
                db.execute("UPDATE jobs SET enabled = 0, disabled_at = ?, disabled_reason = ?, updated_at = ? "
                           "WHERE name = ?", [at, reason or "disabled by hand", at, name])
            return before

    def pending_alerts(self, max_attempts: int, now: str) -> list[dict]:
        """Alerts to post now: queued, or failed with attempts left and their retry time reached."""
        return list(self.db["alerts"].rows_where(
            "status IN ('pending', 'failed') AND attempts < ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)",
            [max_attempts, now], order_by="id"))

    def claim_alert(self, alert_id: int) -> bool:
        """At most once: only the caller that flips it to 'sending' posts it (a crash then never resends)."""
        return self.db.execute("UPDATE alerts SET status = 'sending', attempts = attempts + 1 "
                               "WHERE id = ? AND status IN ('pending', 'failed')", [alert_id]).rowcount == 1

    def finish_alert(self, alert_id: int, *, at: str, error: str | None = None, retry_at: str | None = None) -> None:
        """Sent — or failed, to be tried again from `retry_at`."""
        self.db.execute("UPDATE alerts SET status = ?, error = ?, sent_at = ?, next_attempt_at = ? WHERE id = ?",
                        ["failed" if error else "sent", error, None if error else at, retry_at, alert_id])

    def alert(self, alert_id: int) -> dict | None:
        rows = list(self.db["alerts"].rows_where("id = ?", [alert_id]))
        return rows[0] if rows else None

    def auto_disables(self) -> set[tuple[str, str]]:
        """(job, disabled_at) of every disable by failures (each queued an alert), to tell them from
        disables by hand."""
        return {(row[0], row[1]) for row in self.db.execute("SELECT job, disabled_at FROM alerts")}

    def get_state(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM state WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str, at: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO state (key, value, updated_at) VALUES (?, ?, ?)", [key, value, at])
