"""Requests and what happened in them: decisions, LLM calls, script runs, confirmations, claims."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from bot import metrics
from bot.ledger.sql import first, insert, rows
from bot.ledger.times import OUTCOMES, iso, new_id, now_iso
from bot.process import this_worker, worker_alive


class RequestsMixin:
    db: Any

    # -- requests ----------------------------------------------------------------------------

    def start_request(self, *, source: str, text: str, user: str | None = None, channel: str | None = None,
                      event_id: str | None = None, thread_ts: str | None = None,
                      request_id: str | None = None) -> str:
        request_id = request_id or new_id()
        insert(self.db, "requests", {
            "id": request_id, "source": source, "event_id": event_id, "user": user, "channel": channel,
            "thread_ts": thread_ts, "text": text, "received_at": now_iso(), "worker": this_worker(),
        })
        return request_id

    def finish_request(self, request_id: str, outcome: str, *, error: str | None = None,
                       latency_ms: float | None = None, reply_ts: str | None = None) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        self.db.execute("UPDATE requests SET outcome = ?, error = ?, answered_at = ?, latency_ms = ?, "
                        "reply_ts = COALESCE(?, reply_ts) WHERE id = ?",
                        [outcome, error, now_iso(), latency_ms, reply_ts or None, request_id])
        metrics.request_finished(self, request_id, outcome)

    def close_orphaned_requests(self) -> list[dict]:
        """Requests left without an outcome by a process that no longer runs (killed, crashed, restarted):
        mark them interrupted and return them, so the front-end can tell the people who asked."""
        found = rows(self.db, 'SELECT id, source, "user", channel, thread_ts, worker FROM requests '
                              "WHERE outcome IS NULL AND worker IS NOT NULL")
        orphans = [row for row in found if not worker_alive(row["worker"])]
        for row in orphans:
            self.db.execute("UPDATE requests SET outcome = 'error', answered_at = ?, "
                            "error = 'interrupted: the bot stopped before answering' "
                            "WHERE id = ? AND outcome IS NULL", [now_iso(), row["id"]])
        metrics.requests_closed(self, [row["id"] for row in orphans], "error")
        return orphans

    def set_reply_ts(self, request_id: str, reply_ts: str) -> None:
        self.db.execute("UPDATE requests SET reply_ts = ? WHERE id = ?", [reply_ts, request_id])

    def get_request(self, request_id: str) -> dict | None:
        return first(self.db, "SELECT * FROM requests WHERE id = ?", [request_id])

    def request_by_reply(self, reply_ts: str) -> dict | None:
        return first(self.db, "SELECT * FROM requests WHERE reply_ts = ? LIMIT 1", [reply_ts])

    def set_feedback(self, request_id: str, feedback: str) -> None:
        """👍/👎 on a reply; 👎 marks the request's decisions as a possible misclassification."""
        with self.transaction() as db:
            db.execute("UPDATE requests SET feedback = ? WHERE id = ?", [feedback, request_id])
            db.execute("UPDATE decisions SET misclassified = ? WHERE request_id = ?",
                       [1 if feedback == "down" else 0, request_id])

    # -- decisions, calls, runs --------------------------------------------------------------

    def record_decision(self, request_id: str, *, tier: str, decided_by: str, reason: str,
                        score: float | None = None, candidates: list | None = None,
                        script: str | None = None, skill: str | None = None) -> int:
        return insert(self.db, "decisions", {
            "request_id": request_id, "tier": tier, "decided_by": decided_by, "script": script,
            "skill": skill, "reason": reason, "score": score,
            "candidates": json.dumps(candidates or []), "created_at": now_iso(), "misclassified": 0,
        }, returning="id")

    def decisions_for(self, request_id: str) -> list[dict]:
        return rows(self.db, "SELECT * FROM decisions WHERE request_id = ? ORDER BY id", [request_id])

    def record_llm_call(self, *, request_id: str | None, model: str, purpose: str, input_tokens: int = 0,
                        output_tokens: int = 0, cache_read_tokens: int = 0, cache_write_tokens: int = 0,
                        cost_usd: float = 0.0, latency_ms: float = 0.0, stop_reason: str | None = None,
                        error: str | None = None, job_run_id: int | None = None) -> int:
        row_id = insert(self.db, "llm_calls", {
            "request_id": request_id, "job_run_id": job_run_id, "purpose": purpose, "model": model,
            "input_tokens": input_tokens, "output_tokens": output_tokens,
            "cache_read_tokens": cache_read_tokens, "cache_write_tokens": cache_write_tokens,
            "cost_usd": cost_usd, "latency_ms": latency_ms, "stop_reason": stop_reason, "error": error,
            "created_at": now_iso(),
        }, returning="id")
        metrics.llm_call(model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd,
                         latency_ms, error)
        return row_id

    def set_llm_call_detail(self, call_id: int, *, effort: str | None, streamed: int, continuation: int) -> None:
        self.db.execute("UPDATE llm_calls SET effort = ?, streamed = ?, continuation = ? WHERE id = ?",
                        [effort, streamed, continuation, call_id])

    def llm_calls_for(self, request_id: str) -> list[dict]:
        return rows(self.db, "SELECT * FROM llm_calls WHERE request_id = ? ORDER BY id", [request_id])

    def record_script_run(self, *, script: str, args: dict, exit_code: int | None, status: str,
                          duration_ms: float, output_bytes: int, truncated: bool, error: str | None = None,
                          request_id: str | None = None, job_run_id: int | None = None) -> int:
        row_id = insert(self.db, "script_runs", {
            "request_id": request_id, "job_run_id": job_run_id, "script": script,
            "args": json.dumps(args, default=str), "exit_code": exit_code, "status": status,
            "duration_ms": duration_ms, "output_bytes": output_bytes, "truncated": int(truncated),
            "error": error, "created_at": now_iso(),
        }, returning="id")
        metrics.script_run(script, exit_code, status)
        return row_id

    def spend_since(self, since: dt.datetime) -> float:
        row = self.db.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE created_at >= ?",
                              [iso(since)]).fetchone()
        return float(row[0])

    def spend_today(self, now: dt.datetime | None = None) -> float:
        """LLM spend since the last UTC midnight before `now` (default: the current time)."""
        now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        return self.spend_since(now.replace(hour=0, minute=0, second=0, microsecond=0))

    def script_runs_for(self, request_id: str) -> list[dict]:
        return rows(self.db, "SELECT * FROM script_runs WHERE request_id = ? ORDER BY id", [request_id])

    # -- confirmations of write scripts ------------------------------------------------------

    def add_confirmation(self, *, confirmation_id: str, request_id: str, user: str | None, channel: str | None,
                         script: str, args: dict, expires_at: str) -> None:
        insert(self.db, "confirmations", {
            "id": confirmation_id, "request_id": request_id, "user": user, "channel": channel, "script": script,
            "args": json.dumps(args, default=str), "status": "pending", "created_at": now_iso(),
            "expires_at": expires_at,
        })

    def get_confirmation(self, confirmation_id: str) -> dict | None:
        return first(self.db, "SELECT * FROM confirmations WHERE id = ?", [confirmation_id])

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
        metrics.requests_closed(self, ids, "cancelled")
        return len(ids)

    # -- exactly once ------------------------------------------------------------------------

    def claim_event(self, key: str, request_id: str | None = None) -> bool:
        """True for the first caller with this key (event id, trigger id), in any process on any machine
        sharing the database (a unique key); else False."""
        cursor = self.db.execute(
            "INSERT INTO processed_events (key, request_id, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO NOTHING", [key, request_id, now_iso()])
        return cursor.rowcount == 1

    def prune_claims(self, before: str, prefix: str) -> int:
        """Forget claimed keys with `prefix` older than `before` (ISO): redeliveries stop long before."""
        return self.db.execute("DELETE FROM processed_events WHERE created_at < ? AND key LIKE ?",
                               [before, prefix + "%"]).rowcount
