"""The ledger's schema, as an ordered list of steps; the database records how many have run.

Append-only: a schema change is a new function at the end of MIGRATIONS. Each step gets the
backend's database object (sqlite-utils' Database, or PgDatabase with the same `execute` and
`db[...].create`), inside one transaction with the write lock held. Write DDL as SQLite DDL
(INTEGER PRIMARY KEY, TEXT, REAL, INTEGER): dialect.py rewrites it for PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot import tier_events

Database = Any      # sqlite_utils.Database | bot.ledger.postgres.PgDatabase


def _v1(db: Database) -> None:
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


def _v2_jobs(db: Database) -> None:
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


def _v3_job_script_process(db: Database) -> None:
    """The script process of a job run (pid and an identity: boot id + start time), so that after a
    kill -9 of the bot a restart can stop a leftover script that is provably the same process."""
    db.execute("ALTER TABLE job_runs ADD COLUMN script_pid INTEGER")
    db.execute("ALTER TABLE job_runs ADD COLUMN script_identity TEXT")


def _v4_alert_retry(db: Database) -> None:
    """When a failed alert post may be tried again (backoff shared by every process, kept over restarts)."""
    db.execute("ALTER TABLE alerts ADD COLUMN next_attempt_at TEXT")


def _v5_request_worker(db: Database) -> None:
    """Which process handles a request, so a restart can find the ones a dead process left unanswered."""
    db.execute("ALTER TABLE requests ADD COLUMN worker TEXT")
    db.execute("CREATE INDEX idx_requests_unanswered ON requests (received_at) WHERE outcome IS NULL")


def _v6_notes(db: Database) -> None:
    """Memory notes in the database, so replicas on several machines share them (BOT_DATABASE_URL)."""
    db.execute("""CREATE TABLE notes (
        name TEXT PRIMARY KEY, summary TEXT NOT NULL, body TEXT NOT NULL, created_by TEXT, created_at TEXT,
        updated_at TEXT)""")


def _v8_llm_call_effort(db: Database) -> None:
    """Each LLM call's effort, whether it streamed, and which continuation of a cut answer it was."""
    db.execute("ALTER TABLE llm_calls ADD COLUMN effort TEXT")
    db.execute("ALTER TABLE llm_calls ADD COLUMN streamed INTEGER")
    db.execute("ALTER TABLE llm_calls ADD COLUMN continuation INTEGER")


# Append-only: a new schema change is a new function at the end.
MIGRATIONS: list[Callable[[Database], None]] = [_v1, _v2_jobs, _v3_job_script_process,
                                                _v4_alert_retry, _v5_request_worker,
                                                _v6_notes, tier_events.migrate, _v8_llm_call_effort]


def run_migrations(backend: Any) -> int:
    """Bring the schema up to date, once, whoever else is starting at the same moment."""
    with backend.transaction() as db:
        version = backend.schema_version(db)
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            step(db)
            backend.set_schema_version(db, number)
    return len(MIGRATIONS)
