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

OUTCOMES = ("ok", "error", "refused", "timeout", "awaiting_confirmation", "cancelled")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


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


# Append-only: a new schema change is a new function at the end.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1]


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
            "thread_ts": thread_ts, "text": text, "received_at": now_iso(),
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
                              [since.isoformat(timespec="milliseconds")]).fetchone()
        return float(row[0])

    def spend_today(self) -> float:
        midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return self.spend_since(midnight)

    # -- exactly once ------------------------------------------------------------------------

    def claim_event(self, key: str, request_id: str | None = None) -> bool:
        """True for the first caller with this key (event id, trigger id), in any process; else False."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO processed_events (key, request_id, created_at) VALUES (?, ?, ?)",
            [key, request_id, now_iso()])
        return cursor.rowcount == 1

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
